//! The event bus end to end, against the real RabbitMQ and Postgres: nothing committed is lost,
//! nothing rolled back appears, nothing is applied twice — through concurrency, cut connections,
//! failing handlers, duplicates and competing relays.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failure should stop the test loudly

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lapin::BasicProperties;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use platform_tests::bus_harness::{Harness, Options, call_ended, eventually, message_count};
use tenancy::OrgId;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(120);

/// A bus test: multi-threaded runtime, and an outer limit so that a hang anywhere becomes a
/// failure, never a stuck CI.
macro_rules! bus_test {
    ($(#[$m:meta])* async fn $name:ident() $body:block) => {
        $(#[$m])*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            tokio::time::timeout(Duration::from_secs(180), async move $body)
                .await
                .expect("the test did not finish within 180 s");
        }
    };
}

bus_test! {
    async fn ten_thousand_events_from_concurrent_transactions_are_each_applied_once() {
        let h = Arc::new(Harness::start(Options::default()).await);
        let orgs: Vec<OrgId> = (0..8).map(|_| OrgId::new_random()).collect();
        // 16 writers × 125 transactions × 5 events = 10,000 enqueued; every 4th transaction rolls back.
        let writers = (0..16).map(|w| {
            let h = h.clone();
            let orgs = orgs.clone();
            tokio::spawn(async move {
                let (mut committed, mut rolled_back) = (Vec::new(), Vec::new());
                for i in 0..125 {
                    let commit = (w + i) % 4 != 0;
                    let ids = h.enqueue(orgs[(w + i) % orgs.len()], 5, commit).await;
                    if commit {
                        committed.extend(ids)
                    } else {
                        rolled_back.extend(ids)
                    }
                }
                (committed, rolled_back)
            })
        });
        let mut committed = HashSet::new();
        let mut rolled_back = HashSet::new();
        for w in writers {
            let (c, r) = w.await.unwrap();
            committed.extend(c);
            rolled_back.extend(r);
        }
        assert_eq!(committed.len() + rolled_back.len(), 10_000);
        assert!(!rolled_back.is_empty());

        h.wait_for_effects(WAIT, |e| e.len() >= committed.len())
            .await;
        // Let any straggling duplicate arrive before judging.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let effects = h.effects().await;
        let applied: HashSet<Uuid> = effects.keys().copied().collect();
        assert_eq!(
            applied.len(),
            committed.len(),
            "every committed event was applied"
        );
        assert_eq!(
            applied, committed,
            "exactly the committed events were applied"
        );
        assert!(
            applied.is_disjoint(&rolled_back),
            "no rolled-back event appeared"
        );
        assert!(
            effects.values().all(|n| *n == 1),
            "each effect happened once"
        );
        assert_eq!(h.unsent().await, 0);
        h.cleanup().await;
    }
}

bus_test! {
    async fn a_cut_broker_connection_loses_nothing_and_applies_nothing_twice() {
        let proxy = testkit::TcpProxy::start("127.0.0.1:5672".parse().unwrap()).await;
        let h = Arc::new(
            Harness::start(Options {
                amqp_url: proxy.amqp_url(),
                ..Options::default()
            })
            .await,
        );
        let org = OrgId::new_random();
        let producer = {
            let h = h.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for _ in 0..60 {
                    ids.extend(h.enqueue(org, 25, true).await);
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                ids
            })
        };
        // Cut every connection (relay and consumer) twice while events are flowing.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cut_first = proxy.sever();
        tokio::time::sleep(Duration::from_millis(700)).await;
        let cut_second = proxy.sever();
        assert!(
            cut_first > 0 && cut_second > 0,
            "connections were actually cut ({cut_first}, {cut_second})"
        );

        let ids: HashSet<Uuid> = producer.await.unwrap().into_iter().collect();
        assert_eq!(ids.len(), 1500);
        h.wait_for_effects(WAIT, |e| e.len() >= ids.len()).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let effects = h.effects().await;
        let applied: HashSet<Uuid> = effects.keys().copied().collect();
        assert_eq!(applied, ids, "every event arrived after the cuts");
        assert!(effects.values().all(|n| *n == 1), "none applied twice");
        h.cleanup().await;
    }
}

bus_test! {
    async fn a_handler_failing_twice_then_succeeding_is_applied_once_after_the_delays() {
        let h = Harness::start(Options {
            retry_delays_ms: "300,600,900",
            ..Options::default()
        })
        .await;
        h.behaviour.fail_first.store(2, Ordering::SeqCst);
        let id = h.enqueue(OrgId::new_random(), 1, true).await[0];
        let effects = h.wait_for_effects(WAIT, |e| e.contains_key(&id)).await;
        assert_eq!(effects.get(&id), Some(&1));
        let attempts = h
            .behaviour
            .attempts
            .lock()
            .unwrap()
            .get(&id)
            .cloned()
            .unwrap();
        assert_eq!(attempts.len(), 3, "two failures, one success");
        assert!(
            attempts[1] - attempts[0] >= Duration::from_millis(300),
            "first retry waited its delay"
        );
        assert!(
            attempts[2] - attempts[1] >= Duration::from_millis(600),
            "second retry waited the longer delay"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(h.effects().await.get(&id), Some(&1));
        assert!(bus::dlq::list(&h.bus, 10).await.unwrap().is_empty());
        h.cleanup().await;
    }
}

bus_test! {
    async fn an_always_failing_handler_ends_in_the_dlq_and_replay_applies_it_once() {
        let h = Harness::start(Options {
            retry_delays_ms: "100,200",
            ..Options::default()
        })
        .await;
        h.behaviour.always_fail.store(true, Ordering::SeqCst);
        let org = OrgId::new_random();
        let id = h.enqueue(org, 1, true).await[0];
        let other = h.enqueue(org, 1, true).await[0];

        let letters = h.dead_letters_eventually(2).await;
        assert_eq!(letters.len(), 2, "{letters:?}");
        let letter = letters
            .iter()
            .find(|l| l.event_id.as_deref() == Some(&id.to_string()))
            .unwrap();
        assert_eq!(letter.reason, "failed");
        assert_eq!(letter.attempts, 2, "both retries were used first");
        assert_eq!(letter.event_type.as_deref(), Some("call.ended.v1"));
        assert_eq!(letter.org_id.as_deref(), Some(org.to_string().as_str()));
        assert!(
            letter
                .last_error
                .as_deref()
                .unwrap()
                .contains("scoring backend unavailable"),
            "{letter:?}"
        );
        assert_eq!(h.behaviour.attempts.lock().unwrap()[&id].len(), 3);
        assert!(h.effects().await.is_empty());
        // Listing left both in place.
        assert_eq!(bus::dlq::list(&h.bus, 10).await.unwrap().len(), 2);

        // The cause is fixed; replay just one of them.
        h.behaviour.always_fail.store(false, Ordering::SeqCst);
        assert_eq!(bus::dlq::replay(&h.bus, Some(&[id])).await.unwrap(), 1);
        let effects = h.wait_for_effects(WAIT, |e| e.contains_key(&id)).await;
        assert_eq!(effects.get(&id), Some(&1));
        assert!(
            !effects.contains_key(&other),
            "only the named dead letter was replayed"
        );
        let rest = bus::dlq::list(&h.bus, 10).await.unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(
            rest[0].event_id.as_deref(),
            Some(other.to_string().as_str())
        );
        // Replaying everything brings the other one back, and the first is not applied again.
        assert_eq!(bus::dlq::replay(&h.bus, None).await.unwrap(), 1);
        let effects = h.wait_for_effects(WAIT, |e| e.contains_key(&other)).await;
        assert_eq!(
            (effects.get(&id), effects.get(&other)),
            (Some(&1), Some(&1))
        );
        h.cleanup().await;
    }
}

async fn publish_raw(h: &Harness, body: &[u8], message_id: &str) {
    let chan = h.bus.connector.channel().await.unwrap();
    chan.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirm = chan
        .basic_publish(
            h.bus.names().exchange.as_str().into(),
            "call.ended.v1".into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(message_id.into()),
        )
        .await
        .unwrap();
    confirm.await.unwrap();
}

mod resilience;

bus_test! {
    async fn an_undecodable_message_goes_straight_to_the_dlq() {
        let h = Harness::start(Options::default()).await;
        publish_raw(&h, b"{not json", "garbage-1").await;
        let letters = h.dead_letters_eventually(1).await;
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].reason, "undecodable");
        assert_eq!(letters[0].attempts, 0, "not retried");
        assert!(
            h.behaviour.attempts.lock().unwrap().is_empty(),
            "the handler never ran"
        );
        h.cleanup().await;
    }
}

bus_test! {
    async fn the_same_event_delivered_twice_is_applied_once() {
        let h = Harness::start(Options::default()).await;
        let env = events::Envelope::new(OrgId::new_random().as_uuid(), &call_ended(), None).unwrap();
        let body = serde_json::to_vec(&env).unwrap();
        publish_raw(&h, &body, &env.id.to_string()).await;
        publish_raw(&h, &body, &env.id.to_string()).await;
        let effects = h.wait_for_effects(WAIT, |e| e.contains_key(&env.id)).await;
        // Both deliveries have been handled once the handler ran and the second had time to arrive.
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(effects.get(&env.id), Some(&1));
        assert_eq!(h.effects().await.get(&env.id), Some(&1));
        h.cleanup().await;
    }
}

bus_test! {
    async fn two_relays_running_at_once_publish_each_event_once() {
        let mut h = Harness::start(Options {
            start_consumer: false,
            start_relay: false,
            ..Options::default()
        })
        .await;
        // A plain queue bound to the event type counts what reaches the broker.
        let chan = h.bus.connector.channel().await.unwrap();
        bus::topology::declare_exchange(&chan, &h.bus.names())
            .await
            .unwrap();
        let probe = format!("{}probe", h.bus.settings.prefix);
        chan.queue_declare(
            probe.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
        chan.queue_bind(
            probe.as_str().into(),
            h.bus.names().exchange.as_str().into(),
            "call.ended.v1".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
        let org = OrgId::new_random();
        for _ in 0..40 {
            h.enqueue(org, 50, true).await;
        }
        h.start_relay();
        h.start_relay();
        let unsent = eventually(Duration::from_secs(30), || h.unsent(), |n| *n == 0).await;
        assert_eq!(unsent, 0);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            message_count(&chan, &probe).await.unwrap(),
            2000,
            "each of the 2000 events reached the broker exactly once"
        );
        let _ = chan
            .queue_delete(probe.as_str().into(), Default::default())
            .await;
        h.cleanup().await;
    }
}

bus_test! {
    async fn an_unroutable_event_stays_unsent_with_the_reason() {
        // No consumer: nothing is bound to the type, so `mandatory` makes the broker return it.
        let h = Harness::start(Options {
            start_consumer: false,
            ..Options::default()
        })
        .await;
        let chan = h.bus.connector.channel().await.unwrap();
        bus::topology::declare_exchange(&chan, &h.bus.names())
            .await
            .unwrap();
        h.enqueue(OrgId::new_random(), 1, true).await;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            attempts: i32,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            last_error: Option<String>,
        }
        let mut row = Row {
            attempts: 0,
            last_error: None,
        };
        for _ in 0..50 {
            let mut c = h.db.admin_conn().await.unwrap();
            row = diesel_async::RunQueryDsl::get_result(
                diesel::sql_query("SELECT attempts, last_error FROM leads.outbox"),
                &mut c,
            )
            .await
            .unwrap();
            if row.attempts > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(row.attempts > 0);
        assert!(row.last_error.unwrap().contains("unroutable"));
        assert_eq!(
            h.unsent().await,
            1,
            "an unroutable event is not marked sent"
        );
        h.cleanup().await;
    }
}

bus_test! {
    async fn the_consumer_span_carries_the_producers_trace_id() {
        use tracing::Instrument as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let _ = servicekit::telemetry::init_with_writer("bus-test", "info", None, std::io::sink);
        let h = Harness::start(Options::default()).await;
        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&std::collections::HashMap::from([(
                "traceparent".to_string(),
                format!("00-{trace_id}-00f067aa0ba902b7-01"),
            )]))
        });
        let span = tracing::info_span!("http request that books");
        let _ = span.set_parent(parent);
        let id = async { h.enqueue(OrgId::new_random(), 1, true).await[0] }
            .instrument(span)
            .await;
        h.wait_for_effects(WAIT, |e| e.contains_key(&id)).await;

        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            trace_id: Option<String>,
        }
        let mut c = h.db.admin_conn().await.unwrap();
        let row: Row = diesel_async::RunQueryDsl::get_result(
            diesel::sql_query("SELECT trace_id FROM leads.effects WHERE event_id = $1")
                .bind::<diesel::sql_types::Uuid, _>(id),
            &mut c,
        )
        .await
        .unwrap();
        assert_eq!(row.trace_id.as_deref(), Some(trace_id));
        h.cleanup().await;
    }
}

bus_test! {
    async fn a_failing_event_undoes_only_its_own_work_in_a_batch() {
        let mut h = Harness::start(Options {
            retry_delays_ms: "100",
            start_relay: false,
            ..Options::default()
        })
        .await;
        let org = OrgId::new_random();
        // 50 events of one org, published together so the consumer applies them in one transaction.
        let ids = h.enqueue(org, 50, true).await;
        let poisoned: HashSet<Uuid> = ids.iter().step_by(10).copied().collect();
        h.behaviour
            .poisoned
            .lock()
            .unwrap()
            .extend(poisoned.iter().copied());
        h.start_relay();

        let healthy: HashSet<Uuid> = ids
            .iter()
            .copied()
            .filter(|id| !poisoned.contains(id))
            .collect();
        h.wait_for_effects(WAIT, |e| healthy.iter().all(|id| e.contains_key(id)))
            .await;
        let letters = h.dead_letters_eventually(poisoned.len()).await;
        let effects = h.effects().await;
        let applied: HashSet<Uuid> = effects.keys().copied().collect();
        assert_eq!(
            applied, healthy,
            "the 45 healthy events were applied, the poisoned ones' writes undone"
        );
        assert!(effects.values().all(|n| *n == 1));
        let parked: HashSet<Uuid> = letters
            .iter()
            .map(|l| l.event_id.as_deref().unwrap().parse().unwrap())
            .collect();
        assert_eq!(
            parked, poisoned,
            "exactly the poisoned events were dead-lettered"
        );
        h.cleanup().await;
    }
}

bus_test! {
    async fn sent_outbox_rows_and_old_inbox_rows_are_pruned_after_the_retention() {
        use diesel_async::SimpleAsyncConnection as _;
        let mut h = Harness::start(Options {
            start_relay: false,
            ..Options::default()
        })
        .await;
        let org = OrgId::new_random();
        let mut admin = h.db.admin_conn().await.unwrap();
        admin
            .batch_execute(&format!(
                "INSERT INTO leads.outbox (event_id, org_id, event_type, payload, published_at)
                      VALUES (gen_random_uuid(), '{org}', 'call.ended.v1', '{{}}', now() - interval '8 days'),
                             (gen_random_uuid(), '{org}', 'call.ended.v1', '{{}}', now() - interval '1 hour');
                 INSERT INTO leads.inbox (consumer, event_id, org_id, event_type, processed_at)
                      VALUES ('lead-scoring', gen_random_uuid(), '{org}', 'call.ended.v1', now() - interval '8 days'),
                             ('lead-scoring', gen_random_uuid(), '{org}', 'call.ended.v1', now());"
            ))
            .await
            .unwrap();
        h.start_relay(); // prunes on its first idle turn, then every ten minutes
        #[derive(diesel::QueryableByName)]
        struct Counts {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            outbox: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            inbox: i64,
        }
        let mut counts = Counts {
            outbox: -1,
            inbox: -1,
        };
        for _ in 0..50 {
            counts = diesel_async::RunQueryDsl::get_result(
                diesel::sql_query("SELECT (SELECT count(*) FROM leads.outbox) AS outbox, (SELECT count(*) FROM leads.inbox) AS inbox"),
                &mut admin,
            )
            .await
            .unwrap();
            if counts.outbox == 1 && counts.inbox == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            (counts.outbox, counts.inbox),
            (1, 1),
            "only rows older than the 7-day retention were pruned"
        );
        h.cleanup().await;
    }
}

bus_test! {
    async fn the_bus_reports_its_metrics() {
        let metrics = servicekit::telemetry::metrics_handle();
        let h = Harness::start(Options::default()).await;
        let id = h.enqueue(OrgId::new_random(), 1, true).await[0];
        h.wait_for_effects(WAIT, |e| e.contains_key(&id)).await;
        // A duplicate delivery is counted as such.
        let env = events::Envelope::new(OrgId::new_random().as_uuid(), &call_ended(), None).unwrap();
        let body = serde_json::to_vec(&env).unwrap();
        publish_raw(&h, &body, &env.id.to_string()).await;
        publish_raw(&h, &body, &env.id.to_string()).await;
        h.wait_for_effects(WAIT, |e| e.contains_key(&env.id)).await;
        tokio::time::sleep(Duration::from_millis(1200)).await; // one more relay turn records the lag
        let text = metrics.render();
        for name in [
            "bus_events_enqueued_total{type=\"call.ended.v1\"}",
            "bus_events_published_total{type=\"call.ended.v1\"}",
            "bus_outbox_lag_seconds",
            "outcome=\"applied\"",
            "outcome=\"duplicate\"",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
        h.cleanup().await;
    }
}

//! Issue 11, bus items 15–18: a panicking handler, the broker's own dead-lettering, changed
//! queue settings, graceful shutdown, readiness while the broker is away, and redacted DLQ
//! listings.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lapin::options::{BasicGetOptions, BasicNackOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use platform_tests::bus_harness::{Harness, Options, eventually, message_count};
use serde_json::Value;
use tenancy::OrgId;
use uuid::Uuid;

use super::{WAIT, publish_raw};

bus_test! {
    async fn a_panicking_handler_is_retried_then_dead_lettered_and_its_batch_mates_are_applied() {
        let mut h = Harness::start(Options {
            retry_delays_ms: "200,400",
            start_relay: false,
            ..Options::default()
        })
        .await;
        let org = OrgId::new_random();
        // Twelve events of one org, relayed together: they arrive as one batch, applied in one
        // transaction — the panicking one must not take the others with it.
        let ids = h.enqueue(org, 12, true).await;
        let bad = ids[4];
        h.behaviour.panicking.lock().unwrap().insert(bad);
        let started = Instant::now();
        h.start_relay();

        // The retry schedule (0.2 s + 0.4 s) plus 10 s.
        let budget = Duration::from_millis(600) + Duration::from_secs(10);
        let letters = eventually(
            budget,
            || async { bus::dlq::list(&h.bus, 10).await.unwrap() },
            |l| !l.is_empty(),
        )
        .await;
        let took = started.elapsed();
        assert_eq!(letters.len(), 1, "{letters:?}");
        assert!(took <= budget, "dead-lettered after {took:?}");
        let letter = &letters[0];
        assert_eq!(letter.event_id.as_deref(), Some(bad.to_string().as_str()));
        assert_eq!(letter.reason, "failed");
        assert_eq!(letter.attempts, 2, "both retries were used: {letter:?}");
        assert!(
            letter.last_error.as_deref().unwrap_or("").contains("panicked"),
            "{letter:?}"
        );
        assert_eq!(
            h.behaviour.attempts.lock().unwrap()[&bad].len(),
            3,
            "first delivery and two retries"
        );

        let healthy: HashSet<Uuid> = ids.iter().copied().filter(|id| *id != bad).collect();
        let effects = h
            .wait_for_effects(WAIT, |e| healthy.iter().all(|id| e.contains_key(id)))
            .await;
        let applied: HashSet<Uuid> = effects.keys().copied().collect();
        assert_eq!(applied, healthy, "every batch-mate was applied, the panicking one not");
        assert!(effects.values().all(|n| *n == 1));
        // Nothing is left unacked in the work queue.
        let chan = h.bus.connector.channel().await.unwrap();
        assert_eq!(message_count(&chan, &h.bus.names().queue).await.unwrap(), 0);
        h.cleanup().await;
    }
}

/// The work queue's arguments as issue 11 wants them, spelled out here rather than taken from
/// the crate: re-declaring with them succeeds only if the queue really has them (RabbitMQ
/// refuses an inequivalent re-declaration with PRECONDITION_FAILED).
fn expected_work_queue_args(dlx: &str, delivery_limit: i32) -> FieldTable {
    let mut args = FieldTable::default();
    for (k, v) in [
        ("x-queue-type", AMQPValue::LongString("quorum".into())),
        ("x-delivery-limit", AMQPValue::LongInt(delivery_limit)),
        ("x-dead-letter-exchange", AMQPValue::LongString(dlx.into())),
        (
            "x-dead-letter-strategy",
            AMQPValue::LongString("at-least-once".into()),
        ),
        ("x-overflow", AMQPValue::LongString("reject-publish".into())),
    ] {
        args.insert(k.into(), v);
    }
    args
}

bus_test! {
    async fn the_work_queue_dead_letters_at_least_once_and_redeliveries_past_the_limit_land_in_the_dlq() {
        let h = Harness::start(Options {
            start_consumer: false,
            ..Options::default()
        })
        .await;
        let names = h.bus.names();
        h.consumer().declare().await.unwrap();

        // The broker agrees that the queue dead-letters at least once.
        let chan = h.bus.connector.channel().await.unwrap();
        chan.queue_declare(
            names.queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            expected_work_queue_args(&names.dlx, h.bus.settings.delivery_limit),
        )
        .await
        .expect("the work queue has x-dead-letter-strategy=at-least-once and x-overflow=reject-publish");

        // A consumer that keeps crashing on one message: every delivery goes back unacked.
        let id = h.enqueue(OrgId::new_random(), 1, true).await[0];
        let limit = u32::try_from(h.bus.settings.delivery_limit).unwrap();
        let mut deliveries = 0;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            match chan
                .basic_get(names.queue.as_str().into(), BasicGetOptions { no_ack: false })
                .await
                .unwrap()
            {
                Some(msg) => {
                    deliveries += 1;
                    msg.delivery
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..BasicNackOptions::default()
                        })
                        .await
                        .unwrap();
                }
                None if deliveries > limit => break,
                None => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        assert_eq!(
            deliveries,
            limit + 1,
            "the first delivery and {limit} redeliveries, then the broker gave up"
        );
        let letters = h.dead_letters_eventually(1).await;
        assert_eq!(letters.len(), 1, "{letters:?}");
        assert_eq!(letters[0].event_id.as_deref(), Some(id.to_string().as_str()));
        assert_eq!(letters[0].reason, "delivery_limit");
        h.cleanup().await;
    }
}

bus_test! {
    async fn a_changed_delivery_limit_or_retry_delays_do_not_wedge_the_consumer() {
        let metrics = servicekit::telemetry::metrics_handle();
        let h = Harness::start(Options {
            retry_delays_ms: "200,400",
            start_consumer: false,
            ..Options::default()
        })
        .await;
        // Yesterday's deployment declared the queues with limit 5 and delays 200 ms, 400 ms ...
        h.consumer().declare().await.unwrap();
        // ... today's has BUS_DELIVERY_LIMIT=3 and BUS_RETRY_DELAYS_MS=300,400.
        let changed = bus::Bus::new(bus::BusSettings {
            delivery_limit: 3,
            retry_delays: vec![Duration::from_millis(300), Duration::from_millis(400)],
            ..h.bus.settings.clone()
        });
        let task = h.consumer_on(&changed).spawn();
        h.behaviour.fail_first.store(1, Ordering::SeqCst);
        let id = h.enqueue(OrgId::new_random(), 1, true).await[0];

        // Consumed, failed once, retried through the new 300 ms retry queue, applied.
        let effects = h.wait_for_effects(Duration::from_secs(20), |e| e.contains_key(&id)).await;
        assert_eq!(effects.get(&id), Some(&1), "the consumer is not wedged");
        let attempts = h.behaviour.attempts.lock().unwrap()[&id].clone();
        assert_eq!(attempts.len(), 2);
        assert!(attempts[1] - attempts[0] >= Duration::from_millis(300));

        // The queue kept its old limit (arguments are immutable), and the process says so.
        let mismatch = changed.connector.health().topology_mismatch();
        let detail = mismatch.expect("the mismatch is reported");
        assert!(detail.contains("x-delivery-limit"), "{detail}");
        assert!(detail.contains(&changed.names().queue), "{detail}");
        let metrics = metrics.render();
        let gauge = format!("bus_topology_mismatch{{queue=\"{}\"}} 1", changed.names().queue);
        assert!(metrics.contains(&gauge), "{gauge} missing from:\n{metrics}");
        // The settings that did apply: the new retry queue exists.
        let chan = h.bus.connector.channel().await.unwrap();
        let new_retry = format!("{}.retry.300ms", h.bus.names().queue);
        message_count(&chan, &new_retry).await.expect("the 300 ms retry queue was declared");

        // The runbook's way to bring the new limit into force: delete the drained work queue
        // (quorum queues refuse `if-empty`); the running consumer re-declares it with its
        // arguments and re-binds it, and the mismatch clears.
        assert_eq!(message_count(&chan, &h.bus.names().queue).await.unwrap(), 0);
        chan.queue_delete(
            h.bus.names().queue.as_str().into(),
            lapin::options::QueueDeleteOptions::default(),
        )
        .await
        .expect("the drained work queue is deleted");
        let cleared = eventually(
            Duration::from_secs(15),
            || async { changed.connector.health().topology_mismatch() },
            Option::is_none,
        )
        .await;
        assert_eq!(cleared, None, "re-declared with the configured arguments");
        let probe = h.bus.connector.channel().await.unwrap();
        probe
            .queue_declare(
                h.bus.names().queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                expected_work_queue_args(&h.bus.names().dlx, 3),
            )
            .await
            .expect("the work queue now has x-delivery-limit = 3");
        let later = h.enqueue(OrgId::new_random(), 1, true).await[0];
        let effects = h.wait_for_effects(Duration::from_secs(20), |e| e.contains_key(&later)).await;
        assert_eq!(effects.get(&later), Some(&1), "bound again: new events arrive");

        task.abort();
        changed.delete_topology().await;
        h.cleanup().await;
    }
}

bus_test! {
    async fn on_shutdown_the_consumer_finishes_and_acks_what_it_holds_and_the_relay_flushes() {
        // The relay polls once a minute here: only the shutdown flush can publish in time.
        let h = Harness::start(Options {
            relay_poll_ms: "60000",
            ..Options::default()
        })
        .await;
        *h.behaviour.slow.lock().unwrap() = Some(Duration::from_millis(1500));
        // Published directly: the handler starts and is still running when shutdown comes.
        let org = OrgId::new_random();
        let env = events::Envelope::new(org.as_uuid(), &platform_tests::bus_harness::call_ended(), None).unwrap();
        publish_raw(&h, &serde_json::to_vec(&env).unwrap(), &env.id.to_string()).await;
        let started = eventually(
            Duration::from_secs(10),
            || async { h.behaviour.attempts.lock().unwrap().contains_key(&env.id) },
            |s| *s,
        )
        .await;
        assert!(started, "the handler is running");
        // An event committed while the relay sleeps.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let queued = h.enqueue(org, 1, true).await[0];
        assert_eq!(h.unsent().await, 1);

        assert!(h.bus.shutdown(Duration::from_secs(10)).await, "stopped within the grace");
        assert_eq!(
            h.effects().await.get(&env.id),
            Some(&1),
            "the in-flight handler completed and committed"
        );
        assert_eq!(h.unsent().await, 0, "the relay flushed the outbox");

        // A new consumer (the next pod) sees the flushed event, and nothing held by the old one.
        *h.behaviour.slow.lock().unwrap() = None;
        let next = bus::Bus::new(h.bus.settings.clone());
        let task = h.consumer_on(&next).spawn();
        let effects = h.wait_for_effects(WAIT, |e| e.contains_key(&queued)).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(effects.get(&queued), Some(&1));
        assert_eq!(
            h.behaviour.attempts.lock().unwrap()[&env.id].len(),
            1,
            "the event held at shutdown was acked, not redelivered"
        );
        assert_eq!(h.effects().await.get(&env.id), Some(&1));
        task.abort();
        next.connector.close().await;
        h.cleanup().await;
    }
}

bus_test! {
    async fn dlq_list_shows_payloads_and_errors_redacted() {
        let h = Harness::start(Options {
            retry_delays_ms: "100",
            ..Options::default()
        })
        .await;
        h.behaviour.always_fail.store(true, Ordering::SeqCst);
        *h.behaviour.error_text.lock().unwrap() =
            Some("no lead for caller +15550100123 (jordan.lee@example.com)".into());
        let id = h.enqueue(OrgId::new_random(), 1, true).await[0];
        let letters = h.dead_letters_eventually(1).await;
        assert_eq!(letters.len(), 1);
        // What `<svc> dlq list` prints: one JSON line per letter.
        let line = serde_json::to_string(&letters[0]).unwrap();
        for secret in ["Jordan Lee", "15550100123", "jordan.lee@example.com"] {
            assert!(!line.contains(secret), "{secret} in `dlq list` output: {line}");
        }
        let shown: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(shown["event_id"], id.to_string());
        assert_eq!(shown["payload"]["caller_name"], "[REDACTED:name]", "{line}");
        assert_eq!(shown["payload"]["caller_number"], "[REDACTED:phone]", "{line}");
        assert_eq!(shown["payload"]["ended_reason"], "customer-ended-call", "{line}");
        assert!(shown["last_error"].as_str().unwrap().contains("no lead for caller"), "{line}");
        h.cleanup().await;
    }
}

bus_test! {
    async fn with_the_broker_down_a_service_stays_ready_and_metrics_show_it() {
        use runtime::Service as _;
        let auth = Arc::new(testkit::TestAuth::start().await);
        // Port 1 on loopback: nothing listens there.
        let broker_down = [("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f")];
        let app = testkit::spawn_app_with::<voice_webhook::VoiceWebhook>(auth.clone(), &broker_down).await;
        let name = voice_webhook::VoiceWebhook::INFO.name;
        // Give the relay time to try (and fail) to connect.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let r = app.client.get(app.url("/ready")).send().await.unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "the broker being away keeps the pod in the load balancer: {body}");
        assert_eq!(body["bus"], false, "{body}");
        assert_eq!(body["database"], true, "{body}");
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let gauge = format!("bus_broker_connected{{service=\"{name}\"}} 0");
        assert!(metrics.contains(&gauge), "{gauge} missing from:\n{metrics}");
        assert!(metrics.contains("dependency_up{dependency=\"bus\"} 0"), "{metrics}");

        // The database is what the pod cannot serve without.
        let db_down = [
            ("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f"),
            ("DATABASE_URL", "postgres://svc_calendar@127.0.0.1:1/voxanne"),
        ];
        let app = testkit::spawn_app_with::<calendar::Calendar>(auth, &db_down).await;
        let r = app.client.get(app.url("/ready")).send().await.unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["database"], false, "{body}");
        // Liveness is unaffected either way.
        assert_eq!(app.client.get(app.url("/health")).send().await.unwrap().status(), 200);
    }
}

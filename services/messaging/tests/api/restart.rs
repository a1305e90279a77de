//! Durability: a send that Twilio accepted but that was never recorded (the process died between
//! the two) is adopted by lookup, not sent again; and 1,000 bookings give exactly 1,000
//! confirmations at Twilio while the broker connections are cut and a second replica is started
//! and stopped in the middle.

use std::collections::HashSet;

use chrono::{Duration, Utc};
use events::{AppointmentBookedV1, Envelope};
use messaging::Messaging;
use runtime::Service as _;
use tenancy::Role;
use uuid::Uuid;

use crate::consumer::details;
use crate::fake_twilio::FakeTwilio;
use crate::helpers::{caller, connect, count, eventually, send, spawn, spawn_with, wait_status};

#[tokio::test]
async fn a_send_accepted_by_twilio_but_never_recorded_is_adopted_not_resent() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    connect(&app, &admin).await;
    let m = send(&app, &admin.token, "+15550100123", "crash after accept").await;
    let id = m["id"].as_str().unwrap().to_string();
    wait_status(&app, &admin.token, &id, "queued").await;
    // Rewind the row to the state a crash right after Twilio's 201 leaves: `dispatching`, no SID,
    // its leased job due again.
    {
        use diesel_async::RunQueryDsl;
        let mut c = app.db.admin_conn().await.unwrap();
        diesel::sql_query(format!(
            "UPDATE messaging.messages SET status = 'dispatching', status_rank = -1, twilio_sid = NULL WHERE id = '{id}'"
        ))
        .execute(&mut c)
        .await
        .unwrap();
        diesel::sql_query(format!(
            "INSERT INTO messaging.send_jobs (message_id, org_id, due_at) VALUES ('{id}', '{}', now())",
            admin.org
        ))
        .execute(&mut c)
        .await
        .unwrap();
    }
    let done = wait_status(&app, &admin.token, &id, "queued").await;
    assert_eq!(fake.created().len(), 1, "not sent again");
    assert_eq!(fake.create_requests().await.len(), 1);
    assert_eq!(done["message"]["twilio_sid"], fake.created()[0]["sid"]);
    assert_eq!(
        done["history"].as_array().unwrap().last().unwrap()["source"],
        "lookup"
    );
}

#[tokio::test]
async fn a_thousand_bookings_through_a_broker_cut_and_a_replica_restart_give_exactly_a_thousand_confirmations()
 {
    const N: usize = 1000;
    let fake = FakeTwilio::start().await;
    let proxy = testkit::TcpProxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let amqp = proxy.amqp_url();
    let app = spawn_with(
        &fake,
        &[("AMQP_URL", amqp.as_str()), ("MESSAGING_LEASE_MS", "2000")],
    )
    .await;
    let admin = caller(&app, Role::Admin);
    connect(&app, &admin).await;
    let org = admin.org.as_uuid();
    let start = (Utc::now().date_naive() + Duration::days(3))
        .and_hms_opt(15, 0, 0)
        .unwrap()
        .and_utc();

    // A second replica on the same database and queue.
    let replica = Messaging::build(app.settings.clone()).await.unwrap();
    let replica_server = replica.server.handle();
    tokio::spawn(replica.server);
    let mut replica_after = replica.after_stop;

    // One publishing channel with confirms (a connection per event would take minutes).
    let bus = bus::Bus::new(app.settings.standard.bus.clone());
    bus.declare_until_done().await;
    let chan = bus.connector.channel().await.unwrap();
    chan.confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .unwrap();
    let exchange = bus.names().exchange;
    let publisher = async {
        let mut confirms = Vec::new();
        for i in 0..N {
            let mut d = details(
                Uuid::new_v4(),
                start + Duration::minutes(i64::try_from(i % 400).unwrap()),
                1,
            );
            d.contact_phone = Some(format!("+1555020{i:04}"));
            let env = Envelope::new(org, &AppointmentBookedV1 { appointment: d }, None).unwrap();
            let copies = if i % 97 == 0 { 2 } else { 1 }; // a redelivery must not text twice
            for _ in 0..copies {
                confirms.push(
                    chan.basic_publish(
                        exchange.as_str().into(),
                        env.event_type.as_str().into(),
                        lapin::options::BasicPublishOptions::default(),
                        &serde_json::to_vec(&env).unwrap(),
                        lapin::BasicProperties::default()
                            .with_content_type("application/json".into()),
                    )
                    .await
                    .unwrap(),
                );
            }
        }
        for c in confirms {
            c.await.unwrap();
        }
    };
    let t0 = std::time::Instant::now();
    publisher.await;
    eprintln!(
        "published in {:?}; {} at Twilio",
        t0.elapsed(),
        fake.created().len()
    );

    // Mid-stream: the broker goes away (every connection cut), and the replica is stopped.
    eventually(
        "a third are sent",
        || async { fake.created().len() },
        |n| *n >= N / 3,
    )
    .await;
    let cut = proxy.sever();
    assert!(cut > 0, "connections went through the proxy");
    replica_server.stop(false).await;
    for f in replica_after.drain(..) {
        f.await;
    }
    // And a fresh replica takes its place.
    let again = Messaging::build(app.settings.clone()).await.unwrap();
    let again_server = again.server.handle();
    tokio::spawn(again.server);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while fake.created().len() < N {
        if std::time::Instant::now() > deadline {
            let by_status = count(&app, "SELECT count(*) AS n FROM messaging.messages WHERE kind = 'appointment_confirmation'").await;
            let jobs_due = count(
                &app,
                "SELECT count(*) AS n FROM messaging.send_jobs WHERE due_at <= now()",
            )
            .await;
            let pending = count(&app, "SELECT count(*) AS n FROM messaging.messages WHERE kind = 'appointment_confirmation' AND status <> 'queued'").await;
            let inbox = count(&app, "SELECT count(*) AS n FROM messaging.inbox").await;
            panic!(
                "only {} at Twilio; confirmations stored {by_status}, not queued {pending}, jobs due {jobs_due}, inbox {inbox}",
                fake.created().len()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let created = fake.created();
    assert_eq!(created.len(), N, "exactly one confirmation per booking");
    let to: HashSet<String> = created
        .iter()
        .map(|m| m["to"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(to.len(), N, "no patient got two");
    let sql = "SELECT count(*) AS n FROM messaging.messages WHERE kind = 'appointment_confirmation' AND status = 'queued'";
    assert_eq!(count(&app, sql).await, i64::try_from(N).unwrap());
    again_server.stop(false).await;
    for f in again.after_stop {
        f.await;
    }
}

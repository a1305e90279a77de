//! Every service's operational surface: /health, /ready, /metrics, /openapi.json, `x-served-by`,
//! problem+json for unknown routes, an OpenAPI document without schema errors; and /ready
//! telling the truth when Postgres is away.

use std::sync::Arc;
use std::time::Duration;

use runtime::Service;
use serde_json::Value;
use testkit::{TestAuth, spawn_app, spawn_app_with};

async fn ready_eventually<S: Service>(app: &testkit::TestApp<S>) -> (u16, Value) {
    // The broker connection is made in the background; give it a moment on a cold start.
    let mut last = (0, Value::Null);
    for _ in 0..50 {
        let r = app.client.get(app.url("/ready")).send().await.unwrap();
        last = (r.status().as_u16(), r.json().await.unwrap());
        if last.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    last
}

async fn check_ops_surface<S: Service>() {
    let app = spawn_app::<S>().await;
    let name = S::INFO.name;

    let r = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-served-by"], name);

    let (status, body) = ready_eventually(&app).await;
    assert_eq!(status, 200, "{name} /ready: {body}");
    assert_eq!(
        body,
        serde_json::json!({"database": true, "redis": true, "bus": true})
    );

    let r = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    assert!(
        doc["paths"]["/ready"].is_object(),
        "generated document lists the ops paths"
    );
    assert!(doc["info"]["title"].as_str().unwrap().contains(name));
    assert!(doc["components"]["schemas"]["Problem"].is_object(), "{doc}");
    // The document has no schema errors (testkit::conformance::lint). Every response of this
    // test is checked against it on drop.
    let schema_errors = testkit::conformance::lint::lint(&doc);
    assert!(schema_errors.is_empty(), "{name}: {schema_errors:#?}");

    let r = app
        .client
        .get(app.url("/api/definitely/not/here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-served-by"], name);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "route_not_found");
    assert_eq!(p["status"], 404);

    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn auth_serves_its_ops_surface() {
    check_ops_surface::<auth::AuthService>().await;
}

#[tokio::test]
async fn voice_webhook_serves_its_ops_surface() {
    check_ops_surface::<voice_webhook::VoiceWebhook>().await;
}

#[tokio::test]
async fn calendar_serves_its_ops_surface() {
    check_ops_surface::<calendar::Calendar>().await;
}

#[tokio::test]
async fn messaging_serves_its_ops_surface() {
    check_ops_surface::<messaging::Messaging>().await;
}

#[tokio::test]
async fn lead_scoring_serves_its_ops_surface() {
    check_ops_surface::<lead_scoring::LeadScoring>().await;
}

#[tokio::test]
async fn ready_is_503_and_names_the_database_when_postgres_is_unreachable() {
    let auth = Arc::new(TestAuth::start().await);
    // Port 1 on loopback: nothing listens there.
    let app = spawn_app_with::<calendar::Calendar>(
        auth,
        &[(
            "DATABASE_URL",
            "postgres://svc_calendar@127.0.0.1:1/voxanne",
        )],
    )
    .await;
    let r = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["database"], false, "{body}");
    assert_eq!(body["redis"], true, "{body}");
    // Liveness is unaffected: the process is up.
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn a_service_declares_its_queue_bound_to_what_it_consumes_at_start() {
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
    // messaging binds its queue from the catalogue and consumes it at once. A body that is not an
    // envelope is parked by its consumer in `<queue>.dlq` as undecodable, so the dead-letter
    // queue shows what was routed to messaging's queue.
    let app = spawn_app::<messaging::Messaging>().await;
    let conn = lapin::Connection::connect(
        &testkit::config::amqp_url(),
        lapin::ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let queue = format!("{}messaging.events", app.bus_prefix);
    let dlq = format!("{queue}.dlq");
    let exchange = format!("{}voxanne.events", app.bus_prefix);
    // Declared and bound in the background at start (queue first, then one binding per event):
    // publish an event messaging consumes until one reaches the queue, so every binding of the
    // start-up topology is in place before the negative case is checked.
    let chan = conn.create_channel().await.unwrap();
    chan.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let publish = |key: &'static str| {
        let chan = chan.clone();
        let exchange = exchange.clone();
        async move {
            chan.basic_publish(
                exchange.as_str().into(),
                key.into(),
                BasicPublishOptions::default(),
                b"{}",
                lapin::BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        }
    };
    let mut routed = 0;
    for _ in 0..100 {
        // The exchange itself is declared at start too; publishing to a missing one closes the
        // channel, so only publish once the queue exists.
        let probe = conn.create_channel().await.unwrap();
        if platform_tests::bus_harness::message_count(&probe, &dlq)
            .await
            .is_ok()
        {
            publish("org.created.v1").await;
            // Parked by the consumer shortly after; give it a moment before the next try.
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                routed = platform_tests::bus_harness::message_count(&probe, &dlq)
                    .await
                    .unwrap();
                if routed > 0 {
                    break;
                }
            }
            if routed > 0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        routed > 0,
        "{queue} was declared and bound to org.created.v1 at start"
    );
    // An event messaging does not consume is not routed to it: had it been, the consumer would
    // have parked it as well (and a parked one is visible in well under 2 s, see above).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let probe = conn.create_channel().await.unwrap();
    let before = platform_tests::bus_harness::message_count(&probe, &dlq)
        .await
        .unwrap();
    publish("call.started.v1").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let probe = conn.create_channel().await.unwrap();
    assert_eq!(
        platform_tests::bus_harness::message_count(&probe, &dlq)
            .await
            .unwrap(),
        before,
        "org.created.v1 is bound for messaging, call.started.v1 is not"
    );
    assert_eq!(
        platform_tests::bus_harness::message_count(&probe, &queue)
            .await
            .unwrap(),
        0
    );
    let _ = conn.close(200, "done".into()).await;
}

//! What the cross-service flows need of voice-webhook's test helpers: spawning voice beside a
//! shared test auth, signed Vapi requests, payload builders, a clinic made through the real
//! `org.created.v1` path and the dashboard API, and a bus tap.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use reqwest::Response;
use serde_json::{Value, json};
use tenancy::{OrgId, Role};
pub use testkit::TestApp;
use voice_webhook::VoiceWebhook;

pub const SECRET: &str = "test-vapi-secret";
pub const OLD_SECRET: &str = "test-vapi-secret-previous";
pub const CALLER: &str = "+15550187722";

pub type App = TestApp<VoiceWebhook>;

pub async fn spawn_shared(auth: std::sync::Arc<testkit::TestAuth>, extra: &[(&str, &str)]) -> App {
    let mut env: Vec<(&str, &str)> = vec![
        ("VAPI_WEBHOOK_SECRET", SECRET),
        ("VAPI_WEBHOOK_SECRET_PREVIOUS", OLD_SECRET),
        ("BUS_RELAY_POLL_MS", "100"),
        ("BUS_RETRY_DELAYS_MS", "200"),
    ];
    env.extend_from_slice(extra);
    testkit::spawn_app_with::<VoiceWebhook>(auth, &env).await
}

/// `POST /api/webhooks/vapi` with the shared secret.
pub async fn vapi(app: &App, body: &Value) -> Response {
    app.client
        .post(app.url("/api/webhooks/vapi"))
        .header("x-vapi-secret", SECRET)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// `POST /api/webhooks/vapi`, expecting 200 and a JSON answer; status updates and end-of-call
/// reports are waited for until their background apply is done.
pub async fn vapi_ok(app: &App, body: &Value) -> Value {
    let r = vapi(app, body).await;
    assert_eq!(r.status(), 200, "vapi webhook refused");
    let answer = r.json().await.unwrap();
    if matches!(
        body["message"]["type"].as_str(),
        Some("status-update" | "end-of-call-report")
    ) {
        settled(app).await;
    }
    answer
}

/// Waits (at most 30 s) until no logged delivery is waiting to be applied.
pub async fn settled(app: &App) {
    let waiting = eventually(
        || {
            count(
                app,
                "SELECT count(*) AS n FROM voice.webhook_deliveries WHERE outcome = 'received'",
            )
        },
        |n| *n == 0,
    )
    .await;
    assert_eq!(waiting, 0, "logged deliveries were not applied");
}

pub async fn get(app: &App, path: &str, token: &str) -> Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

pub async fn post(app: &App, path: &str, token: &str, body: &Value) -> Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

pub async fn get_json(app: &App, path: &str, token: &str) -> Value {
    let r = get(app, path, token).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

/// Vapi's `call` object of an inbound call to the clinic's Vapi number.
pub fn call(call_id: &str, vapi_number_id: &str) -> Value {
    json!({"id": call_id, "orgId": "vapi-org-1", "type": "inboundPhoneCall", "phoneNumberId": vapi_number_id,
           "phoneCallProvider": "twilio", "phoneCallProviderId": "CA8d1f00", "status": "in-progress",
           "createdAt": "2026-11-22T14:20:00.000Z", "updatedAt": "2026-11-22T14:20:00.000Z"})
}

/// `{"message": {...}}` of `type` for `call`, with the clinic's and the caller's numbers.
pub fn message(kind: &str, call: &Value, clinic_number: &str, extra: Value) -> Value {
    let mut m = json!({"type": kind, "timestamp": 1_795_000_000_000_i64, "call": call,
        "phoneNumber": {"provider": "twilio", "number": clinic_number},
        "customer": {"number": CALLER, "name": "Jordan Reyes"},
        "someFieldVapiAddedLater": {"nested": true}});
    if let (Some(m), Value::Object(extra)) = (m.as_object_mut(), extra) {
        m.extend(extra);
    }
    json!({ "message": m })
}

/// An org as voice sees it: created through `org.created.v1` (profile + default agent), with a
/// phone number added through the dashboard API.
pub struct Clinic {
    pub org: OrgId,
    pub admin: String,
    pub number: String,
    pub vapi_number_id: String,
}

pub async fn clinic(app: &App, name: &str, timezone: &str, number: &str) -> Clinic {
    let org = OrgId::new_random();
    org_created(app, org, name, timezone).await;
    let admin = app.auth.token(org, Role::Admin);
    let agents = eventually(
        || async { get_json(app, "/api/voice/agents", &admin).await },
        |v| v["items"].as_array().is_some_and(|a| !a.is_empty()),
    )
    .await;
    let agent_id = agents["items"][0]["id"].as_str().unwrap().to_string();
    let vapi_number_id = format!("pn-{}", uuid::Uuid::new_v4());
    let r = post(
        app,
        "/api/voice/numbers",
        &admin,
        &json!({"number": number, "label": "Front desk",
        "vapi_phone_number_id": vapi_number_id, "agent_id": agent_id}),
    )
    .await;
    assert_eq!(r.status(), 201);
    Clinic {
        org,
        admin,
        number: number.into(),
        vapi_number_id,
    }
}

/// Publishes `org.created.v1` the way auth does: an outbox row in `app`'s database, relayed to
/// the broker by `app`'s relay (voice's, or calendar's when calendar must learn of the org).
pub async fn org_created<S: runtime::Service>(
    app: &TestApp<S>,
    org: OrgId,
    name: &str,
    timezone: &str,
) {
    let mut conn = app.db.service_conn().await.unwrap();
    let e = events::payloads::OrgCreatedV1 {
        name: name.into(),
        timezone: timezone.into(),
        owner_user_id: uuid::Uuid::new_v4(),
    };
    bus::enqueue(&mut conn, org, &e).await.unwrap();
}

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// `SELECT count(*) …` as a superuser (sees every org's rows).
pub async fn count(app: &App, sql: &str) -> i64 {
    use diesel_async::RunQueryDsl as _;
    let mut conn = app.db.admin_conn().await.unwrap();
    diesel::sql_query(sql)
        .get_result::<N>(&mut conn)
        .await
        .unwrap()
        .n
}

/// Probes until `done` or 30 s; returns the last answer (the caller asserts on it).
pub async fn eventually<T, F, Fut>(mut probe: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let started = Instant::now();
    loop {
        let v = probe().await;
        if done(&v) || started.elapsed() > Duration::from_secs(30) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A queue bound to the app's exchange for some event types: what reached the broker.
pub struct BusTap {
    chan: lapin::Channel,
    consumer: lapin::Consumer,
}

impl BusTap {
    pub async fn new(app: &App, types: &[&str]) -> Self {
        let settings = app.settings.standard.bus.clone();
        let names = settings.names();
        let conn = lapin::Connection::connect(
            &testkit::config::amqp_url(),
            lapin::ConnectionProperties::default(),
        )
        .await
        .unwrap();
        let chan = conn.create_channel().await.unwrap();
        bus::topology::declare_exchange(&chan, &names)
            .await
            .unwrap();
        let q = chan
            .queue_declare(
                "".into(),
                lapin::options::QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .unwrap();
        for t in types {
            chan.queue_bind(
                q.name().clone(),
                names.exchange.as_str().into(),
                (*t).into(),
                Default::default(),
                Default::default(),
            )
            .await
            .unwrap();
        }
        let consumer = chan
            .basic_consume(
                q.name().clone(),
                "tap".into(),
                lapin::options::BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .unwrap();
        BusTap { chan, consumer }
    }

    /// The next event envelope, or `None` after `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        let d = tokio::time::timeout(wait, self.consumer.next())
            .await
            .ok()??
            .ok()?;
        let _ = &self.chan;
        serde_json::from_slice(&d.data).ok()
    }
}

/// The service `name` of `org` in calendar, once calendar has seeded the org's default services
/// (from `org.created.v1`), read through calendar's internal API with a service token.
pub async fn seeded_service(
    cal: &testkit::TestApp<calendar::Calendar>,
    org: OrgId,
    token: &str,
    name: &str,
) -> Value {
    let url = format!("{}/internal/v1/orgs/{}/services", cal.address, org);
    let services: Value = eventually(
        || async {
            cal.client
                .get(&url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        },
        |v| v["items"].as_array().is_some_and(|a| !a.is_empty()),
    )
    .await;
    services["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no service {name:?} in {services}"))
        .clone()
}

//! spawn_app for lead-scoring, publishing events onto its bus, and polling helpers.

use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use events::{Envelope, Event};
use lapin::BasicProperties;
use lapin::options::BasicPublishOptions;
use lead_scoring::LeadScoring;
use reqwest::Response;
use serde_json::Value;
use tenancy::{OrgId, Role};
pub use testkit::TestApp;
use uuid::Uuid;

pub type App = TestApp<LeadScoring>;

pub async fn spawn() -> App {
    testkit::spawn_app::<LeadScoring>().await
}

pub struct Caller {
    pub org: OrgId,
    pub token: String,
}

pub fn caller(app: &App, role: Role) -> Caller {
    let org = OrgId::new_random();
    Caller {
        org,
        token: app.auth.token(org, role),
    }
}

pub fn same_org(app: &App, org: OrgId, role: Role) -> Caller {
    Caller {
        org,
        token: app.auth.token(org, role),
    }
}

/// A publisher on the app's exchange (its queue declared first, so nothing is dropped).
pub struct Publisher {
    chan: lapin::Channel,
    exchange: String,
    _bus: bus::Bus,
}

pub async fn publisher(app: &App) -> Publisher {
    let bus = bus::Bus::new(app.settings.standard.bus.clone());
    bus.declare_until_done().await;
    let chan = bus.connector.channel().await.unwrap();
    Publisher {
        chan,
        exchange: bus.names().exchange,
        _bus: bus,
    }
}

impl Publisher {
    pub async fn publish(&self, env: &Envelope) {
        self.chan
            .basic_publish(
                self.exchange.as_str().into(),
                env.event_type.as_str().into(),
                BasicPublishOptions::default(),
                &serde_json::to_vec(env).unwrap(),
                BasicProperties::default().with_content_type("application/json".into()),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

/// An envelope of `payload` for `org`, occurring at `at`.
pub fn envelope<E: Event>(org: OrgId, payload: &E, at: chrono::DateTime<chrono::Utc>) -> Envelope {
    let mut env = Envelope::new(org.as_uuid(), payload, None).unwrap();
    env.occurred_at = at;
    env
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

pub async fn count(app: &App, sql: &str) -> i64 {
    let mut c = app.db.admin_conn().await.unwrap();
    diesel::sql_query(sql)
        .get_result::<Count>(&mut c)
        .await
        .unwrap()
        .n
}

#[derive(QueryableByName)]
struct Json {
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    j: Value,
}

/// The first column (`j`, jsonb) of a query, read as the superuser.
pub async fn json(app: &App, sql: &str) -> Value {
    let mut c = app.db.admin_conn().await.unwrap();
    diesel::sql_query(sql)
        .get_result::<Json>(&mut c)
        .await
        .unwrap()
        .j
}

/// Waits until the consumer processed every event of `ids` (their inbox rows exist).
pub async fn processed(app: &App, ids: &[Uuid]) {
    let list = ids
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(",");
    let want = i64::try_from(ids.len()).unwrap();
    let sql = format!(
        "SELECT count(*) AS n FROM leads.inbox WHERE consumer = 'lead-scoring' AND event_id IN ({list})"
    );
    eventually("events processed", || count(app, &sql), |n| *n == want).await;
}

/// Polls `probe` until `done` holds (bounded: a broken path fails the test instead of hanging).
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let v = probe().await;
        if done(&v) {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Asserts a problem+json answer and returns its body.
pub async fn problem(r: Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "unexpected status");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["code"].is_string(), "{body}");
    body
}

pub async fn get(app: &App, path: &str, token: &str) -> Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

pub async fn get_json(app: &App, path: &str, token: &str) -> Value {
    let r = get(app, path, token).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
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

//! spawn for messaging against a fake Twilio, and small request helpers.

use std::sync::Arc;

use messaging::Messaging;
use reqwest::Response;
use serde_json::{Value, json};
use tenancy::{OrgId, Role};
pub use testkit::TestApp;
use testkit::{TestAuth, spawn_app_with};

use crate::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FROM, FakeTwilio};

pub type App = TestApp<Messaging>;

/// The public origin Twilio is told to call (signatures are computed over it).
pub const PUBLIC: &str = "https://hooks.example.com";

pub async fn spawn(fake: &FakeTwilio) -> App {
    spawn_with(fake, &[]).await
}

pub async fn spawn_with(fake: &FakeTwilio, extra: &[(&str, &str)]) -> App {
    let auth = Arc::new(TestAuth::start().await);
    let uri = fake.uri();
    let mut env: Vec<(&str, &str)> = vec![
        ("TWILIO_API_BASE_URL", uri.as_str()),
        ("PUBLIC_BASE_URL", PUBLIC),
        ("TWILIO_RETRY_BASE_MS", "20"),
        ("TWILIO_HTTP_TIMEOUT_MS", "700"),
        ("MESSAGING_DISPATCH_POLL_MS", "25"),
        ("MESSAGING_LEASE_MS", "3000"),
        ("MESSAGING_ORG_RATE_PER_SECOND", "1000"),
        ("BUS_RETRY_DELAYS_MS", "100,200"),
    ];
    env.extend_from_slice(extra);
    spawn_app_with::<Messaging>(auth, &env).await
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

/// Stores the fake's account for the caller's org (admin token) and checks it was accepted.
pub async fn connect(app: &App, admin: &Caller) {
    let r = app
        .client
        .put(app.url("/api/messaging/twilio"))
        .bearer_auth(&admin.token)
        .json(&json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": FROM}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
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

/// Sends `body` to `to` through the API and returns the stored message.
pub async fn send(app: &App, token: &str, to: &str, body: &str) -> Value {
    let r = post(
        app,
        "/api/messaging/messages",
        token,
        &json!({"to": to, "body": body}),
    )
    .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
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
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// The message until its status is `status`.
pub async fn wait_status(app: &App, token: &str, id: &str, status: &str) -> Value {
    let path = format!("/api/messaging/messages/{id}");
    eventually(
        &format!("message {id} becomes {status}"),
        || get_json(app, &path, token),
        |v| v["message"]["status"] == status,
    )
    .await
}

/// A webhook request as Twilio sends it: form encoded, signed with `token` over `PUBLIC + path`.
pub async fn webhook(
    app: &App,
    path: &str,
    params: &[(&str, &str)],
    token: Option<&str>,
) -> Response {
    webhook_signed_for(app, path, &format!("{PUBLIC}{path}"), params, token).await
}

/// Like `webhook`, but the signature is computed over `signed_url` (to test a wrong URL).
pub async fn webhook_signed_for(
    app: &App,
    path: &str,
    signed_url: &str,
    params: &[(&str, &str)],
    token: Option<&str>,
) -> Response {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let mut req = app
        .client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(t) = token {
        req = req.header(
            "x-twilio-signature",
            messaging::domain::signature::sign(t, signed_url, &owned),
        );
    }
    req.send().await.unwrap()
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

pub async fn count(app: &App, sql: &str) -> i64 {
    use diesel_async::RunQueryDsl;
    let mut c = app.db.admin_conn().await.unwrap();
    diesel::sql_query(sql)
        .get_result::<Count>(&mut c)
        .await
        .unwrap()
        .n
}

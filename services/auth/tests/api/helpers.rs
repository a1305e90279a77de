//! spawn the auth service (and, where a test needs "another service", testkit's probe service
//! verifying auth's tokens through auth's JWKS and the same Redis revocation set, exactly as
//! every service's `tenancy` extractor does).

use std::sync::Arc;

use auth::AuthService;
use reqwest::Response;
use serde_json::{Value, json};
pub use testkit::TestApp;
use testkit::{ProbeService, TestAuth};

pub type AuthApp = TestApp<AuthService>;

pub const PASSWORD: &str = "correct horse battery staple";
pub const CLIENT_SECRET: &str = "voice-webhook-test-secret-0123456789";

/// auth with a cheap argon2 cost (the product default is the OWASP minimum, see config.rs) and
/// a short refresh grace so tests can step outside it.
pub async fn spawn() -> AuthApp {
    spawn_with(&[]).await
}

pub async fn spawn_with(extra: &[(&str, &str)]) -> AuthApp {
    let mut env: Vec<(&str, &str)> = vec![
        ("AUTH_ARGON2_M_KIB", "1024"),
        ("AUTH_ARGON2_T", "1"),
        // Below the OWASP floor on purpose: tests hash thousands of passwords.
        ("AUTH_ARGON2_BELOW_FLOOR", "allow"),
        ("AUTH_REFRESH_GRACE_SECS", "2"),
        ("AUTH_KEY_RELOAD_SECS", "1"),
        // Most tests want signup's first token pair; the confirmation flow (the product
        // default) is tested with `spawn_with(&[("AUTH_SIGNUP_CONFIRM_EMAIL", "true")])`.
        ("AUTH_SIGNUP_CONFIRM_EMAIL", "false"),
        // The API tests run in parallel with every other test binary of `make test` on two
        // cores: a hash may wait longer than the product's 2 s before it starts. Shedding has
        // its own test binary (tests/flood) with its own settings; here a slow machine must not
        // turn an answer into 503 hashing_busy.
        ("AUTH_HASH_QUEUE", "256"),
        ("AUTH_HASH_QUEUE_WAIT_MS", "30000"),
        (
            "AUTH_SERVICE_CLIENTS",
            "voice-webhook:voice-webhook-test-secret-0123456789",
        ),
    ];
    env.extend_from_slice(extra);
    testkit::spawn_app_with::<AuthService>(Arc::new(TestAuth::start().await), &env).await
}

/// Another service trusting `auth`: its JWKS and its Redis revocation set.
pub async fn other_service(auth: &AuthApp) -> ProbeService {
    ProbeService::start(&auth.url("/.well-known/jwks.json"), &auth.redis_prefix).await
}

/// Status of the other service's protected route for `token`.
pub async fn other_service_status(other: &ProbeService, token: &str) -> u16 {
    other.status(token).await
}

pub fn unique_email() -> String {
    format!(
        "owner-{}@clinic.example",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

pub async fn post(app: &AuthApp, path: &str, token: Option<&str>, body: Value) -> Response {
    let mut r = app.client.post(app.url(path)).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

pub async fn delete(app: &AuthApp, path: &str, token: &str) -> Response {
    app.client
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

pub async fn patch(app: &AuthApp, path: &str, token: &str, body: Value) -> Response {
    app.client
        .patch(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub async fn put(app: &AuthApp, path: &str, token: &str, body: Value) -> Response {
    app.client
        .put(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub async fn get(app: &AuthApp, path: &str, token: &str) -> Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

pub async fn ok_json(r: Response, status: u16) -> Value {
    let s = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(s, status, "{body}");
    body
}

/// Asserts a problem+json answer with `code` and returns its body.
pub async fn problem(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(
        r.headers().get("content-type").map(|v| v.to_str().unwrap()),
        Some("application/problem+json")
    );
    let body = ok_json(r, status).await;
    assert_eq!(body["code"], code, "{body}");
    body
}

pub struct Signed {
    pub email: String,
    pub org: String,
    pub access: String,
    pub refresh: String,
    pub user: String,
}

pub async fn signup(app: &AuthApp) -> Signed {
    let email = unique_email();
    let body = ok_json(
        post(app, "/api/auth/signup", None, json!({"email": email, "password": PASSWORD, "org_name": "Cedar Point Physio", "org_timezone": "America/New_York"})).await,
        201,
    )
    .await;
    Signed {
        email,
        org: body["user"]["org_id"].as_str().unwrap().to_string(),
        access: body["access_token"].as_str().unwrap().to_string(),
        refresh: body["refresh_token"].as_str().unwrap().to_string(),
        user: body["user"]["id"].as_str().unwrap().to_string(),
    }
}

/// The password grant with any password (answer unchecked).
pub async fn password_grant(app: &AuthApp, email: &str, password: &str) -> Response {
    post(
        app,
        "/api/auth/token?grant_type=password",
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

pub async fn login(app: &AuthApp, email: &str) -> Value {
    ok_json(password_grant(app, email, PASSWORD).await, 200).await
}

pub async fn refresh(app: &AuthApp, token: &str) -> Response {
    post(
        app,
        "/api/auth/token?grant_type=refresh_token",
        None,
        json!({"refresh_token": token}),
    )
    .await
}

/// The claims of a JWT (no verification: the services under test verify).
pub fn claims(jwt: &str) -> Value {
    use base64::Engine as _;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// `SELECT count(*) AS n …` as the database superuser, so row-level security hides nothing
/// (reading what a test cannot see through the API; name tables `auth.…`).
pub async fn count(app: &AuthApp, sql: &str) -> i64 {
    use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
    let mut conn = AsyncPgConnection::establish(&app.db.admin_url())
        .await
        .unwrap();
    let c: Count = diesel::sql_query(sql).get_result(&mut conn).await.unwrap();
    c.n
}

/// The text of the newest mail to `to` in the mail outbox.
pub async fn last_mail(app: &AuthApp, to: &str) -> String {
    use diesel::sql_types::Text;
    use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
    #[derive(diesel::QueryableByName)]
    struct Body {
        #[diesel(sql_type = Text)]
        body: String,
    }
    let mut conn = AsyncPgConnection::establish(&app.db.admin_url())
        .await
        .unwrap();
    let b: Body = diesel::sql_query("SELECT body FROM auth.mail_outbox WHERE lower(to_email) = lower($1) ORDER BY created_at DESC LIMIT 1")
        .bind::<Text, _>(to)
        .get_result(&mut conn)
        .await
        .unwrap();
    b.body
}

/// The value after `marker` in `text`, up to the next whitespace.
pub fn after<'a>(text: &'a str, marker: &str) -> &'a str {
    let start = text
        .find(marker)
        .map(|i| i + marker.len())
        .unwrap_or_else(|| panic!("{marker} not in {text}"));
    text[start..].split_whitespace().next().unwrap()
}

/// Asserts that `token` is refused (401) by the other service within one second — the bound
/// ARCHITECTURE §4 sets for revocation (services remember a "not revoked" answer for 250 ms).
pub async fn refused_within_a_second(cal: &ProbeService, token: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let status = other_service_status(cal, token).await;
        if status == 401 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {status} a second after the revocation"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Runs a statement as the database superuser (moving a due time, reading past RLS).
pub async fn execute_sql(app: &AuthApp, sql: &str) -> usize {
    use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
    let mut conn = AsyncPgConnection::establish(&app.db.admin_url())
        .await
        .unwrap();
    diesel::sql_query(sql).execute(&mut conn).await.unwrap()
}

fn redis_pool(app: &AuthApp) -> deadpool_redis::Pool {
    servicekit::db::redis_pool(&app.settings.standard.common.redis_url, 2).unwrap()
}

/// Deletes every revocation mark of this app from Redis (as a Redis restart, a flush or an
/// eviction would); returns how many there were.
pub async fn delete_revocation_marks(app: &AuthApp) -> usize {
    use deadpool_redis::redis::AsyncCommands as _;
    let mut conn = redis_pool(app).get().await.unwrap();
    let keys: Vec<String> = conn
        .keys(format!("{}revoked:session:*", app.redis_prefix))
        .await
        .unwrap();
    if !keys.is_empty() {
        let () = conn.del(&keys).await.unwrap();
    }
    keys.len()
}

/// Whether the revocation mark of `session` is in Redis.
pub async fn revocation_marked(app: &AuthApp, session: &str) -> bool {
    use deadpool_redis::redis::AsyncCommands as _;
    let mut conn = redis_pool(app).get().await.unwrap();
    conn.exists(format!("{}revoked:session:{session}", app.redis_prefix))
        .await
        .unwrap()
}

/// The session id a token belongs to.
pub fn session_of(token: &str) -> String {
    claims(token)["session_id"].as_str().unwrap().to_string()
}

/// A refresh that switches the session to `org`; returns (access, refresh).
pub async fn switch_org(app: &AuthApp, refresh_token: &str, org: &str) -> (String, String) {
    let body = ok_json(
        post(
            app,
            "/api/auth/token?grant_type=refresh_token",
            None,
            json!({"refresh_token": refresh_token, "org_id": org}),
        )
        .await,
        200,
    )
    .await;
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["refresh_token"].as_str().unwrap().to_string(),
    )
}

/// Asserts that `token` is refused (401 `session_revoked`) by auth itself and by the other
/// service within `within`.
pub async fn refused_everywhere_within(
    app: &AuthApp,
    other: &ProbeService,
    token: &str,
    within: std::time::Duration,
) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let by_other = other_service_status(other, token).await;
        let by_auth = get(app, "/api/auth/user", token).await.status().as_u16();
        if by_other == 401 && by_auth == 401 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still accepted {within:?} later: auth {by_auth}, other service {by_other}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A second auth instance on the same database and Redis (its background workers not started):
/// for racing what the app's own workers do.
pub fn another_instance(app: &AuthApp) -> auth::state::AppState {
    let common = &app.settings.standard.common;
    let pg = servicekit::db::pg_pool(&common.database_url, 4).unwrap();
    let redis = servicekit::db::redis_pool(&common.redis_url, 4).unwrap();
    auth::state::AppState::new(
        tenancy::Db::new(pg.clone()),
        pg,
        redis,
        common,
        &app.settings.own.settings,
    )
    .unwrap()
}

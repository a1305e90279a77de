//! spawn_app for calendar, and small request helpers.

use calendar::Calendar;
use reqwest::Response;
use serde_json::Value;
use tenancy::{OrgId, Role};
pub use testkit::TestApp;

pub async fn spawn() -> TestApp<Calendar> {
    testkit::spawn_app::<Calendar>().await
}

pub struct Caller {
    pub org: OrgId,
    pub token: String,
}

pub fn caller(app: &TestApp<Calendar>, role: Role) -> Caller {
    let org = OrgId::new_random();
    Caller {
        org,
        token: app.auth.token(org, role),
    }
}

pub fn same_org(app: &TestApp<Calendar>, org: OrgId, role: Role) -> Caller {
    Caller {
        org,
        token: app.auth.token(org, role),
    }
}

/// Asserts a problem+json answer and returns its body.
pub async fn problem(r: Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "unexpected status");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["code"].is_string(), "{body}");
    assert!(
        body["type"].is_string() && body["title"].is_string(),
        "{body}"
    );
    body
}

/// `GET path` as the holder of `token`.
pub async fn get(app: &TestApp<Calendar>, path: &str, token: &str) -> Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// `GET path` as the holder of `token`, expecting a JSON body.
pub async fn get_json(app: &TestApp<Calendar>, path: &str, token: &str) -> Value {
    get(app, path, token).await.json().await.unwrap()
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

/// Stores settings: `tz`, every day open `open`–`close`, no notice, a two-year window.
pub async fn open_every_day(
    app: &TestApp<Calendar>,
    token: &str,
    tz: &str,
    open: &str,
    close: &str,
) {
    let day = serde_json::json!([{"start": open, "end": close}]);
    let body = serde_json::json!({
        "timezone": tz,
        "slot_interval_minutes": null,
        "min_notice_minutes": 0,
        "booking_window_days": 730,
        "default_buffer_before_minutes": 0,
        "default_buffer_after_minutes": 0,
        "hold_minutes": 5,
        "weekly_hours": {
            "monday": day, "tuesday": day, "wednesday": day, "thursday": day,
            "friday": day, "saturday": day, "sunday": day
        },
        "date_overrides": []
    });
    let r = app
        .client
        .put(app.url("/api/calendar/settings"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// Creates a service and returns its id.
pub async fn service(
    app: &TestApp<Calendar>,
    token: &str,
    name: &str,
    minutes: i32,
    before: i32,
    after: i32,
) -> String {
    let r = app
        .client
        .post(app.url("/api/calendar/services"))
        .bearer_auth(token)
        .json(
            &serde_json::json!({"name": name, "duration_minutes": minutes,
            "buffer_before_minutes": before, "buffer_after_minutes": after}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `days` days from today (UTC) at `hh:mm` UTC, RFC 3339.
pub fn at(days: i64, hh: u32, mm: u32) -> String {
    let d = chrono::Utc::now().date_naive() + chrono::Duration::days(days);
    d.and_hms_opt(hh, mm, 0)
        .unwrap()
        .and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `POST path` with a JSON body as the holder of `token`.
pub async fn post(app: &TestApp<Calendar>, path: &str, token: &str, body: &Value) -> Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Books `service` at `starts_at` through the public API.
pub async fn book(
    app: &TestApp<Calendar>,
    token: &str,
    service: &str,
    starts_at: &str,
) -> Response {
    post(
        app,
        "/api/calendar/appointments",
        token,
        &serde_json::json!({"service_id": service, "starts_at": starts_at,
            "contact_name": "Jordan Lee", "contact_phone": "+15550100123"}),
    )
    .await
}

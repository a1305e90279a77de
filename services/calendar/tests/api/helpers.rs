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

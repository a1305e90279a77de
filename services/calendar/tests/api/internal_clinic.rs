//! `GET /internal/v1/orgs/{org}/clinic` (issue 11 item 14a): the clinic's zone and hours as
//! calendar has them right now, for voice's "today", after-hours and transfer rules — service
//! tokens only, and each org sees only its own.

use serde_json::{Value, json};
use tenancy::Role;

use crate::helpers::{TestApp, caller, open_every_day, spawn};

async fn clinic(app: &TestApp<calendar::Calendar>, org: tenancy::OrgId) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/internal/v1/orgs/{org}/clinic")))
        .bearer_auth(app.auth.service_token("voice-webhook"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_clinic_lookup_answers_the_current_zone_and_hours() {
    let app = spawn().await;
    let a = caller(&app, Role::Admin);
    let b = caller(&app, Role::Admin);

    // Before anything is stored: the defaults, in UTC.
    let r = clinic(&app, a.org).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["timezone"], "UTC");

    // The admin changes zone and hours: the next lookup says so (odd times, an override).
    open_every_day(&app, &a.token, "Asia/Kathmandu", "09:35", "12:05").await;
    let v: Value = clinic(&app, a.org).await.json().await.unwrap();
    assert_eq!(v["timezone"], "Asia/Kathmandu");
    assert_eq!(
        v["weekly_hours"]["wednesday"],
        json!([{"start": "09:35", "end": "12:05"}])
    );
    assert_eq!(v["date_overrides"], json!([]));
    let b_view: Value = clinic(&app, b.org).await.json().await.unwrap();
    assert_eq!(
        b_view["timezone"], "UTC",
        "another org's settings are its own"
    );

    // A user token cannot use the internal route.
    let r = app
        .client
        .get(app.url(&format!("/internal/v1/orgs/{}/clinic", a.org)))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert!(matches!(r.status().as_u16(), 401 | 403), "{}", r.status());
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "a problem document"
    );
}

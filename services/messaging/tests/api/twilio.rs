//! `/api/messaging/twilio`: verified against the fake Twilio before it is stored; a refused
//! credential is 422 and nothing is stored; secrets never come back and are sealed at rest; only
//! admins; another org sees nothing.

use serde_json::json;
use tenancy::Role;

use crate::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FROM, FakeTwilio};
use crate::helpers::{caller, connect, count, get, get_json, problem, same_org, spawn};

#[tokio::test]
async fn a_verified_account_is_stored_sealed_and_shown_without_secrets() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    connect(&app, &admin).await;

    // Twilio was asked once, with the account's basic auth.
    let reqs = fake.server.received_requests().await.unwrap();
    let verify: Vec<_> = reqs.iter().filter(|r| r.method.as_str() == "GET").collect();
    assert_eq!(verify.len(), 1);
    assert_eq!(
        verify[0].url.path(),
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}.json")
    );
    assert!(
        verify[0]
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Basic ")
    );

    let v = get_json(&app, "/api/messaging/twilio", &admin.token).await;
    assert_eq!(v["account_sid"], ACCOUNT_SID);
    assert_eq!(v["auth"], "auth_token");
    assert_eq!(v["from_number"], FROM);
    assert!(!v.to_string().contains(AUTH_TOKEN), "{v}");

    // At rest the token is ciphertext.
    let plain = count(
        &app,
        &format!(
            "SELECT count(*) AS n FROM messaging.twilio_accounts WHERE position(convert_to('{AUTH_TOKEN}', 'UTF8') in auth_token_sealed) > 0"
        ),
    )
    .await;
    assert_eq!(plain, 0);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM messaging.twilio_accounts").await,
        1
    );

    // Another org sees nothing and deletes nothing.
    let other = caller(&app, Role::Owner);
    problem(get(&app, "/api/messaging/twilio", &other.token).await, 404).await;
    let r = app
        .client
        .delete(app.url("/api/messaging/twilio"))
        .bearer_auth(&other.token)
        .send()
        .await
        .unwrap();
    problem(r, 404).await;
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM messaging.twilio_accounts").await,
        1
    );

    // Staff may not read or change it.
    let staff = same_org(&app, admin.org, Role::Staff);
    problem(get(&app, "/api/messaging/twilio", &staff.token).await, 403).await;

    let r = app
        .client
        .delete(app.url("/api/messaging/twilio"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    problem(get(&app, "/api/messaging/twilio", &admin.token).await, 404).await;
}

#[tokio::test]
async fn a_wrong_credential_is_422_and_nothing_is_stored() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    let r = app
        .client
        .put(app.url("/api/messaging/twilio"))
        .bearer_auth(&admin.token)
        .json(&json!({"account_sid": ACCOUNT_SID, "auth_token": "wrong-token-0123456789", "from_number": FROM}))
        .send()
        .await
        .unwrap();
    let p = problem(r, 422).await;
    assert_eq!(p["code"], "twilio_credentials_rejected");
    assert!(
        p["detail"].as_str().unwrap().contains("nothing was stored"),
        "{p}"
    );
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM messaging.twilio_accounts").await,
        0
    );
    problem(get(&app, "/api/messaging/twilio", &admin.token).await, 404).await;

    // Malformed input never reaches Twilio.
    let before = fake.server.received_requests().await.unwrap().len();
    for bad in [
        json!({"account_sid": "AC123", "auth_token": AUTH_TOKEN, "from_number": FROM}),
        json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": "555-0100"}),
        json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}),
        json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": FROM, "api_key_sid": "SK0123456789abcdef0123456789abcdef"}),
    ] {
        let r = app
            .client
            .put(app.url("/api/messaging/twilio"))
            .bearer_auth(&admin.token)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r, 422).await["code"], "invalid_field");
    }
    let r = app.client.put(app.url("/api/messaging/twilio")).bearer_auth(&admin.token)
        .json(&json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": FROM, "extra": 1})).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let _ = r.text().await;
    assert_eq!(fake.server.received_requests().await.unwrap().len(), before);
}

#[tokio::test]
async fn twilio_down_is_503_and_nothing_is_stored() {
    let fake = FakeTwilio::start().await;
    let app =
        crate::helpers::spawn_with(&fake, &[("TWILIO_API_BASE_URL", "http://127.0.0.1:9")]).await;
    let admin = caller(&app, Role::Admin);
    let r = app
        .client
        .put(app.url("/api/messaging/twilio"))
        .bearer_auth(&admin.token)
        .json(&json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": FROM}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 503).await["code"], "twilio_unavailable");
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM messaging.twilio_accounts").await,
        0
    );
}

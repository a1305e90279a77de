//! Log redaction end to end: with the real log pipeline installed, a request whose URL, headers
//! and body carry a phone number, an email and a bearer token leaves none of them in the logs.
//! Its own test binary, because it installs the process-wide log subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failure should stop the test loudly

use serde_json::json;
use tenancy::{OrgId, Role};
use testkit::LogCapture;

#[tokio::test]
async fn logs_contain_no_phone_email_or_token() {
    let capture = LogCapture::default();
    servicekit::telemetry::init_with_writer("calendar", "info", None, capture.clone()).unwrap();
    let app = testkit::spawn_app::<calendar::Calendar>().await;
    let token = app.auth.token(OrgId::new_random(), Role::Admin);
    let phone = "+15551234567";
    let email = "jane.doe@example.com";
    let body =
        json!({"name": format!("Call {phone} or mail {email}"), "duration_minutes": "thirty"});

    let r = app
        .client
        .post(app.url(&format!(
            "/api/calendar/services?caller={phone}&email={email}"
        )))
        .bearer_auth(&token)
        .header("user-agent", format!("curl/8 ({email}; {phone})"))
        .header("x-caller", phone)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // Whatever a careless handler might log about the request goes through the same writer.
    let headers = format!("authorization: Bearer {token}; x-caller: {phone}; from: {email}");
    tracing::warn!(headers = %headers, body = %body, "careless request dump");

    // Give the server's worker thread a moment to finish writing its request line.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = capture.contents();
    assert!(
        logs.contains("careless request dump"),
        "the test's own log line is captured:\n{logs}"
    );
    assert!(
        logs.contains("/api/calendar/services"),
        "the request was logged:\n{logs}"
    );
    for secret in [
        phone,
        "5551234567",
        email,
        "jane.doe",
        token.as_str(),
        token.split('.').nth(1).unwrap(),
    ] {
        assert!(
            !logs.contains(secret),
            "{secret:?} leaked into the logs:\n{logs}"
        );
    }
    assert!(
        logs.contains("[REDACTED:"),
        "redaction markers are present:\n{logs}"
    );
}

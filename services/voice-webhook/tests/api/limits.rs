//! Issue 11 item 13: Vapi's end-of-call reports of long calls are larger than the global body
//! limit (256 KiB) and Vapi does not resend a refused one. The webhook route accepts up to
//! `VAPI_MAX_BODY_BYTES` (default 8 MiB): a 2 MiB report is logged and applied; a body over the
//! limit is still 413 problem+json and nothing is logged.

use serde_json::{Value, json};
use tenancy::Role;

use crate::helpers::{
    call, clinic, count, get_json, message, problem, spawn, spawn_with, vapi, vapi_ok,
};

/// A report whose transcript is `bytes` long (lines of a long call).
fn big_report(call: &Value, number: &str, bytes: usize) -> Value {
    let line = "User: and then the pain moved to the left side, mostly in the mornings.\n";
    let transcript = line.repeat(bytes / line.len() + 1);
    message(
        "end-of-call-report",
        call,
        number,
        json!({
            "endedReason": "customer-ended-call",
            "startedAt": "2026-11-22T14:20:05.000Z", "endedAt": "2026-11-22T15:41:17.000Z",
            "artifact": {"transcript": transcript},
            "analysis": {"summary": "A long call about pain."}
        }),
    )
}

#[tokio::test]
async fn a_two_mib_end_of_call_report_is_logged_and_applied() {
    let app = spawn().await;
    let c = clinic(&app, "Cedar Point Physio", "America/Denver", "+15550123400").await;
    let call = call("call-long-1", &c.vapi_number_id);
    let body = big_report(&call, &c.number, 2 * 1024 * 1024);
    assert!(serde_json::to_vec(&body).unwrap().len() > 2 * 1024 * 1024);
    vapi_ok(&app, &body).await; // 200, then applied in the background
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM voice.webhook_deliveries WHERE message_type = 'end-of-call-report' AND outcome = 'applied'").await,
        1
    );
    let list = get_json(&app, "/api/voice/calls", &c.admin).await;
    let row = &list["items"][0];
    assert_eq!(row["status"], "ended", "{list}");
    assert_eq!(row["duration_seconds"], 4872);
    let id = row["id"].as_str().unwrap();
    let detail = get_json(
        &app,
        &format!("/api/voice/calls/{id}"),
        &app.auth.token(c.org, Role::Staff),
    )
    .await;
    assert!(
        detail["transcript"].as_str().unwrap().len() > 2 * 1024 * 1024,
        "the whole transcript is stored"
    );
}

#[tokio::test]
async fn a_body_over_vapi_max_body_bytes_is_413_problem_json_and_not_logged() {
    // The default limit (8 MiB): 9 MiB is refused.
    let app = spawn().await;
    let c = clinic(&app, "Cedar Point Physio", "America/Denver", "+15550123400").await;
    let r = vapi(
        &app,
        &big_report(
            &call("call-huge-1", &c.vapi_number_id),
            &c.number,
            9 * 1024 * 1024,
        ),
    )
    .await;
    let p = problem(r, 413).await;
    assert_eq!(p["code"], "payload_too_large");
    // A configured limit: 1 MiB passes under it, 1.5 MiB does not.
    let app = spawn_with(&[("VAPI_MAX_BODY_BYTES", "1310720")]).await;
    let c = clinic(&app, "Cedar Point Physio", "America/Denver", "+15550123400").await;
    vapi_ok(
        &app,
        &big_report(
            &call("call-1mib", &c.vapi_number_id),
            &c.number,
            1024 * 1024,
        ),
    )
    .await;
    let r = vapi(
        &app,
        &big_report(
            &call("call-1.5mib", &c.vapi_number_id),
            &c.number,
            1536 * 1024,
        ),
    )
    .await;
    assert_eq!(problem(r, 413).await["code"], "payload_too_large");
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM voice.webhook_deliveries").await,
        1,
        "only the report under the limit is logged"
    );
}

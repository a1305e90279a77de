//! Outbound calls: `POST /api/voice/calls` → Vapi `POST /call` with the number's Vapi id and the
//! agent's assistant; a per-org limit on concurrent calls answers 429 until one ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use tenancy::Role;
use testkit::wiremock::matchers::{header, method, path};
use testkit::wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{clinic, count, post, problem, spawn, spawn_with, vapi_ok};

struct NewCall(Arc<AtomicUsize>);

impl Respond for NewCall {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(201).set_body_json(
            json!({"id": format!("call-out-{n}"), "status": "queued", "type": "outboundPhoneCall"}),
        )
    }
}

#[tokio::test]
async fn outbound_calls_go_to_vapi_and_the_org_limit_answers_429_until_one_ends() {
    let vapi = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/call"))
        .and(header("authorization", "Bearer vapi-test-key"))
        .respond_with(NewCall(Arc::new(AtomicUsize::new(0))))
        .mount(&vapi)
        .await;
    // Tool sync at start and number linking answer 200 with nothing interesting.
    Mock::given(method("GET"))
        .and(path("/tool"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&vapi)
        .await;
    let url = vapi.uri();
    let app = spawn_with(&[
        ("VAPI_API_URL", url.as_str()),
        ("VAPI_API_KEY", "vapi-test-key"),
        ("VOICE_MAX_OUTBOUND_CALLS", "1"),
    ])
    .await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let body = json!({"agent_id": c.agent_id, "number_id": c.number_id, "customer_number": "+15550187722", "customer_name": "Jordan Reyes"});

    let viewer = app.auth.token(c.org, Role::Viewer);
    problem(post(&app, "/api/voice/calls", &viewer, &body).await, 403).await;
    let r = post(
        &app,
        "/api/voice/calls",
        &c.admin,
        &json!({"agent_id": c.agent_id, "number_id": c.number_id, "customer_number": "12"}),
    )
    .await;
    assert_eq!(problem(r, 422).await["field"], "customer_number");

    let r = post(&app, "/api/voice/calls", &c.admin, &body).await;
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["vapi_call_id"], "call-out-1");
    let sent: Value = serde_json::from_slice(
        &vapi
            .received_requests()
            .await
            .unwrap()
            .iter()
            .find(|r| r.url.path() == "/call")
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(sent["phoneNumberId"], c.vapi_number_id.as_str());
    assert_eq!(sent["customer"]["number"], "+15550187722");
    assert_eq!(sent["customer"]["name"], "Jordan Reyes");
    assert!(
        sent["assistant"].is_object() || sent["assistantId"].is_string(),
        "{sent}"
    );

    // The limit (1) is reached while the first call is live.
    let r = post(&app, "/api/voice/calls", &c.admin, &body).await;
    assert_eq!(problem(r, 429).await["code"], "rate_limited");

    // Vapi reports the call ended (routed by its call id): a new call may start.
    let ended = json!({"message": {"type": "status-update", "status": "ended", "endedReason": "customer-ended-call",
        "call": {"id": "call-out-1", "type": "outboundPhoneCall"}}});
    vapi_ok(&app, &ended).await;
    let r = post(&app, "/api/voice/calls", &c.admin, &body).await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM voice.calls WHERE direction = 'outbound'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM voice.calls WHERE vapi_call_id LIKE 'pending:%'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn without_a_vapi_key_outbound_calls_are_unavailable() {
    let app = spawn().await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let r = post(&app, "/api/voice/calls", &c.admin, &json!({"agent_id": c.agent_id, "number_id": c.number_id, "customer_number": "+15550187722"})).await;
    assert_eq!(problem(r, 503).await["code"], "vapi_not_configured");
}

//! The optional intent classifier against a local fake OpenAI-compatible endpoint: a good answer
//! refines the intent; an endpoint answering slowly, with garbage, with an unknown intent, or not
//! at all changes nothing but the intent source recorded.

use std::sync::Arc;

use serde_json::{Value, json};
use tenancy::Role;
use testkit::auth::TestAuth;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{App, caller, count, json, processed, publisher, spawn};
use crate::script::{Scenario, envelopes, ids};

fn caller_saying(marker: &str, phone: &str) -> Scenario {
    serde_json::from_value(json!({"name": marker, "phone": phone, "steps": [
        {"kind": "call", "call": "c1", "at": "2026-12-01T15:00:00Z", "duration": 70,
         "analysis": {"intent": "price_question", "service_of_interest": "implants", "quoted_price": 3200,
                      "summary": format!("{marker}: caller asked about implants and wants to come in next week.")}}
    ], "expect": {"tier": "warm", "stage": "qualified", "action": "send_booking_link"}}))
    .unwrap()
}

const CALLERS: [(&str, &str); 4] = [
    ("GOOD", "+15550400001"),
    ("SLOW", "+15550400002"),
    ("GARBAGE", "+15550400003"),
    ("UNKNOWN-INTENT", "+15550400004"),
];

fn chat(content: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "test-model",
           "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content}}]})
}

async fn seed(app: &App, org: tenancy::OrgId, callers: &[(&str, &str)]) {
    let p = publisher(app).await;
    let mut all = Vec::new();
    for (marker, phone) in callers {
        let envs = envelopes(org, "UTC", &caller_saying(marker, phone));
        for e in &envs {
            p.publish(e).await;
        }
        all.extend(ids(&envs));
    }
    processed(app, &all).await;
}

/// The contact's current score and the features it was computed from.
async fn scored(app: &App, org: tenancy::OrgId, phone: &str) -> Value {
    json(
        app,
        &format!(
            "SELECT to_jsonb(x) AS j FROM (SELECT c.score, c.tier, c.next_action, \
             (SELECT s.features FROM leads.lead_scores s WHERE s.contact_id = c.id ORDER BY s.created_at DESC LIMIT 1) AS features, \
             (SELECT s.reasons FROM leads.lead_scores s WHERE s.contact_id = c.id ORDER BY s.created_at DESC LIMIT 1) AS reasons \
             FROM leads.contacts c WHERE c.org_id = '{org}' AND c.phone_e164 = '{phone}') x"
        ),
    )
    .await
}

async fn classified(app: &App, org: tenancy::OrgId, n: i64) {
    let sql = format!("SELECT count(*) AS n FROM leads.call_intents WHERE org_id = '{org}'");
    crate::helpers::eventually("calls classified", || count(app, &sql), |c| *c == n).await;
}

/// Everything but the intent's source is the same.
fn same_but_source(with: &Value, without: &Value) -> String {
    let strip = |v: &Value| {
        let mut v = v.clone();
        v["features"]
            .as_object_mut()
            .unwrap()
            .remove("intent_source");
        v
    };
    assert_eq!(strip(with), strip(without));
    with["features"]["intent_source"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_slow_garbage_or_absent_classifier_changes_nothing_but_the_intent_source() {
    let fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_string_contains("GOOD:"))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat(r#"{"intent": "book"}"#)))
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_string_contains("SLOW:"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(chat(r#"{"intent": "book"}"#))
                .set_delay(std::time::Duration::from_secs(3)),
        )
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_string_contains("GARBAGE:"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>upstream hiccup</html>"))
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_string_contains("UNKNOWN-INTENT:"))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat(r#"{"intent": "buy a boat"}"#)))
        .mount(&fake)
        .await;

    let auth = Arc::new(TestAuth::start().await);
    let base_url = format!("{}/v1", fake.uri());
    let with = testkit::spawn_app_with::<lead_scoring::LeadScoring>(
        auth.clone(),
        &[
            ("LEADS_CLASSIFIER_URL", base_url.as_str()),
            ("LEADS_CLASSIFIER_MODEL", "test-model"),
            ("LEADS_CLASSIFIER_API_KEY", "sk-test-123"),
            ("LEADS_CLASSIFIER_TIMEOUT_MS", "300"),
            ("LEADS_CLASSIFIER_POLL_MS", "50"),
        ],
    )
    .await;
    // Nothing listens on port 9 (discard): connection refused, "not at all".
    let dead = testkit::spawn_app_with::<lead_scoring::LeadScoring>(
        auth.clone(),
        &[
            ("LEADS_CLASSIFIER_URL", "http://127.0.0.1:9/v1"),
            ("LEADS_CLASSIFIER_TIMEOUT_MS", "300"),
            ("LEADS_CLASSIFIER_POLL_MS", "50"),
        ],
    )
    .await;
    let base = spawn().await;
    let (o_with, o_dead, o_base) = (
        caller(&with, Role::Admin).org,
        caller(&dead, Role::Admin).org,
        caller(&base, Role::Admin).org,
    );
    seed(&with, o_with, &CALLERS).await;
    seed(&dead, o_dead, &CALLERS[1..2]).await;
    seed(&base, o_base, &CALLERS).await;
    classified(&with, o_with, 4).await;
    classified(&dead, o_dead, 1).await;

    // Without a classifier: Vapi's intent, source `vapi`.
    let b = scored(&base, o_base, CALLERS[0].1).await;
    assert_eq!(b["features"]["intent_source"], "vapi");
    assert_eq!(b["features"]["intent"], "price_question");

    // A good answer refines the intent (and so the score and its reasons).
    let good = scored(&with, o_with, CALLERS[0].1).await;
    assert_eq!(good["features"]["intent"], "book");
    assert_eq!(good["features"]["intent_source"], "classifier");
    let codes: Vec<&str> = good["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"booking_attempt_failed") && !codes.contains(&"asked_price"),
        "{codes:?}"
    );

    // Slow, garbage, an unknown intent, nobody there: only the source differs.
    for ((marker, phone), app, org, outcome) in [
        (CALLERS[1], &with, o_with, "timeout"),
        (CALLERS[2], &with, o_with, "bad_answer"),
        (CALLERS[3], &with, o_with, "bad_answer"),
        (CALLERS[1], &dead, o_dead, "unavailable"),
    ] {
        let w = scored(app, org, phone).await;
        let without = scored(&base, o_base, phone).await;
        let source = same_but_source(&w, &without);
        assert_eq!(source, format!("vapi (classifier: {outcome})"), "{marker}");
    }

    // What the fake endpoint received: the chat-completions protocol, the key, the summary.
    let requests = fake.received_requests().await.unwrap();
    assert_eq!(requests.len(), 4);
    for r in &requests {
        assert_eq!(r.headers["authorization"], "Bearer sk-test-123");
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["model"], "test-model");
        assert_eq!(body["response_format"]["type"], "json_object");
        assert_eq!(body["messages"][0]["role"], "system");
        assert!(
            body["messages"][1]["content"]
                .as_str()
                .unwrap()
                .contains("caller asked about implants")
        );
    }
    // The queue is drained.
    assert_eq!(
        count(&with, "SELECT count(*) AS n FROM leads.classify_queue").await,
        0
    );
}

//! High-volume message types we do not use (issue 11 item 14c): the inline assistant (agents not
//! synced to Vapi) asks for exactly the server messages we act on and carries the agent's tools;
//! what still arrives of the others is deleted from the delivery log after its retention, while
//! everything voice acts on stays.

use serde_json::{Value, json};

use crate::helpers::{admin_exec, call, clinic, count, eventually, message, spawn_with, vapi_ok};

/// Spec §4.1: the high-volume types of the default list, and others we never act on.
const UNUSED: [&str; 7] = [
    "speech-update",
    "conversation-update",
    "model-output",
    "voice-input",
    "transcript",
    "user-interrupted",
    "assistant.started",
];

#[tokio::test]
async fn the_inline_assistant_carries_the_tools_and_only_the_server_messages_we_act_on() {
    let app = spawn_with(&[(
        "VOICE_PUBLIC_WEBHOOK_URL",
        "https://voice.example.test/api/webhooks/vapi",
    )])
    .await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let r = app
        .client
        .put(app.url(&format!("/api/voice/agents/{}", c.agent_id)))
        .bearer_auth(&c.admin)
        .json(&json!({"name": "Front desk", "enabled_tools": ["check_availability", "book_appointment", "take_message"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let a = vapi_ok(
        &app,
        &message(
            "assistant-request",
            &call("call-inline-1", &c.vapi_number_id),
            &c.number,
            json!({}),
        ),
    )
    .await;
    let assistant = &a["assistant"];
    let asked: Vec<&str> = assistant["serverMessages"]
        .as_array()
        .unwrap_or_else(|| panic!("no serverMessages: {a}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // Given explicitly (Vapi's default list includes the chatter), and only what we act on.
    for needed in [
        "tool-calls",
        "end-of-call-report",
        "status-update",
        "transfer-destination-request",
    ] {
        assert!(asked.contains(&needed), "{needed} missing: {asked:?}");
    }
    for unused in UNUSED {
        assert!(!asked.contains(&unused), "{unused} requested: {asked:?}");
    }
    // Structured data at the end of the call (off by default in Vapi), for lead scoring.
    let plan = &assistant["analysisPlan"]["structuredDataPlan"];
    assert_eq!(plan["enabled"], true, "{a}");
    assert_eq!(plan["schema"]["type"], "object");
    assert_eq!(plan["schema"]["required"], json!(["intent"]));
    assert!(
        plan["schema"]["properties"]["intent"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("price_question"))
    );
    assert_eq!(assistant["analysisPlan"]["summaryPlan"]["enabled"], true);
    // The agent's enabled tools, each a function tool served by our server URL.
    let tools = assistant["model"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {a}"));
    let names: Vec<&str> = tools
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["check_availability", "book_appointment", "take_message"]
    );
    for t in tools {
        assert_eq!(t["type"], "function");
        assert_eq!(
            t["server"]["url"], "https://voice.example.test/api/webhooks/vapi",
            "{t}"
        );
        assert_eq!(t["function"]["parameters"]["type"], "object");
    }
    assert_eq!(
        assistant["server"]["url"],
        "https://voice.example.test/api/webhooks/vapi"
    );
    // No credential synced yet: none is named (Vapi would reject an unknown id).
    assert!(assistant["server"].get("credentialId").is_none(), "{a}");

    // Once the sync recorded our webhook credential, the inline assistant and each of its
    // tools reference it (issue 11 item 12: every server config we send carries it).
    crate::helpers::admin_exec(
        &app,
        "INSERT INTO voice.vapi_credentials (name, vapi_credential_id, fingerprint) VALUES ('webhook', 'cred-inline-1', 'x')",
    )
    .await;
    let a = vapi_ok(
        &app,
        &message(
            "assistant-request",
            &call("call-inline-2", &c.vapi_number_id),
            &c.number,
            json!({}),
        ),
    )
    .await;
    assert_eq!(
        a["assistant"]["server"]["credentialId"], "cred-inline-1",
        "{a}"
    );
    for t in a["assistant"]["model"]["tools"].as_array().unwrap() {
        assert_eq!(t["server"]["credentialId"], "cred-inline-1", "{t}");
    }
}

#[tokio::test]
async fn chatter_is_deleted_after_its_retention_and_what_we_act_on_is_kept() {
    let app = spawn_with(&[
        ("VOICE_RETENTION_INTERVAL_SECS", "1"),
        ("VOICE_CHATTER_RETENTION_HOURS", "2"),
    ])
    .await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let call = call("call-chatter-1", &c.vapi_number_id);
    let send = |kind: &str, extra: Value| message(kind, &call, &c.number, extra);
    for kind in UNUSED {
        vapi_ok(
            &app,
            &send(kind, json!({"transcript": "hello", "role": "user"})),
        )
        .await;
    }
    vapi_ok(&app, &send("hang", json!({}))).await;
    vapi_ok(
        &app,
        &send("status-update", json!({"status": "in-progress"})),
    )
    .await;
    // Of an unknown number: logged as unknown_tenant, chatter all the same.
    vapi_ok(
        &app,
        &message(
            "speech-update",
            &crate::helpers::call("call-chatter-x", "pn-nobody"),
            "+15559999999",
            json!({}),
        ),
    )
    .await;
    let logged = count(&app, "SELECT count(*) AS n FROM voice.webhook_deliveries").await;
    assert_eq!(logged, 10);

    // Three hours pass for all of it; then one more chatter message arrives, fresh.
    admin_exec(
        &app,
        "UPDATE voice.webhook_deliveries SET received_at = received_at - interval '3 hours'",
    )
    .await;
    vapi_ok(
        &app,
        &send(
            "speech-update",
            json!({"status": "started", "role": "assistant"}),
        ),
    )
    .await;

    let old_chatter = format!(
        "SELECT count(*) AS n FROM voice.webhook_deliveries WHERE received_at < now() - interval '1 hour' AND message_type IN ({})",
        UNUSED
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let left = eventually(|| count(&app, &old_chatter), |n| *n == 0).await;
    assert_eq!(left, 0, "old chatter is deleted");
    // Kept: the hang and the status update (old, but acted on) and the fresh speech update.
    assert_eq!(count(&app, "SELECT count(*) AS n FROM voice.webhook_deliveries WHERE message_type IN ('hang', 'status-update')").await, 2);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM voice.webhook_deliveries WHERE message_type = 'speech-update'").await, 1);
}

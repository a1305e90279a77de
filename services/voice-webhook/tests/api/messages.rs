//! Every message type of the Vapi spec is accepted and answered in its documented shape; unknown
//! types and fields are tolerated; bad bodies get precise problem+json.

use serde_json::{Value, json};

use crate::helpers::{SECRET, call, clinic, count, message, problem, spawn, vapi, vapi_ok};

#[tokio::test]
async fn assistant_request_answers_with_the_numbers_agent_and_the_clinics_day() {
    let app = spawn().await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "Pacific/Kiritimati",
        "+15550123400",
    )
    .await;
    let a = vapi_ok(
        &app,
        &message(
            "assistant-request",
            &call("call-ar-1", &c.vapi_number_id),
            &c.number,
            json!({}),
        ),
    )
    .await;
    // The default agent is not synced to Vapi: a full inline assistant with the variables.
    assert!(
        a["assistant"]["firstMessage"]
            .as_str()
            .unwrap()
            .contains("Cedar Point Physio"),
        "{a}"
    );
    let vars = &a["assistantOverrides"]["variableValues"];
    assert_eq!(vars["clinicName"], "Cedar Point Physio");
    assert_eq!(vars["timezone"], "Pacific/Kiritimati");
    // UTC+14: the clinic's today is computed in its zone, not the server's.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Pacific::Kiritimati)
        .date_naive()
        .to_string();
    assert_eq!(vars["today"], today);
    assert_eq!(vars["agentId"], c.agent_id.as_str());
    assert!(a.get("error").is_none());

    // Resolved by the dialled number alone too (no phoneNumberId).
    let mut bare = call("call-ar-2", "");
    bare.as_object_mut().unwrap().remove("phoneNumberId");
    let a = vapi_ok(
        &app,
        &message("assistant-request", &bare, &c.number, json!({})),
    )
    .await;
    assert!(a["assistant"].is_object(), "{a}");

    // An agent synced to Vapi is answered by its assistant id.
    let mut conn = app.db.admin_conn().await.unwrap();
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut conn,
        &format!(
            "UPDATE voice.agents SET vapi_assistant_id = 'asst-1' WHERE id = '{}'",
            c.agent_id
        ),
    )
    .await
    .unwrap();
    let a = vapi_ok(
        &app,
        &message(
            "assistant-request",
            &call("call-ar-3", &c.vapi_number_id),
            &c.number,
            json!({}),
        ),
    )
    .await;
    assert_eq!(a["assistantId"], "asst-1");
    assert_eq!(
        a["assistantOverrides"]["variableValues"]["clinicName"],
        "Cedar Point Physio"
    );

    // An unknown number gets an error Vapi can speak, and the request is recorded.
    let a = vapi_ok(
        &app,
        &message(
            "assistant-request",
            &call("call-ar-4", "pn-nobody"),
            "+15559999999",
            json!({}),
        ),
    )
    .await;
    assert_eq!(a, json!({"error": "Sorry, this line is not in service."}));
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM voice.webhook_deliveries WHERE outcome = 'unknown_tenant'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn tool_calls_accept_arguments_as_string_or_object_and_answer_results_in_order() {
    let app = spawn().await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let body = message(
        "tool-calls",
        &call("call-tc-1", &c.vapi_number_id),
        &c.number,
        json!({
            "toolCallList": [
                {"id": "call_str", "type": "function", "function": {"name": "take_message",
                    "arguments": "{\"message\":\"Please call me about my invoice\",\"name\":\"Jordan\"}"}},
                {"id": "call_obj", "type": "function", "function": {"name": "take_message",
                    "arguments": {"message": "Running ten minutes late", "callback_number": "+15550100999"}}},
                {"id": "call_unknown", "type": "function", "function": {"name": "launch_rocket", "arguments": {}}}
            ],
            "toolWithToolCallList": [], "toolCalls": [{"duplicate": "legacy copy"}]
        }),
    );
    let a = vapi_ok(&app, &body).await;
    let results = a["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["toolCallId"], "call_str");
    assert_eq!(results[0]["name"], "take_message");
    assert!(
        results[0]["result"]
            .as_str()
            .unwrap()
            .contains("passed your message"),
        "{a}"
    );
    assert_eq!(results[1]["toolCallId"], "call_obj");
    assert!(results[1]["result"].is_string());
    assert_eq!(results[2]["toolCallId"], "call_unknown");
    assert!(
        results[2]["error"].is_string() && results[2].get("result").is_none(),
        "{a}"
    );
    for r in results {
        let text = r
            .get("result")
            .or_else(|| r.get("error"))
            .unwrap()
            .as_str()
            .unwrap();
        assert!(!text.contains('\n'), "single-line answers");
    }
    // Both messages are stored, sealed; every invocation is recorded.
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM voice.call_messages").await,
        2
    );
    assert_eq!(count(&app, "SELECT count(*) AS n FROM voice.call_messages WHERE position('invoice'::bytea in ciphertext) > 0").await, 0);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM voice.tool_invocations").await,
        3
    );
}

#[tokio::test]
async fn transfer_destination_is_the_agents_number_or_an_error() {
    let app = spawn().await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let ask = message(
        "transfer-destination-request",
        &call("call-tr-1", &c.vapi_number_id),
        &c.number,
        json!({}),
    );
    let a = vapi_ok(&app, &ask).await;
    assert!(a["error"].is_string(), "no transfer number yet: {a}");
    let r = app
        .client
        .put(app.url(&format!("/api/voice/agents/{}", c.agent_id)))
        .bearer_auth(&c.admin)
        .json(&json!({"name": "Front desk", "transfer_number": "+15550123499"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let a = vapi_ok(&app, &ask).await;
    assert_eq!(a["destination"]["type"], "number");
    assert_eq!(a["destination"]["number"], "+15550123499");
    assert_eq!(a["message"]["type"], "request-start");
}

#[tokio::test]
async fn fire_and_forget_types_are_logged_and_answered_with_an_empty_object() {
    let app = spawn().await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let call = call("call-ff-1", &c.vapi_number_id);
    let kinds: Vec<(&str, Value)> = vec![
        ("status-update", json!({"status": "ringing"})),
        (
            "transcript",
            json!({"role": "user", "transcriptType": "final", "transcript": "hello"}),
        ),
        (
            "transcript[transcriptType=\"final\"]",
            json!({"role": "assistant", "transcriptType": "final", "transcript": "hi"}),
        ),
        ("hang", json!({})),
        ("conversation-update", json!({"messages": []})),
        (
            "speech-update",
            json!({"status": "started", "role": "user"}),
        ),
        ("user-interrupted", json!({})),
        (
            "a-type-vapi-invents-next-year",
            json!({"whatever": [1, 2, 3]}),
        ),
        (
            "end-of-call-report",
            json!({"endedReason": "an-ended-reason-not-in-any-enum", "artifact": {"transcript": "hello"}, "analysis": {"summary": "s"}}),
        ),
    ];
    for (kind, extra) in &kinds {
        let a = vapi_ok(&app, &message(kind, &call, &c.number, extra.clone())).await;
        assert_eq!(a, json!({}), "{kind}");
    }
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM voice.webhook_deliveries WHERE outcome = 'applied'"
        )
        .await,
        i64::try_from(kinds.len()).unwrap()
    );
    assert_eq!(count(&app, "SELECT count(*) AS n FROM voice.calls WHERE ended_reason = 'an-ended-reason-not-in-any-enum'").await, 1);
    // Payloads are sealed in the log.
    assert_eq!(count(&app, "SELECT count(*) AS n FROM voice.webhook_deliveries WHERE position('hello'::bytea in payload) > 0").await, 0);

    // The answer types other than ours, and the legacy function-call, get their documented shapes.
    let a = vapi_ok(
        &app,
        &message("knowledge-base-request", &call, &c.number, json!({})),
    )
    .await;
    assert!(a["documents"].is_array());
    let a = vapi_ok(
        &app,
        &message(
            "function-call",
            &call,
            &c.number,
            json!({"functionCall": {"name": "x", "parameters": {}}}),
        ),
    )
    .await;
    assert!(a["result"].is_string());
}

#[tokio::test]
async fn malformed_bodies_get_precise_problems() {
    let app = spawn().await;
    let send = |body: &'static str| {
        app.client
            .post(app.url("/api/webhooks/vapi"))
            .header("x-vapi-secret", SECRET)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(
        problem(send("{\"message\": ").await.unwrap(), 400).await["code"],
        "malformed_json"
    );
    let p = problem(send("{\"msg\": {}}").await.unwrap(), 422).await;
    assert_eq!(p["field"], "message");
    let p = problem(send("{\"message\": {\"call\": {}}}").await.unwrap(), 422).await;
    assert_eq!(p["field"], "message.type");
    let big = "x".repeat(9 * 1024 * 1024); // over VAPI_MAX_BODY_BYTES (default 8 MiB)
    let r = vapi(
        &app,
        &json!({"message": {"type": "transcript", "transcript": big}}),
    )
    .await;
    assert_eq!(problem(r, 413).await["code"], "payload_too_large");
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM voice.webhook_deliveries").await,
        0
    );
}

#[tokio::test]
async fn tools_the_agent_has_switched_off_are_refused() {
    let app = spawn().await;
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
        .json(&json!({"name": "Messages only", "enabled_tools": ["take_message"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let a = vapi_ok(&app, &message("tool-calls", &call("call-off-1", &c.vapi_number_id), &c.number, json!({"toolCallList": [
        {"id": "off_book", "type": "function", "function": {"name": "book_appointment", "arguments": {"start": "2026-12-03T15:00", "service": "x"}}},
        {"id": "on_msg", "type": "function", "function": {"name": "take_message", "arguments": {"message": "please call back"}}}]}))).await;
    assert!(
        a["results"][0]["error"]
            .as_str()
            .unwrap()
            .contains("can't do that on this line"),
        "{a}"
    );
    assert!(a["results"][1]["result"].is_string(), "{a}");
}

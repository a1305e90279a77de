//! The staff inbox of messages the agent took (issue 11 item 14b): staff list them newest first
//! (all or only the unhandled ones, one page at a time), read one, mark one handled; each one
//! taken is announced by `voice.message_taken.v1` without its text — and another org can
//! neither list, read nor mark them.

use std::time::Duration;

use serde_json::{Value, json};
use tenancy::Role;

use crate::helpers::{
    App, BusTap, CALLER, Clinic, call, clinic, get, get_json, message, post, problem, spawn,
    vapi_ok,
};

async fn take_message(app: &App, c: &Clinic, call_id: &str, text: &str) {
    let a = vapi_ok(app, &message("tool-calls", &call(call_id, &c.vapi_number_id), &c.number, json!({
        "toolCallList": [{"id": format!("tc-{call_id}"), "type": "function",
            "function": {"name": "take_message", "arguments": {"message": text, "name": "Jordan Reyes"}}}],
        "toolWithToolCallList": []}))).await;
    assert!(
        a["results"][0]["result"]
            .as_str()
            .unwrap()
            .contains("passed your message"),
        "{a}"
    );
}

#[tokio::test]
async fn staff_read_and_handle_messages_and_another_org_cannot() {
    let app = spawn().await;
    let a = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let b = clinic(&app, "Harbour Dental", "Europe/Lisbon", "+15550123401").await;
    let mut tap = BusTap::new(&app, &["voice.message_taken.v1"]).await;

    take_message(
        &app,
        &a,
        "call-inbox-1",
        "Please call me about my knee brace",
    )
    .await;
    take_message(
        &app,
        &a,
        "call-inbox-2",
        "Running ten minutes late on Thursday",
    )
    .await;

    // Each message taken is announced, with who to call back and never the text.
    for _ in 0..2 {
        let env = tap
            .next(Duration::from_secs(20))
            .await
            .expect("voice.message_taken.v1");
        assert_eq!(env["type"], "voice.message_taken.v1");
        assert_eq!(env["org_id"], a.org.to_string());
        assert_eq!(env["payload"]["callback_number"], CALLER);
        assert_eq!(env["payload"]["caller_name"], "Jordan Reyes");
        assert!(
            env["payload"]["message_id"].is_string() && env["payload"]["call_id"].is_string(),
            "{env}"
        );
        let wire = env.to_string();
        assert!(
            !wire.contains("knee") && !wire.contains("late"),
            "no message text on the bus: {wire}"
        );
    }

    let staff_claims = app.auth.user_claims(a.org, Role::Staff);
    let staff_id = staff_claims.sub.clone();
    let staff = app.auth.sign(&staff_claims);
    let all = get_json(&app, "/api/voice/messages", &staff).await;
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{all}");
    assert_eq!(
        items[0]["message"], "Running ten minutes late on Thursday",
        "newest first"
    );
    assert_eq!(items[1]["message"], "Please call me about my knee brace");
    assert_eq!(items[0]["caller_name"], "Jordan Reyes");
    assert_eq!(items[0]["callback_number"], CALLER);
    assert!(items[0]["call_id"].is_string());
    assert!(items.iter().all(|m| m["handled_at"].is_null()));

    // One page at a time.
    let p1 = get_json(&app, "/api/voice/messages?limit=1", &staff).await;
    assert_eq!(p1["items"].as_array().unwrap().len(), 1);
    let cursor = p1["next_cursor"].as_str().unwrap();
    let p2 = get_json(
        &app,
        &format!("/api/voice/messages?limit=1&cursor={cursor}"),
        &staff,
    )
    .await;
    assert_eq!(
        p2["items"][0]["message"],
        "Please call me about my knee brace"
    );
    assert!(p2["next_cursor"].is_null());

    // Mark the older one handled: who and when are kept; marking again changes nothing.
    let older = items[1]["id"].as_str().unwrap().to_string();
    let r = post(
        &app,
        &format!("/api/voice/messages/{older}/handled"),
        &staff,
        &json!({}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let handled: Value = r.json().await.unwrap();
    assert_eq!(handled["handled_by"], staff_id.as_str());
    let at = handled["handled_at"].as_str().unwrap().to_string();
    let other_staff = app.auth.token(a.org, Role::Admin);
    let again: Value = post(
        &app,
        &format!("/api/voice/messages/{older}/handled"),
        &other_staff,
        &json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(again["handled_at"], at.as_str());
    assert_eq!(again["handled_by"], staff_id.as_str());

    let open = get_json(&app, "/api/voice/messages?handled=false", &staff).await;
    let open = open["items"].as_array().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["message"], "Running ten minutes late on Thursday");
    let done = get_json(&app, "/api/voice/messages?handled=true", &staff).await;
    assert_eq!(done["items"][0]["id"], older.as_str());
    let one = get_json(&app, &format!("/api/voice/messages/{older}"), &staff).await;
    assert_eq!(one["message"], "Please call me about my knee brace");

    // Viewers do not read messages.
    let viewer = app.auth.token(a.org, Role::Viewer);
    assert_eq!(
        problem(get(&app, "/api/voice/messages", &viewer).await, 403).await["code"],
        "insufficient_role"
    );

    // Org B (even its owner) sees none of A's messages and cannot touch them.
    let b_owner = app.auth.token(b.org, Role::Owner);
    let theirs = get_json(&app, "/api/voice/messages", &b_owner).await;
    assert_eq!(theirs["items"], json!([]));
    let newer = open[0]["id"].as_str().unwrap();
    problem(
        get(&app, &format!("/api/voice/messages/{newer}"), &b_owner).await,
        404,
    )
    .await;
    problem(
        post(
            &app,
            &format!("/api/voice/messages/{newer}/handled"),
            &b_owner,
            &json!({}),
        )
        .await,
        404,
    )
    .await;
    let still = get_json(&app, "/api/voice/messages?handled=false", &staff).await;
    assert_eq!(
        still["items"][0]["id"], newer,
        "B's attempt changed nothing"
    );
    assert_eq!(
        problem(
            get(&app, "/api/voice/messages?handled=maybe", &staff).await,
            400
        )
        .await["code"],
        "invalid_query"
    );
}

#[tokio::test]
async fn staff_marking_one_message_at_once_keep_one_handler() {
    let app = spawn().await;
    let a = clinic(&app, "Cedar Point Physio", "Asia/Kathmandu", "+15550123400").await;
    take_message(
        &app,
        &a,
        "call-race-1",
        "Is the clinic open on the public holiday?",
    )
    .await;
    let staff = app.auth.token(a.org, Role::Staff);
    let id = get_json(&app, "/api/voice/messages", &staff).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let tokens: Vec<String> = (0..8).map(|_| app.auth.token(a.org, Role::Staff)).collect();
    let path = format!("/api/voice/messages/{id}/handled");
    let answers = futures_util::future::join_all(tokens.iter().map(|t| {
        let path = path.clone();
        let app = &app;
        async move {
            post(app, &path, t, &json!({}))
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    }))
    .await;
    let handlers: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|m| m["handled_by"].as_str().unwrap().to_string())
        .collect();
    let times: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|m| m["handled_at"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(handlers.len(), 1, "one handler is kept: {answers:?}");
    assert_eq!(times.len(), 1, "{answers:?}");
}

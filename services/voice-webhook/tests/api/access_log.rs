//! The PHI access log (issue 11 item 8, HIPAA §164.312(b)): every read of a transcript, a
//! recording URL or a message the agent took records who read what and when; admins list it
//! (others get 403); another org sees none of it; the service's database role cannot rewrite it.

use diesel_async::{AsyncConnection as _, RunQueryDsl as _};
use serde_json::{Value, json};
use tenancy::Role;

use crate::helpers::{call, clinic, count, get, get_json, message, problem, spawn, vapi_ok};

#[tokio::test]
async fn every_phi_read_is_logged_for_admins_of_that_org_only() {
    let app = spawn().await;
    let a = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let b = clinic(&app, "Harbour Dental", "Europe/Lisbon", "+15550123401").await;
    let c1 = call("call-phi-1", &a.vapi_number_id);
    vapi_ok(&app, &message("end-of-call-report", &c1, &a.number, json!({
        "endedReason": "customer-ended-call",
        "artifact": {"transcript": "User: my knee hurts", "recordingUrl": "https://storage.example/phi.wav"},
        "analysis": {"summary": "Knee pain."}}))).await;
    vapi_ok(&app, &message("tool-calls", &c1, &a.number, json!({"toolCallList": [{"id": "tc-phi", "type": "function",
        "function": {"name": "take_message", "arguments": {"message": "Call me about the knee"}}}]}))).await;

    let staff_claims = app.auth.user_claims(a.org, Role::Staff);
    let staff_id = staff_claims.sub.clone();
    let staff_session = staff_claims.session_id.unwrap().to_string();
    let staff = app.auth.sign(&staff_claims);
    let admin = app.auth.token(a.org, Role::Admin);
    let viewer = app.auth.token(a.org, Role::Viewer);
    let calls = get_json(&app, "/api/voice/calls", &staff).await;
    let call_id = calls["items"][0]["id"].as_str().unwrap().to_string();

    // Nothing read yet: nothing logged.
    let log = get_json(&app, "/api/voice/access-log", &admin).await;
    assert_eq!(log["items"], json!([]));

    // A viewer's call detail has no transcript and no recording link: nothing to log.
    let d = get_json(&app, &format!("/api/voice/calls/{call_id}"), &viewer).await;
    assert!(
        d.get("transcript").is_none() && d["recording_url"].is_null(),
        "{d}"
    );
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM voice.phi_access_log").await,
        0
    );

    // Staff read the transcript and recording, then the inbox.
    let d = get_json(&app, &format!("/api/voice/calls/{call_id}"), &staff).await;
    assert_eq!(d["transcript"], "User: my knee hurts");
    assert_eq!(d["recording_url"], "https://storage.example/phi.wav");
    let inbox = get_json(&app, "/api/voice/messages", &staff).await;
    let msg_id = inbox["items"][0]["id"].as_str().unwrap().to_string();

    let log = get_json(&app, "/api/voice/access-log", &admin).await;
    let items = log["items"].as_array().unwrap();
    let mut seen: Vec<(String, String)> = items
        .iter()
        .map(|e| {
            (
                e["resource_type"].as_str().unwrap().into(),
                e["resource_id"].as_str().unwrap().into(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("call_message".to_string(), msg_id.clone()),
            ("call_recording".to_string(), call_id.clone()),
            ("call_transcript".to_string(), call_id.clone()),
        ],
        "{log}"
    );
    for e in items {
        assert_eq!(e["user_id"], staff_id.as_str());
        assert_eq!(e["role"], "staff");
        assert_eq!(e["session_id"], staff_session.as_str());
        assert_eq!(e["action"], "read");
        assert_eq!(e["call_id"], call_id.as_str());
        assert!(e["accessed_at"].is_string());
    }
    assert_eq!(items[0]["resource_type"], "call_message", "newest first");

    // Filters and pages.
    let only = get_json(
        &app,
        "/api/voice/access-log?resource_type=call_message",
        &admin,
    )
    .await;
    assert_eq!(only["items"].as_array().unwrap().len(), 1);
    let p1 = get_json(&app, "/api/voice/access-log?limit=2", &admin).await;
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    let cursor = p1["next_cursor"].as_str().unwrap();
    let p2 = get_json(
        &app,
        &format!("/api/voice/access-log?limit=2&cursor={cursor}"),
        &admin,
    )
    .await;
    assert_eq!(p2["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        problem(
            get(
                &app,
                "/api/voice/access-log?resource_type=everything",
                &admin
            )
            .await,
            422
        )
        .await["field"],
        "resource_type"
    );

    // Only admins list it; another org's admin sees nothing of A's.
    assert_eq!(
        problem(get(&app, "/api/voice/access-log", &staff).await, 403).await["code"],
        "insufficient_role"
    );
    problem(get(&app, "/api/voice/access-log", &viewer).await, 403).await;
    let theirs = get_json(
        &app,
        "/api/voice/access-log",
        &app.auth.token(b.org, Role::Owner),
    )
    .await;
    assert_eq!(theirs["items"], json!([]));
    let theirs: Value = get_json(
        &app,
        &format!("/api/voice/access-log?call_id={call_id}"),
        &app.auth.token(b.org, Role::Admin),
    )
    .await;
    assert_eq!(theirs["items"], json!([]));
}

#[tokio::test]
async fn the_access_log_is_append_only_for_the_service_role_and_the_owner() {
    let app = spawn().await;
    let a = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    vapi_ok(
        &app,
        &message(
            "tool-calls",
            &call("call-ao-1", &a.vapi_number_id),
            &a.number,
            json!({"toolCallList": [{"id": "tc-ao", "type": "function",
        "function": {"name": "take_message", "arguments": {"message": "Please call back"}}}]}),
        ),
    )
    .await;
    get_json(
        &app,
        "/api/voice/messages",
        &app.auth.token(a.org, Role::Staff),
    )
    .await;
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM voice.phi_access_log").await,
        1
    );

    // The service's own login role, inside its tenant (RLS lets it see the row): it may read,
    // never change or remove an entry.
    let mut conn = app.db.service_conn().await.unwrap();
    let org = a.org.to_string();
    for sql in [
        "UPDATE voice.phi_access_log SET actor_role = 'owner'",
        "DELETE FROM voice.phi_access_log",
        "TRUNCATE voice.phi_access_log",
    ] {
        let set = format!("SELECT set_config('app.org_id', '{org}', true)");
        let r: Result<usize, diesel::result::Error> = conn
            .transaction(async move |c| {
                diesel::sql_query(set).execute(c).await?;
                diesel::sql_query(sql).execute(c).await
            })
            .await;
        let e = r.expect_err(sql).to_string();
        assert!(
            e.contains("permission denied") || e.contains("append-only"),
            "{sql}: {e}"
        );
    }
    // Not even a superuser (or the schema owner) rewrites it: a trigger refuses.
    let mut root = app.db.admin_conn().await.unwrap();
    for sql in [
        "UPDATE voice.phi_access_log SET actor_role = 'owner'",
        "DELETE FROM voice.phi_access_log",
        "TRUNCATE voice.phi_access_log",
    ] {
        let e = diesel::sql_query(sql)
            .execute(&mut root)
            .await
            .expect_err(sql)
            .to_string();
        assert!(e.contains("append-only"), "{sql}: {e}");
    }
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM voice.phi_access_log WHERE actor_role = 'staff'"
        )
        .await,
        1
    );
}

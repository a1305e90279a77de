//! Calls from status updates and end-of-call reports: monotonic status, one `call.started.v1`,
//! one `call.ended.v1`, duplicates applied once, and a report the database rejected stays in the
//! delivery log until `voice-webhook replay` applies it — once.

use std::time::Duration;

use runtime::Service as _;
use serde_json::{Value, json};
use tenancy::Role;
use voice_webhook::VoiceWebhook;

use crate::helpers::{BusTap, admin_exec, call, clinic, count, get_json, message, vapi_ok};

fn report(call: &Value, number: &str) -> Value {
    message(
        "end-of-call-report",
        call,
        number,
        json!({
            "endedReason": "customer-ended-call",
            "startedAt": "2026-11-22T14:20:05.000Z", "endedAt": "2026-11-22T14:24:17.000Z",
            "cost": 0.31,
            "artifact": {"transcript": "AI: Cedar Point Physio.\nUser: I'd like to book.", "recordingUrl": "https://storage.example/rec.wav",
                         "messages": [{"role": "user", "message": "I'd like to book."}]},
            "analysis": {"summary": "Caller asked to book.", "structuredData": {"intent": "book"}, "successEvaluation": "true"}
        }),
    )
}

#[tokio::test]
async fn status_is_monotonic_and_each_event_is_emitted_once() {
    let app = crate::helpers::spawn().await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let mut tap = BusTap::new(&app, &["call.started.v1", "call.ended.v1"]).await;
    let call = call("call-mono-1", &c.vapi_number_id);
    let status = |s: &str| message("status-update", &call, &c.number, json!({"status": s}));

    vapi_ok(&app, &status("ringing")).await;
    vapi_ok(&app, &status("in-progress")).await;
    vapi_ok(&app, &status("in-progress")).await; // a duplicate delivery
    vapi_ok(&app, &report(&call, &c.number)).await;
    vapi_ok(&app, &report(&call, &c.number)).await; // the report again
    // Out of order: statuses arriving after the report do not reopen the call.
    vapi_ok(&app, &status("forwarding")).await;
    vapi_ok(&app, &status("queued")).await;

    let list = get_json(&app, "/api/voice/calls", &c.admin).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let row = &items[0];
    assert_eq!(row["status"], "ended");
    assert_eq!(row["ended_reason"], "customer-ended-call");
    assert_eq!(row["duration_seconds"], 252);
    assert_eq!(row["from_number"], crate::helpers::CALLER);
    assert_eq!(row["to_number"], c.number.as_str());

    // Exactly one started and one ended event reach the broker, the ended one without transcript.
    let mut seen = Vec::new();
    while let Some(env) = tap
        .next(Duration::from_secs(if seen.len() < 2 { 20 } else { 2 }))
        .await
    {
        seen.push(env);
    }
    let types: Vec<&str> = seen.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["call.started.v1", "call.ended.v1"], "{seen:?}");
    let ended = &seen[1];
    assert_eq!(ended["org_id"], c.org.to_string());
    assert_eq!(ended["payload"]["vapi_call_id"], "call-mono-1");
    assert_eq!(ended["payload"]["duration_seconds"], 252);
    assert_eq!(ended["payload"]["caller_number"], crate::helpers::CALLER);
    assert!(
        !ended.to_string().contains("I'd like to book"),
        "no transcript in the event"
    );
    // Vapi's structured data and summary travel as `analysis` (lead-scoring scores from them).
    assert_eq!(ended["payload"]["analysis"]["intent"], "book");
    assert_eq!(
        ended["payload"]["analysis"]["summary"],
        "Caller asked to book."
    );
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM voice.webhook_deliveries").await,
        5,
        "duplicates are not logged twice"
    );

    // The detail has the decrypted transcript for staff; a viewer sees the call without it.
    let id = row["id"].as_str().unwrap();
    let detail = get_json(
        &app,
        &format!("/api/voice/calls/{id}"),
        &app.auth.token(c.org, Role::Staff),
    )
    .await;
    assert_eq!(
        detail["transcript"],
        "AI: Cedar Point Physio.\nUser: I'd like to book."
    );
    assert_eq!(detail["summary"], "Caller asked to book.");
    assert_eq!(detail["recording_url"], "https://storage.example/rec.wav");
    assert_eq!(detail["structured_data"]["intent"], "book");
    let detail = get_json(
        &app,
        &format!("/api/voice/calls/{id}"),
        &app.auth.token(c.org, Role::Viewer),
    )
    .await;
    assert!(detail.get("transcript").is_none(), "{detail}");
    assert_eq!(detail["summary"], "Caller asked to book.");
    assert_eq!(count(&app, "SELECT count(*) AS n FROM voice.call_transcripts WHERE position('book'::bytea in ciphertext) > 0").await, 0);
}

#[tokio::test]
async fn a_report_the_database_rejects_stays_logged_and_replay_applies_it_once() {
    let app = crate::helpers::spawn().await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let mut tap = BusTap::new(&app, &["call.ended.v1"]).await;
    let call = call("call-fail-1", &c.vapi_number_id);
    vapi_ok(
        &app,
        &message(
            "status-update",
            &call,
            &c.number,
            json!({"status": "in-progress"}),
        ),
    )
    .await;

    // The database refuses to record reports for now.
    admin_exec(&app, "CREATE FUNCTION voice.refuse_reports() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
        IF NEW.report_received THEN RAISE EXCEPTION 'reports are refused for this test'; END IF; RETURN NEW; END $$; \
        CREATE TRIGGER refuse_reports BEFORE UPDATE ON voice.calls FOR EACH ROW EXECUTE FUNCTION voice.refuse_reports();").await;
    let a = vapi_ok(&app, &report(&call, &c.number)).await;
    assert_eq!(
        a,
        json!({}),
        "Vapi still gets its 200: the report is safe in the log"
    );
    assert_eq!(count(&app, "SELECT count(*) AS n FROM voice.webhook_deliveries WHERE message_type = 'end-of-call-report' AND outcome = 'failed' AND error LIKE '%refused%' AND attempts = 1").await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM voice.calls WHERE report_received"
        )
        .await,
        0
    );

    // While the cause is there, a replay fails again and says so.
    let again = VoiceWebhook::command(
        app.settings.clone(),
        vec!["replay".into(), "--failed".into()],
    )
    .await;
    assert!(again.is_err());
    assert_eq!(count(&app, "SELECT count(*) AS n FROM voice.webhook_deliveries WHERE outcome = 'failed' AND attempts = 2").await, 1);

    admin_exec(
        &app,
        "DROP TRIGGER refuse_reports ON voice.calls; DROP FUNCTION voice.refuse_reports();",
    )
    .await;
    VoiceWebhook::command(
        app.settings.clone(),
        vec!["replay".into(), "--failed".into()],
    )
    .await
    .unwrap();
    assert_eq!(count(&app, "SELECT count(*) AS n FROM voice.calls WHERE report_received AND status = 'ended' AND summary = 'Caller asked to book.'").await, 1);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM voice.webhook_deliveries WHERE outcome = 'applied' AND message_type = 'end-of-call-report'").await, 1);

    // Replaying again (by id, or all failed) applies nothing a second time.
    let id: String = {
        use diesel_async::RunQueryDsl as _;
        #[derive(diesel::QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::Text)]
            id: String,
        }
        let mut conn = app.db.admin_conn().await.unwrap();
        diesel::sql_query("SELECT id::text AS id FROM voice.webhook_deliveries WHERE message_type = 'end-of-call-report'")
            .get_result::<Id>(&mut conn).await.unwrap().id
    };
    VoiceWebhook::command(
        app.settings.clone(),
        vec!["replay".into(), "--id".into(), id],
    )
    .await
    .unwrap();
    VoiceWebhook::command(
        app.settings.clone(),
        vec!["replay".into(), "--failed".into()],
    )
    .await
    .unwrap();
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM voice.outbox WHERE event_type = 'call.ended.v1'"
        )
        .await,
        1
    );
    let first = tap
        .next(Duration::from_secs(20))
        .await
        .expect("call.ended.v1 published");
    assert_eq!(first["payload"]["vapi_call_id"], "call-fail-1");
    assert!(
        tap.next(Duration::from_secs(2)).await.is_none(),
        "only one call.ended.v1"
    );
}

#[tokio::test]
async fn logged_reports_wait_for_a_worker_and_a_failing_one_does_not_hold_back_the_rest() {
    // A process that only logs (no apply workers): as if it stopped right after answering.
    let app = crate::helpers::spawn_with(&[("VOICE_APPLY_WORKERS", "0")]).await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    admin_exec(&app, "CREATE FUNCTION voice.refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
        IF NEW.report_received AND NEW.vapi_call_id = 'call-batch-2' THEN RAISE EXCEPTION 'refused for this test'; END IF; RETURN NEW; END $$; \
        CREATE TRIGGER refuse_one BEFORE UPDATE ON voice.calls FOR EACH ROW EXECUTE FUNCTION voice.refuse_one();").await;
    for i in 1..=3 {
        let r = crate::helpers::vapi(
            &app,
            &report(
                &call(&format!("call-batch-{i}"), &c.vapi_number_id),
                &c.number,
            ),
        )
        .await;
        assert_eq!(r.status(), 200, "answered once logged");
    }
    // Vapi has its answers; the reports are in the log, applied by nobody yet.
    assert_eq!(count(&app, "SELECT count(*) AS n FROM voice.webhook_deliveries WHERE outcome = 'received' AND message_type = 'end-of-call-report'").await, 3);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM voice.calls").await,
        0
    );

    // A process with a worker (as after a restart) applies what was waiting, in one batch: the
    // report the database refuses is recorded failed, the two others are applied.
    let mut settings = app.settings.clone();
    settings.own.apply_workers = 1;
    let handle = VoiceWebhook::build(settings).await.unwrap();
    let server = handle.server.handle();
    tokio::spawn(handle.server);
    crate::helpers::settled(&app).await;
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM voice.calls WHERE report_received AND status = 'ended'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM voice.calls WHERE vapi_call_id = 'call-batch-2'"
        )
        .await,
        0
    );
    assert_eq!(count(&app, "SELECT count(*) AS n FROM voice.webhook_deliveries WHERE outcome = 'failed' AND vapi_call_id = 'call-batch-2' AND error LIKE '%refused for this test%'").await, 1);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM voice.webhook_deliveries WHERE outcome = 'applied' AND message_type = 'end-of-call-report'").await, 2);
    server.stop(false).await;
}

//! Sending through the fake Twilio: stored first, then one create per message (form encoded,
//! basic auth); 429/5xx retried; a timeout resolved by lookup with exactly one message at Twilio;
//! permanent codes end `failed` with the code and a reason; 21610 records the opt-out; no account
//! means `simulated`; idempotency keys; bodies sealed; list filters, cursor and isolation.

use serde_json::{Value, json};
use tenancy::Role;

use crate::fake_twilio::{ACCOUNT_SID, FROM, FakeTwilio, Next};
use crate::helpers::{
    PUBLIC, caller, connect, count, get, get_json, post, problem, send, spawn, wait_status,
};

const TO: &str = "+15550100123";

#[tokio::test]
async fn a_send_reaches_twilio_once_with_the_documented_form() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    connect(&app, &admin).await;
    let m = send(
        &app,
        &admin.token,
        TO,
        "Your appointment is tomorrow at 9:00 AM",
    )
    .await;
    assert!(
        matches!(
            m["status"].as_str(),
            Some("pending" | "dispatching" | "queued")
        ),
        "{m}"
    );
    let id = m["id"].as_str().unwrap();
    let done = wait_status(&app, &admin.token, id, "queued").await;
    let sid = done["message"]["twilio_sid"].as_str().unwrap();
    assert!(sid.starts_with("SM"));
    assert_eq!(done["message"]["from"], FROM);
    let statuses: Vec<&str> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pending", "queued"]);

    let reqs = fake.create_requests().await;
    assert_eq!(reqs.len(), 1);
    let form = &reqs[0];
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("To"), Some(TO));
    assert_eq!(get("From"), Some(FROM));
    assert_eq!(get("Body"), Some("Your appointment is tomorrow at 9:00 AM"));
    assert_eq!(
        get("StatusCallback").unwrap(),
        format!("{PUBLIC}/api/webhooks/twilio/{}/status", admin.org)
    );
    let raw = fake.server.received_requests().await.unwrap();
    let create = raw.iter().find(|r| r.method.as_str() == "POST").unwrap();
    assert_eq!(
        create.url.path(),
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
    );
    assert_eq!(
        create.headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );

    // The body is sealed at rest.
    let n = count(&app, "SELECT count(*) AS n FROM messaging.messages WHERE position(convert_to('Your appointment', 'UTF8') in body_sealed) > 0").await;
    assert_eq!(n, 0);
}

#[tokio::test]
async fn without_an_account_messages_are_simulated_and_listed() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let staff = caller(&app, Role::Staff);
    let m = send(&app, &staff.token, TO, "hello").await;
    assert_eq!(m["status"], "simulated");
    let list = get_json(&app, "/api/messaging/messages", &staff.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["body"], "hello");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(fake.create_requests().await.is_empty());
}

#[tokio::test]
async fn a_429_then_success_sends_once() {
    let fake = FakeTwilio::start().await;
    fake.script(vec![Next::Status(429), Next::Status(503)]);
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    connect(&app, &admin).await;
    let m = send(&app, &admin.token, TO, "retry me").await;
    let done = wait_status(&app, &admin.token, m["id"].as_str().unwrap(), "queued").await;
    assert_eq!(done["message"]["attempts"], 3);
    assert_eq!(fake.create_requests().await.len(), 3);
    assert_eq!(fake.created().len(), 1, "exactly one message at Twilio");
    let retries = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["source"] == "retry")
        .count();
    assert_eq!(retries, 2);
}

#[tokio::test]
async fn a_timeout_is_resolved_by_lookup_not_by_sending_again() {
    let fake = FakeTwilio::start().await;
    fake.script(vec![Next::CreateThenTimeout]);
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    connect(&app, &admin).await;
    let m = send(&app, &admin.token, TO, "did it go?").await;
    let done = wait_status(&app, &admin.token, m["id"].as_str().unwrap(), "queued").await;
    assert_eq!(fake.created().len(), 1, "exactly one message at Twilio");
    assert_eq!(fake.create_requests().await.len(), 1, "never sent again");
    assert!(fake.lookups().await >= 1);
    assert_eq!(done["message"]["twilio_sid"], fake.created()[0]["sid"]);
    let sources: Vec<&str> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["pending", "unknown", "queued"]);
}

#[tokio::test]
async fn a_timeout_with_nothing_at_twilio_is_sent_once_more() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    connect(&app, &admin).await;
    // The request times out and Twilio never created the message: the lookup finds nothing,
    // so the dispatcher sends again — once.
    fake.script(vec![Next::TimeoutWithoutCreate]);
    let m = send(&app, &admin.token, TO, "lost in transit").await;
    let id = m["id"].as_str().unwrap().to_string();
    let done = wait_status(&app, &admin.token, &id, "queued").await;
    assert_eq!(fake.created().len(), 1);
    assert_eq!(fake.create_requests().await.len(), 2);
    assert!(fake.lookups().await >= 1);
    assert_eq!(done["message"]["twilio_sid"], fake.created()[0]["sid"]);
    let statuses: Vec<&str> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pending", "unknown", "queued"]);
}

#[tokio::test]
async fn permanent_errors_fail_with_code_and_reason_and_21610_opts_out() {
    let fake = FakeTwilio::start().await;
    fake.script(vec![Next::Error(400, 21211), Next::Error(400, 21610)]);
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    connect(&app, &admin).await;
    let bad = send(&app, &admin.token, "+15005550001", "x").await;
    let bad = wait_status(&app, &admin.token, bad["id"].as_str().unwrap(), "failed").await;
    assert_eq!(bad["message"]["error_code"], "21211");
    assert!(
        bad["message"]["error_reason"]
            .as_str()
            .unwrap()
            .contains("not a valid phone number")
    );

    let stop = send(&app, &admin.token, "+15005550004", "y").await;
    let stop = wait_status(&app, &admin.token, stop["id"].as_str().unwrap(), "failed").await;
    assert_eq!(stop["message"]["error_code"], "21610");
    assert_eq!(fake.create_requests().await.len(), 2, "never retried");
    let opt = get_json(&app, "/api/messaging/opt-outs", &admin.token).await;
    assert_eq!(opt["items"][0]["phone"], "+15005550004");
    assert_eq!(opt["items"][0]["source"], "twilio_21610");
    // The next send to that number is refused before Twilio.
    let r = post(
        &app,
        "/api/messaging/messages",
        &admin.token,
        &json!({"to": "+15005550004", "body": "z"}),
    )
    .await;
    assert_eq!(problem(r, 422).await["code"], "contact_opted_out");
    assert_eq!(fake.create_requests().await.len(), 2);
    // message.failed.v1 and contact.opted_out.v1 are in the outbox.
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM messaging.outbox WHERE event_type = 'message.failed.v1'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM messaging.outbox WHERE event_type = 'contact.opted_out.v1'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_reuse() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    connect(&app, &admin).await;
    let body = json!({"to": TO, "body": "once"});
    let first = app
        .client
        .post(app.url("/api/messaging/messages"))
        .bearer_auth(&admin.token)
        .header("Idempotency-Key", "k-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again = app
        .client
        .post(app.url("/api/messaging/messages"))
        .bearer_auth(&admin.token)
        .header("Idempotency-Key", "k-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    let other = app
        .client
        .post(app.url("/api/messaging/messages"))
        .bearer_auth(&admin.token)
        .header("Idempotency-Key", "k-1")
        .json(&json!({"to": TO, "body": "twice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(other, 422).await["code"], "idempotency_key_reused");
    wait_status(&app, &admin.token, first["id"].as_str().unwrap(), "queued").await;
    assert_eq!(fake.create_requests().await.len(), 1);
}

#[tokio::test]
async fn bad_input_is_refused_precisely() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let staff = caller(&app, Role::Staff);
    for (body, code) in [
        (json!({"to": "5550100123", "body": "x"}), "invalid_field"),
        (json!({"to": TO}), "invalid_field"),
        (
            json!({"to": TO, "body": "x", "template_key": "appointment_reminder"}),
            "invalid_field",
        ),
        (json!({"to": TO, "body": "x".repeat(1601)}), "invalid_field"),
        (
            json!({"to": TO, "body": "x", "channel": "fax"}),
            "invalid_field",
        ),
        (
            json!({"to": TO, "template_key": "appointment_reminder", "variables": {"ssn": "1"}}),
            "invalid_field",
        ),
        (
            json!({"to": TO, "body": "x", "channel": "whatsapp"}),
            "whatsapp_window_closed",
        ),
    ] {
        let r = post(&app, "/api/messaging/messages", &staff.token, &body).await;
        assert_eq!(problem(r, 422).await["code"], code, "{body}");
    }
    let r = post(
        &app,
        "/api/messaging/messages",
        &staff.token,
        &json!({"to": TO, "template_key": "no_such"}),
    )
    .await;
    problem(r, 404).await;
    let r = app
        .client
        .post(app.url("/api/messaging/messages"))
        .bearer_auth(&staff.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16() / 100, 4);
    let _ = r.text().await;
    let viewer = caller(&app, Role::Viewer);
    let r = post(
        &app,
        "/api/messaging/messages",
        &viewer.token,
        &json!({"to": TO, "body": "x"}),
    )
    .await;
    problem(r, 403).await;
    for q in [
        "limit=0",
        "cursor=forged",
        "phone=123",
        "direction=sideways",
    ] {
        let r = get(&app, &format!("/api/messaging/messages?{q}"), &staff.token).await;
        assert_eq!(problem(r, 422).await["code"], "invalid_query", "{q}");
    }
}

#[tokio::test]
async fn templates_render_into_the_sent_text() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    let r = app
        .client
        .put(app.url("/api/messaging/templates/appointment_reminder"))
        .bearer_auth(&admin.token)
        .json(&json!({"body": "Hi {{patient_first_name}}, see you {{appointment_local_time}}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = r.text().await;
    let r = post(
        &app,
        "/api/messaging/messages",
        &admin.token,
        &json!({"to": TO, "template_key": "appointment_reminder",
        "variables": {"patient_first_name": "Jordan", "appointment_local_time": "9:00 AM"}}),
    )
    .await;
    assert_eq!(r.status(), 202);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["body"], "Hi Jordan, see you 9:00 AM");
    // Unknown variables are refused when saving.
    let r = app
        .client
        .put(app.url("/api/messaging/templates/appointment_reminder"))
        .bearer_auth(&admin.token)
        .json(&json!({"body": "Hi {{ssn}}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 422).await["code"], "invalid_template");
    // Preview: GSM-7 vs UCS-2 segments.
    let p: Value = post(&app, "/api/messaging/templates/preview", &admin.token,
        &json!({"body": "Hi {{patient_first_name}}!", "variables": {"patient_first_name": "Jordan"}})).await.json().await.unwrap();
    assert_eq!(
        (
            p["text"].as_str(),
            p["encoding"].as_str(),
            p["segments"].as_u64()
        ),
        (Some("Hi Jordan!"), Some("GSM-7"), Some(1))
    );
    let p: Value = post(
        &app,
        "/api/messaging/templates/preview",
        &admin.token,
        &json!({"body": format!("{}✓", "a".repeat(70))}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (p["encoding"].as_str(), p["segments"].as_u64()),
        (Some("UCS-2"), Some(2))
    );
    let list = get_json(&app, "/api/messaging/templates", &admin.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let other = caller(&app, Role::Admin);
    assert!(
        get_json(&app, "/api/messaging/templates", &other.token).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_list_filters_pages_and_stays_inside_the_org() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let a = caller(&app, Role::Staff);
    let b = caller(&app, Role::Staff);
    let mut ids = Vec::new();
    for i in 0..5 {
        let to = if i % 2 == 0 { TO } else { "+15550100999" };
        ids.push(
            send(&app, &a.token, to, &format!("m{i}")).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let b_msg = send(&app, &b.token, TO, "b's").await;

    let page1 = get_json(&app, "/api/messaging/messages?limit=2", &a.token).await;
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    assert_eq!(page1["items"][0]["id"], ids[4].as_str());
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2 = get_json(
        &app,
        &format!("/api/messaging/messages?limit=2&cursor={cursor}"),
        &a.token,
    )
    .await;
    assert_eq!(page2["items"][0]["id"], ids[2].as_str());
    let by_phone = get_json(
        &app,
        "/api/messaging/messages?phone=%2B15550100123&status=simulated&direction=outbound",
        &a.token,
    )
    .await;
    assert_eq!(by_phone["items"].as_array().unwrap().len(), 3);

    // B sees only its own message, and not A's by id.
    let list_b = get_json(&app, "/api/messaging/messages", &b.token).await;
    assert_eq!(list_b["items"].as_array().unwrap().len(), 1);
    assert_eq!(list_b["items"][0]["id"], b_msg["id"]);
    problem(
        get(
            &app,
            &format!("/api/messaging/messages/{}", ids[0]),
            &b.token,
        )
        .await,
        404,
    )
    .await;
    let detail = get_json(
        &app,
        &format!("/api/messaging/messages/{}", ids[0]),
        &a.token,
    )
    .await;
    assert_eq!(detail["message"]["body"], "m0");
}

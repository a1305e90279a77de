//! Twilio's webhooks: status callbacks move a message forward only (out of order and duplicates
//! are safe); forged, unsigned, wrong-org and wrong-URL callbacks are 403 and change nothing; org
//! A's URL cannot touch org B's messages even with B's SIDs; a JSON body is checked with
//! `bodySHA256`; inbound STOP / START / HELP act on the opt-out list and answer.

use serde_json::{Value, json};
use tenancy::Role;

use crate::fake_twilio::{
    ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN,
};
use crate::helpers::{
    App, Caller, PUBLIC, caller, connect, count, eventually, get_json, post, problem, send, spawn,
    wait_status, webhook, webhook_signed_for,
};

const TO: &str = "+15550100123";

async fn sent_message(app: &App, c: &Caller) -> (String, String) {
    let m = send(app, &c.token, TO, "status me").await;
    let id = m["id"].as_str().unwrap().to_string();
    let done = wait_status(app, &c.token, &id, "queued").await;
    (
        id,
        done["message"]["twilio_sid"].as_str().unwrap().to_string(),
    )
}

fn status_params<'a>(sid: &'a str, status: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("From", "+15005550006"),
        ("MessageSid", sid),
        ("MessageStatus", status),
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("To", TO),
    ]
}

async fn detail(app: &App, c: &Caller, id: &str) -> Value {
    get_json(app, &format!("/api/messaging/messages/{id}"), &c.token).await
}

#[tokio::test]
async fn callbacks_only_move_forward() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    connect(&app, &admin).await;
    let (id, sid) = sent_message(&app, &admin).await;
    let path = format!("/api/webhooks/twilio/{}/status", admin.org);

    // delivered arrives before sent (Twilio says callbacks may come out of order), then twice.
    for st in ["delivered", "sent", "delivered", "queued"] {
        let r = webhook(&app, &path, &status_params(&sid, st), Some(AUTH_TOKEN)).await;
        assert_eq!(r.status(), 200, "{st}");
    }
    let d = detail(&app, &admin, &id).await;
    assert_eq!(d["message"]["status"], "delivered");
    let applied: Vec<&str> = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["applied"] == true)
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(applied, ["pending", "queued", "delivered"]);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM messaging.outbox WHERE event_type = 'message.delivered.v1'"
        )
        .await,
        1
    );

    // A later failure does not overwrite delivered (same rank).
    let mut failed = status_params(&sid, "failed");
    failed.push(("ErrorCode", "30003"));
    assert_eq!(
        webhook(&app, &path, &failed, Some(AUTH_TOKEN))
            .await
            .status(),
        200
    );
    assert_eq!(
        detail(&app, &admin, &id).await["message"]["status"],
        "delivered"
    );
}

#[tokio::test]
async fn undelivered_records_the_code_and_emits_message_failed() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    connect(&app, &admin).await;
    let (id, sid) = sent_message(&app, &admin).await;
    let path = format!("/api/webhooks/twilio/{}/status", admin.org);
    webhook(&app, &path, &status_params(&sid, "sent"), Some(AUTH_TOKEN)).await;
    let mut p = status_params(&sid, "undelivered");
    p.push(("ErrorCode", "30006"));
    assert_eq!(
        webhook(&app, &path, &p, Some(AUTH_TOKEN)).await.status(),
        200
    );
    let d = detail(&app, &admin, &id).await;
    assert_eq!(d["message"]["status"], "undelivered");
    assert_eq!(d["message"]["error_code"], "30006");
    assert!(
        d["message"]["error_reason"]
            .as_str()
            .unwrap()
            .contains("landline")
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM messaging.outbox WHERE event_type = 'message.failed.v1'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn forged_unsigned_wrong_org_and_wrong_url_callbacks_are_403_and_change_nothing() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let a = caller(&app, Role::Admin);
    connect(&app, &a).await;
    let b = caller(&app, Role::Admin);
    let r = app.client.put(app.url("/api/messaging/twilio")).bearer_auth(&b.token)
        .json(&json!({"account_sid": OTHER_ACCOUNT_SID, "auth_token": OTHER_AUTH_TOKEN, "from_number": "+15005550006"}))
        .send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (b_id, b_sid) = sent_message(&app, &b).await;
    let a_path = format!("/api/webhooks/twilio/{}/status", a.org);
    let b_path = format!("/api/webhooks/twilio/{}/status", b.org);
    let events_before = count(&app, "SELECT count(*) AS n FROM messaging.message_events").await;

    let cases: Vec<(&str, reqwest::Response)> = vec![
        (
            "unsigned",
            webhook(&app, &b_path, &status_params(&b_sid, "delivered"), None).await,
        ),
        (
            "forged (wrong key)",
            webhook(
                &app,
                &b_path,
                &status_params(&b_sid, "delivered"),
                Some("not-the-token"),
            )
            .await,
        ),
        (
            "signed with A's token on B's URL",
            webhook(
                &app,
                &b_path,
                &status_params(&b_sid, "delivered"),
                Some(AUTH_TOKEN),
            )
            .await,
        ),
        (
            "signed for another URL",
            webhook_signed_for(
                &app,
                &b_path,
                &format!("{PUBLIC}/api/webhooks/twilio/{}/inbound", b.org),
                &status_params(&b_sid, "delivered"),
                Some(OTHER_AUTH_TOKEN),
            )
            .await,
        ),
        (
            "signed for another host",
            webhook_signed_for(
                &app,
                &b_path,
                &format!("https://evil.example.com{b_path}"),
                &status_params(&b_sid, "delivered"),
                Some(OTHER_AUTH_TOKEN),
            )
            .await,
        ),
        (
            "unknown org",
            webhook(
                &app,
                &format!("/api/webhooks/twilio/{}/status", uuid::Uuid::new_v4()),
                &status_params(&b_sid, "delivered"),
                Some(OTHER_AUTH_TOKEN),
            )
            .await,
        ),
    ];
    for (what, r) in cases {
        assert_eq!(problem(r, 403).await["code"], "invalid_signature", "{what}");
    }
    // A tampered body under a valid signature.
    let params = status_params(&b_sid, "sent");
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    let sig =
        messaging::domain::signature::sign(OTHER_AUTH_TOKEN, &format!("{PUBLIC}{b_path}"), &owned);
    let tampered = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(status_params(&b_sid, "delivered"))
        .finish();
    let r = app
        .client
        .post(app.url(&b_path))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sig)
        .body(tampered)
        .send()
        .await
        .unwrap();
    problem(r, 403).await;

    // Org A's own, validly signed URL naming B's SID changes nothing of B's.
    let r = webhook(
        &app,
        &a_path,
        &status_params(&b_sid, "delivered"),
        Some(AUTH_TOKEN),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM messaging.message_events").await,
        events_before
    );
    assert_eq!(detail(&app, &b, &b_id).await["message"]["status"], "queued");

    // B's genuine callback still works.
    assert_eq!(
        webhook(
            &app,
            &b_path,
            &status_params(&b_sid, "delivered"),
            Some(OTHER_AUTH_TOKEN)
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        detail(&app, &b, &b_id).await["message"]["status"],
        "delivered"
    );
}

#[tokio::test]
async fn a_json_body_is_checked_with_its_body_sha256() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    connect(&app, &admin).await;
    let (id, sid) = sent_message(&app, &admin).await;
    let body = serde_json::to_vec(
        &json!({"MessageSid": sid, "MessageStatus": "sent", "AccountSid": ACCOUNT_SID}),
    )
    .unwrap();
    let hex = messaging::domain::signature::sha256_hex(&body);
    let path = format!("/api/webhooks/twilio/{}/status?bodySHA256={hex}", admin.org);
    let sig = messaging::domain::signature::sign(AUTH_TOKEN, &format!("{PUBLIC}{path}"), &[]);
    let post_json = |b: Vec<u8>, s: String| {
        app.client
            .post(app.url(&path))
            .header("content-type", "application/json")
            .header("x-twilio-signature", s)
            .body(b)
            .send()
    };
    // Another body under the same signed URL: refused.
    let other =
        serde_json::to_vec(&json!({"MessageSid": sid, "MessageStatus": "delivered"})).unwrap();
    problem(post_json(other, sig.clone()).await.unwrap(), 403).await;
    assert_eq!(
        detail(&app, &admin, &id).await["message"]["status"],
        "queued"
    );
    assert_eq!(post_json(body, sig).await.unwrap().status(), 200);
    assert_eq!(detail(&app, &admin, &id).await["message"]["status"], "sent");
}

fn inbound_params<'a>(sid: &'a str, from: &'a str, body: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("Body", body),
        ("From", from),
        ("FromCountry", "US"),
        ("MessageSid", sid),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsSid", sid),
        ("To", "+15005550006"),
    ]
}

#[tokio::test]
async fn stop_refuses_sends_without_calling_twilio_start_re_enables_help_answers() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    connect(&app, &admin).await;
    let path = format!("/api/webhooks/twilio/{}/inbound", admin.org);
    let sid1 = format!("SM{}", uuid::Uuid::new_v4().simple());

    let r = webhook(
        &app,
        &path,
        &inbound_params(&sid1, TO, "stop"),
        Some(AUTH_TOKEN),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("<Response>"));
    // The same delivery again (Twilio retries): stored once.
    assert_eq!(
        webhook(
            &app,
            &path,
            &inbound_params(&sid1, TO, "stop"),
            Some(AUTH_TOKEN)
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM messaging.messages WHERE direction = 'inbound'"
        )
        .await,
        1
    );

    let opt = get_json(&app, "/api/messaging/opt-outs", &admin.token).await;
    assert_eq!(opt["items"][0]["phone"], TO);
    assert_eq!(opt["items"][0]["keyword"], "STOP");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM messaging.outbox WHERE event_type = 'contact.opted_out.v1'"
        )
        .await,
        1
    );
    let r = post(
        &app,
        "/api/messaging/messages",
        &admin.token,
        &json!({"to": TO, "body": "are you there?"}),
    )
    .await;
    assert_eq!(problem(r, 422).await["code"], "contact_opted_out");
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    assert!(
        fake.create_requests().await.is_empty(),
        "Twilio never called"
    );

    // START re-enables the number (audited).
    let sid2 = format!("SM{}", uuid::Uuid::new_v4().simple());
    webhook(
        &app,
        &path,
        &inbound_params(&sid2, TO, "START"),
        Some(AUTH_TOKEN),
    )
    .await;
    assert!(
        get_json(&app, "/api/messaging/opt-outs", &admin.token).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let audit = get_json(
        &app,
        &format!("/api/messaging/opt-outs/{}/audit", "%2B15550100123"),
        &admin.token,
    )
    .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["opt_out", "opt_in"]);
    let m = send(&app, &admin.token, TO, "welcome back").await;
    wait_status(&app, &admin.token, m["id"].as_str().unwrap(), "queued").await;

    let sid3 = format!("SM{}", uuid::Uuid::new_v4().simple());
    webhook(
        &app,
        &path,
        &inbound_params(&sid3, TO, "HELP"),
        Some(AUTH_TOKEN),
    )
    .await;
    let replies = eventually(
        "the HELP answer reaches Twilio",
        || fake.create_requests(),
        |r| r.len() >= 2,
    )
    .await;
    let help = &replies[1];
    let body = help.iter().find(|(k, _)| k == "Body").unwrap().1.clone();
    assert!(body.contains("Reply STOP"), "{body}");
    assert_eq!(help.iter().find(|(k, _)| k == "To").unwrap().1, TO);

    // Another org's list shows none of this.
    let other = caller(&app, Role::Admin);
    let list = get_json(&app, "/api/messaging/messages", &other.token).await;
    assert!(list["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn admins_edit_opt_outs_and_every_change_is_audited() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    let r = post(
        &app,
        "/api/messaging/opt-outs",
        &admin.token,
        &json!({"phone": TO}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let r = post(
        &app,
        "/api/messaging/opt-outs",
        &admin.token,
        &json!({"phone": TO}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = post(
        &app,
        "/api/messaging/opt-outs",
        &admin.token,
        &json!({"phone": "555"}),
    )
    .await;
    problem(r, 422).await;
    let staff = crate::helpers::same_org(&app, admin.org, Role::Staff);
    problem(
        post(
            &app,
            "/api/messaging/opt-outs",
            &staff.token,
            &json!({"phone": TO}),
        )
        .await,
        403,
    )
    .await;
    // Another org cannot remove it.
    let other = caller(&app, Role::Admin);
    let r = app
        .client
        .delete(app.url("/api/messaging/opt-outs/%2B15550100123"))
        .bearer_auth(&other.token)
        .send()
        .await
        .unwrap();
    problem(r, 404).await;
    let r = app
        .client
        .delete(app.url("/api/messaging/opt-outs/%2B15550100123"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let audit = get_json(
        &app,
        "/api/messaging/opt-outs/%2B15550100123/audit",
        &admin.token,
    )
    .await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(
        items
            .iter()
            .all(|a| a["source"] == "admin" && a["actor_user_id"].is_string())
    );
    assert!(
        get_json(
            &app,
            "/api/messaging/opt-outs/%2B15550100123/audit",
            &other.token
        )
        .await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_reply_c_to_an_appointment_text_emits_the_confirmation_for_calendar() {
    use crate::consumer::{details, publish};
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    connect(&app, &admin).await;
    let appt = uuid::Uuid::new_v4();
    let start = (chrono::Utc::now().date_naive() + chrono::Duration::days(3))
        .and_hms_opt(15, 0, 0)
        .unwrap()
        .and_utc();
    let booked = events::AppointmentBookedV1 {
        appointment: details(appt, start, 1),
    };
    publish(
        &app,
        &events::Envelope::new(admin.org.as_uuid(), &booked, None).unwrap(),
    )
    .await;
    eventually(
        "the confirmation is sent",
        || fake.create_requests(),
        |r| r.len() == 1,
    )
    .await;

    let path = format!("/api/webhooks/twilio/{}/inbound", admin.org);
    // A C from a number with no appointment text confirms nothing.
    let sid0 = format!("SM{}", uuid::Uuid::new_v4().simple());
    webhook(
        &app,
        &path,
        &inbound_params(&sid0, "+15550100444", "C"),
        Some(AUTH_TOKEN),
    )
    .await;
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    let r = webhook(
        &app,
        &path,
        &inbound_params(&sid, TO, " c "),
        Some(AUTH_TOKEN),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sql = format!(
        "SELECT count(*) AS n FROM messaging.outbox WHERE event_type = 'appointment.reply_confirmed.v1' AND payload->>'appointment_id' = '{appt}'"
    );
    assert_eq!(count(&app, &sql).await, 1);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM messaging.outbox WHERE event_type = 'appointment.reply_confirmed.v1'").await, 1);
    let replies = eventually(
        "the thank-you reaches Twilio",
        || fake.create_requests(),
        |r| r.len() == 2,
    )
    .await;
    assert!(
        replies[1]
            .iter()
            .any(|(k, v)| k == "Body" && v.contains("confirmed"))
    );
}

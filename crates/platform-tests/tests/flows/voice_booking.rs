// Moved from services/voice-webhook/tests/api/booking.rs (it starts the calendar service).
//! A booking call end to end against the REAL calendar service (both apps mint tokens from one
//! test JWKS): availability, the booking (retried by Vapi: one appointment, the same sentence),
//! the appointment in calendar's database, the caller's appointments, and `call.ended.v1` on
//! the bus with `booked: true`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::helpers::{
    BusTap, CALLER, call, clinic, message, org_created, seeded_service, spawn_shared, vapi_ok,
};

#[tokio::test]
async fn a_booking_call_end_to_end_against_the_real_calendar() {
    let auth = Arc::new(testkit::TestAuth::start().await);
    let cal = testkit::spawn_app_with::<calendar::Calendar>(
        auth.clone(),
        &[("BUS_RELAY_POLL_MS", "100")],
    )
    .await;
    let token = auth.service_token("voice-webhook");
    let app = spawn_shared(
        auth.clone(),
        &[
            ("CALENDAR_INTERNAL_URL", cal.address.as_str()),
            ("CALENDAR_SERVICE_TOKEN", token.as_str()),
        ],
    )
    .await;
    let c = clinic(
        &app,
        "Cedar Point Dental",
        "America/New_York",
        "+15550123400",
    )
    .await;
    // Calendar learns of the org the way it does in production: org.created.v1 on its bus.
    org_created(&cal, c.org, "Cedar Point Dental", "America/New_York").await;
    let internal = format!("{}/internal/v1/orgs/{}", cal.address, c.org);
    let cleaning = seeded_service(&cal, c.org, &token, "Cleaning").await;

    let mut tap = BusTap::new(&app, &["call.ended.v1"]).await;
    let call = call("call-e2e-1", &c.vapi_number_id);
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

    // 1. Availability, spoken in clinic time.
    let a = vapi_ok(
        &app,
        &message(
            "tool-calls",
            &call,
            &c.number,
            json!({"toolCallList": [{"id": "call_e2e_avail", "type": "function",
        "function": {"name": "check_availability", "arguments": "{\"service\":\"cleaning\"}"}}]}),
        ),
    )
    .await;
    let said = a["results"][0]["result"]
        .as_str()
        .unwrap_or_else(|| panic!("{a}"));
    assert!(said.starts_with("Cleaning is available on "), "{said}");

    // 2. The caller takes the first offered time: book it, and Vapi delivers the same call twice.
    let slots: Value = cal
        .client
        .get(format!(
            "{internal}/next-slots?service_id={}&count=1",
            cleaning["id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let start: DateTime<Utc> = slots["slots"][0]["starts_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let local = start.with_timezone(&chrono_tz::America::New_York);
    assert!(
        said.contains(&local.format("%-I:%M %p").to_string()),
        "the first offer is spoken in New York time: {said}"
    );
    let book = message(
        "tool-calls",
        &call,
        &c.number,
        json!({"toolCallList": [{"id": "call_e2e_book", "type": "function",
        "function": {"name": "book_appointment", "arguments": {"service": "Cleaning", "start": local.to_rfc3339(), "patient_name": "Jordan Reyes"}}}]}),
    );
    let first = vapi_ok(&app, &book).await;
    let second = vapi_ok(&app, &book).await;
    let expected = format!(
        "Booked Cleaning for Jordan Reyes on {}.",
        local.format("%A %-d %B at %-I:%M %p")
    );
    assert_eq!(first["results"][0]["result"], expected.as_str(), "{first}");
    assert_eq!(first, second, "the retried delivery says the same");

    // 3. One appointment in calendar's database, from voice, for this call and caller.
    let voice_call_id = {
        let calls = crate::helpers::get_json(&app, "/api/voice/calls", &c.admin).await;
        calls["items"][0]["id"].as_str().unwrap().to_string()
    };
    let n = {
        use diesel_async::RunQueryDsl as _;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = cal.db.admin_conn().await.unwrap();
        diesel::sql_query(format!(
            "SELECT count(*) AS n FROM calendar.appointments WHERE org_id = '{}' AND status = 'booked' AND source = 'voice' \
             AND contact_phone = '{CALLER}' AND contact_name = 'Jordan Reyes' AND call_id = '{voice_call_id}' AND starts_at = '{}'",
            c.org, start.to_rfc3339()
        ))
        .get_result::<N>(&mut conn)
        .await
        .unwrap()
        .n
    };
    assert_eq!(n, 1, "exactly one appointment, booked by voice");

    // 4. The caller asks what they have.
    let a = vapi_ok(
        &app,
        &message(
            "tool-calls",
            &call,
            &c.number,
            json!({"toolCallList": [{"id": "call_e2e_find", "type": "function",
        "function": {"name": "find_my_appointments", "arguments": {}}}]}),
        ),
    )
    .await;
    assert_eq!(
        a["results"][0]["result"],
        format!(
            "You have Cleaning on {}.",
            local.format("%A %-d %B at %-I:%M %p")
        )
        .as_str(),
        "{a}"
    );

    // 5. The report ends the call; call.ended.v1 reaches the bus with the booking.
    vapi_ok(
        &app,
        &message(
            "end-of-call-report",
            &call,
            &c.number,
            json!({"endedReason": "customer-ended-call",
        "artifact": {"transcript": "..."}, "analysis": {"summary": "Booked a cleaning."}}),
        ),
    )
    .await;
    let ended = tap
        .next(Duration::from_secs(20))
        .await
        .expect("call.ended.v1 on the bus");
    assert_eq!(ended["type"], "call.ended.v1");
    assert_eq!(ended["org_id"], c.org.to_string());
    assert_eq!(ended["payload"]["booked"], true);
    assert_eq!(ended["payload"]["call_id"], voice_call_id.as_str());
    assert_eq!(ended["payload"]["caller_number"], CALLER);
}

#[tokio::test]
async fn the_call_simulator_plays_a_signed_booking_call() {
    use voice_webhook::clients::sim::{SimAuth, SimCall, Simulator};
    let auth = Arc::new(testkit::TestAuth::start().await);
    let cal = testkit::spawn_app_with::<calendar::Calendar>(
        auth.clone(),
        &[("BUS_RELAY_POLL_MS", "100")],
    )
    .await;
    let token = auth.service_token("voice-webhook");
    let app = spawn_shared(
        auth.clone(),
        &[
            ("CALENDAR_INTERNAL_URL", cal.address.as_str()),
            ("CALENDAR_SERVICE_TOKEN", token.as_str()),
            ("VAPI_WEBHOOK_AUTH", "hmac"),
        ],
    )
    .await;
    let c = clinic(
        &app,
        "Cedar Point Dental",
        "America/New_York",
        "+15550123400",
    )
    .await;
    org_created(&cal, c.org, "Cedar Point Dental", "America/New_York").await;
    let internal = format!("{}/internal/v1/orgs/{}", cal.address, c.org);
    let checkup = seeded_service(&cal, c.org, &token, "Check-up").await;
    let slots: Value = cal
        .client
        .get(format!(
            "{internal}/next-slots?service_id={}&count=1",
            checkup["id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first: DateTime<Utc> = slots["slots"][0]["starts_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // No time given: like a caller, the script books the first time the agent offered.
    let sim = Simulator::new(&app.address, SimAuth::Hmac(crate::helpers::SECRET.into())).unwrap();
    let call = SimCall::new(&c.vapi_number_id, &c.number, CALLER);
    let played = sim
        .booking_call(&call, "Check-up", None, "Sam Ortiz")
        .await
        .unwrap();
    assert_eq!(played.booked, Ok(()), "{played:?}");
    let steps = &played.steps;
    let names: Vec<&str> = steps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "assistant-request",
            "status in-progress",
            "check_availability",
            "book_appointment",
            "status ended",
            "end-of-call-report"
        ]
    );
    assert!(steps.iter().all(|(_, s)| s.status == 200), "{steps:?}");
    assert!(steps[0].1.answer["assistant"].is_object());
    let local = first.with_timezone(&chrono_tz::America::New_York);
    assert_eq!(
        steps[3].1.answer["results"][0]["result"],
        format!(
            "Booked Check-up for Sam Ortiz on {}.",
            local.format("%A %-d %B at %-I:%M %p")
        )
        .as_str(),
        "the first offered time is booked: {steps:?}"
    );

    // A time the clinic does not offer (its first slot's day, at 23:00): the script fails and
    // says why, in the agent's words, instead of ending quietly with nothing booked.
    let call = SimCall::new(&c.vapi_number_id, &c.number, "+15550187733");
    let at_night = format!("{}T23:00", local.date_naive());
    let played = sim
        .booking_call(&call, "Check-up", Some(&at_night), "Sam Ortiz")
        .await
        .unwrap();
    let reason = played.booked.clone().unwrap_err();
    assert!(
        reason.starts_with(&format!("the agent did not book {at_night}: Sorry,")),
        "{reason}"
    );
    assert!(
        !reason.contains("can't reach the booking system"),
        "{reason}"
    );
    crate::helpers::settled(&app).await;
    let calls = crate::helpers::get_json(&app, "/api/voice/calls", &c.admin).await;
    let items = calls["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{calls}");
    assert!(items.iter().all(|c| c["status"] == "ended"), "{calls}");
    assert_eq!(
        items.iter().filter(|c| c["booked"] == true).count(),
        1,
        "the first call booked, the second did not: {calls}"
    );
}

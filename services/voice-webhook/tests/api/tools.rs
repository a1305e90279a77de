//! Tool calls against a fake of calendar's internal API (docs/internal-api.md): requests carry
//! the service token, the Idempotency-Key and the trace context; answers speak clinic time; a
//! retried toolCallId answers the stored result without calling calendar again; a slow calendar
//! gets the spoken fallback.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use testkit::wiremock::matchers::{header, method, path, path_regex, query_param};
use testkit::wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{App, Clinic, call, clinic, count, message, spawn_shared, vapi_ok};

const SERVICE_ID: &str = "5f0c1a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
const APPT_ID: &str = "7a0c1a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

async fn setup(extra: &[(&str, &str)]) -> (App, Clinic, MockServer, String) {
    let auth = Arc::new(testkit::TestAuth::start().await);
    let token = auth.service_token("voice-webhook");
    let calendar = MockServer::start().await;
    let mut env = vec![
        ("CALENDAR_INTERNAL_URL", calendar.uri()),
        ("CALENDAR_SERVICE_TOKEN", token.clone()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_shared(auth, &env).await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let org = c.org.to_string();
    Mock::given(method("GET"))
        .and(path(format!("/internal/v1/orgs/{org}/services")))
        .and(header("authorization", format!("Bearer {token}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"timezone": "America/New_York", "items": [
            {"id": SERVICE_ID, "name": "Initial assessment", "description": "", "duration_minutes": 45, "price_cents": 9000, "currency": "USD", "active": true}]})))
        .mount(&calendar)
        .await;
    (app, c, calendar, token)
}

fn tool_calls(c: &Clinic, call_id: &str, calls: Value) -> Value {
    message(
        "tool-calls",
        &call(call_id, &c.vapi_number_id),
        &c.number,
        json!({"toolCallList": calls, "toolWithToolCallList": []}),
    )
}

fn appointment(status: &str) -> Value {
    json!({"id": APPT_ID, "service_id": SERVICE_ID, "service_name": "Initial assessment",
           "starts_at": "2026-12-03T20:00:00Z", "ends_at": "2026-12-03T20:45:00Z", "timezone": "America/New_York",
           "status": status, "source": "voice", "contact_name": "Jordan Reyes", "contact_phone": "+15550187722",
           "contact_email": null, "call_id": null, "notes": null,
           "created_at": "2026-11-22T14:21:00Z", "updated_at": "2026-11-22T14:21:00Z"})
}

#[tokio::test]
async fn availability_and_a_booking_retried_by_vapi_book_once_and_say_the_same() {
    let (app, c, calendar, _) = setup(&[]).await;
    let org = c.org.to_string();
    Mock::given(method("GET"))
        .and(path(format!("/internal/v1/orgs/{org}/next-slots")))
        .and(query_param("service_id", SERVICE_ID))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"timezone": "America/New_York", "service_id": SERVICE_ID, "slots": [
            {"starts_at": "2026-12-03T19:00:00Z", "ends_at": "2026-12-03T19:45:00Z", "local_start": "2026-12-03T14:00:00-05:00"},
            {"starts_at": "2026-12-03T20:00:00Z", "ends_at": "2026-12-03T20:45:00Z", "local_start": "2026-12-03T15:00:00-05:00"}]})))
        .expect(1)
        .mount(&calendar)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/internal/v1/orgs/{org}/appointments")))
        .and(header("idempotency-key", "call_book_1"))
        .respond_with(ResponseTemplate::new(201).set_body_json(appointment("booked")))
        .expect(1)
        .mount(&calendar)
        .await;

    let a = vapi_ok(&app, &tool_calls(&c, "call-book-1", json!([{"id": "call_avail_1", "type": "function",
        "function": {"name": "check_availability", "arguments": "{\"service\":\"initial assessment\"}"}}]))).await;
    assert_eq!(
        a["results"][0]["result"],
        "Initial assessment is available on Thursday 3 December at 2:00 PM or 3:00 PM."
    );

    let book = tool_calls(
        &c,
        "call-book-1",
        json!([{"id": "call_book_1", "type": "function", "function": {"name": "book_appointment",
        "arguments": {"service": "Initial assessment", "start": "2026-12-03T15:00:00-05:00", "patient_name": "Jordan Reyes"}}}]),
    );
    let first = vapi_ok(&app, &book).await;
    let second = vapi_ok(&app, &book).await;
    assert_eq!(
        first["results"][0]["result"],
        "Booked Initial assessment for Jordan Reyes on Thursday 3 December at 3:00 PM."
    );
    assert_eq!(
        first, second,
        "a retried toolCallId answers the stored result"
    );
    // A day in the past is said so, without asking calendar.
    let a = vapi_ok(&app, &tool_calls(&c, "call-book-1", json!([{"id": "call_avail_past", "type": "function",
        "function": {"name": "check_availability", "arguments": {"service": "Initial assessment", "date": "2020-01-06"}}}]))).await;
    assert_eq!(
        a["results"][0]["result"],
        "Monday 6 January has already passed; which day would suit you?"
    );
    calendar.verify().await; // calendar saw one booking and one availability request

    // What calendar received: the contract's body, our call id, the caller's number.
    let requests = calendar.received_requests().await.unwrap();
    let post = requests
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .unwrap();
    assert!(
        post.headers.contains_key("traceparent"),
        "trace context is propagated"
    );
    let body: Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(body["service_id"], SERVICE_ID);
    assert_eq!(body["starts_at"], "2026-12-03T20:00:00Z");
    assert_eq!(body["source"], "voice");
    assert_eq!(body["contact_phone"], crate::helpers::CALLER);
    assert_eq!(body["contact_name"], "Jordan Reyes");
    assert!(body["call_id"].is_string());
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM voice.calls WHERE booked").await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM voice.tool_invocations WHERE outcome = 'ok'"
        )
        .await,
        3, // availability, the past day, the booking
    );
}

#[tokio::test]
async fn a_taken_slot_offers_the_alternatives_in_clinic_time() {
    let (app, c, calendar, _) = setup(&[]).await;
    Mock::given(method("POST"))
        .and(path(format!("/internal/v1/orgs/{}/appointments", c.org)))
        .respond_with(ResponseTemplate::new(409).insert_header("content-type", "application/problem+json").set_body_json(json!({
            "type": "https://docs.voxanne.dev/problems/appointment_overlap", "title": "Conflict", "status": 409, "code": "appointment_overlap",
            "alternatives": [{"starts_at": "2026-12-03T21:00:00Z", "ends_at": "2026-12-03T21:45:00Z", "local_start": "2026-12-03T16:00:00-05:00"}]})))
        .mount(&calendar)
        .await;
    let a = vapi_ok(
        &app,
        &tool_calls(
            &c,
            "call-409",
            json!([{"id": "call_409", "type": "function", "function": {"name": "book_appointment",
        "arguments": {"start": "2026-12-03T15:00", "patient_name": "Jordan Reyes"}}}]),
        ),
    )
    .await;
    assert_eq!(
        a["results"][0]["result"],
        "Sorry, Thursday 3 December at 3:00 PM is no longer available; I can offer on Thursday 3 December at 4:00 PM."
    );
}

#[tokio::test]
async fn a_slow_calendar_gets_the_spoken_fallback_and_a_retry_runs_again() {
    let (app, c, calendar, _) = setup(&[("VOICE_TOOL_TIMEOUT_MS", "300")]).await;
    let org = c.org.to_string();
    let slow = Mock::given(method("GET"))
        .and(path(format!("/internal/v1/orgs/{org}/appointments")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(5))
                .set_body_json(json!({"timezone": "America/New_York", "items": []})),
        )
        .up_to_n_times(1)
        .mount_as_scoped(&calendar)
        .await;
    let ask = tool_calls(
        &c,
        "call-slow",
        json!([{"id": "call_find_1", "type": "function", "function": {"name": "find_my_appointments", "arguments": {}}}]),
    );
    let a = vapi_ok(&app, &ask).await;
    let error = a["results"][0]["error"].as_str().unwrap();
    assert!(error.contains("can't reach the booking system"), "{a}");
    drop(slow);

    // Calendar is back: the same toolCallId runs again (a fallback is not a final answer).
    Mock::given(method("GET"))
        .and(path(format!("/internal/v1/orgs/{org}/appointments")))
        .and(query_param("phone", crate::helpers::CALLER))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"timezone": "America/New_York", "items": [appointment("booked")]}),
        ))
        .mount(&calendar)
        .await;
    let a = vapi_ok(&app, &ask).await;
    assert_eq!(
        a["results"][0]["result"],
        "You have Initial assessment on Thursday 3 December at 3:00 PM."
    );
}

#[tokio::test]
async fn a_failing_calendar_is_an_error_vapi_speaks_not_a_failed_request() {
    let (app, c, calendar, _) = setup(&[]).await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/internal/v1/orgs/{}/appointments/{APPT_ID}/cancel",
            c.org
        )))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(json!({"status": 503, "code": "database_unavailable"})),
        )
        .mount(&calendar)
        .await;
    // The appointment is the caller's (the tools act only on the caller's own).
    Mock::given(method("GET"))
        .and(path(format!("/internal/v1/orgs/{}/appointments", c.org)))
        .and(query_param("phone", crate::helpers::CALLER))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"timezone": "America/New_York", "items": [appointment("booked")]}),
        ))
        .mount(&calendar)
        .await;
    let a = vapi_ok(
        &app,
        &tool_calls(
            &c,
            "call-503",
            json!([{"id": "call_cancel_1", "type": "function",
        "function": {"name": "cancel_appointment", "arguments": {"appointment_id": APPT_ID}}}]),
        ),
    )
    .await;
    assert!(
        a["results"][0]["error"]
            .as_str()
            .unwrap()
            .contains("can't reach the booking system"),
        "{a}"
    );
}

#[tokio::test]
async fn the_service_token_comes_from_auths_client_credentials_grant_and_is_cached() {
    let auth = Arc::new(testkit::TestAuth::start().await);
    let token = auth.service_token("voice-webhook");
    let auth_api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/auth/token"))
        .and(query_param("grant_type", "client_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": token, "token_type": "bearer", "expires_in": 300}),
        ))
        .expect(1)
        .mount(&auth_api)
        .await;
    let calendar = MockServer::start().await;
    let token_url = format!("{}/api/auth/token", auth_api.uri());
    let cal_url = calendar.uri();
    let app = spawn_shared(
        auth,
        &[
            ("CALENDAR_INTERNAL_URL", cal_url.as_str()),
            ("AUTH_TOKEN_URL", token_url.as_str()),
            ("SERVICE_CLIENT_SECRET", "voice-client-secret-0123456789"),
        ],
    )
    .await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    Mock::given(method("GET"))
        .and(path(format!("/internal/v1/orgs/{}/appointments", c.org)))
        .and(header("authorization", format!("Bearer {token}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"timezone": "America/New_York", "items": []})),
        )
        .expect(2)
        .mount(&calendar)
        .await;
    for id in ["find_1", "find_2"] {
        let a = vapi_ok(&app, &tool_calls(&c, "call-token", json!([{"id": id, "type": "function", "function": {"name": "find_my_appointments", "arguments": {}}}]))).await;
        assert_eq!(
            a["results"][0]["result"], "I can't find any upcoming appointments for this number.",
            "{a}"
        );
    }
    calendar.verify().await;
    auth_api.verify().await; // one token request for both calls
    let req = &auth_api.received_requests().await.unwrap()[0];
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        json!({"client_id": "voice-webhook", "client_secret": "voice-client-secret-0123456789"})
    );
}

const VICTIM: &str = "+15550142299";
const THEIR_APPT: &str = "9b0c1a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

#[tokio::test]
async fn a_phone_or_appointment_id_from_the_model_never_acts_for_another_patient() {
    let (app, c, calendar, _) = setup(&[]).await;
    let org = c.org.to_string();
    // The caller has one appointment; another patient of the clinic has theirs.
    Mock::given(method("GET"))
        .and(path(format!("/internal/v1/orgs/{org}/appointments")))
        .and(query_param("phone", crate::helpers::CALLER))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"timezone": "America/New_York", "items": [appointment("booked")]}),
        ))
        .mount(&calendar)
        .await;
    let mut theirs = appointment("booked");
    theirs["id"] = json!(THEIR_APPT);
    theirs["contact_phone"] = json!(VICTIM);
    theirs["starts_at"] = json!("2026-12-04T15:00:00Z");
    Mock::given(method("GET"))
        .and(path(format!("/internal/v1/orgs/{org}/appointments")))
        .and(query_param("phone", VICTIM))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"timezone": "America/New_York", "items": [theirs]})),
        )
        .expect(0)
        .mount(&calendar)
        .await;
    for action in ["cancel", "reschedule"] {
        Mock::given(method("POST"))
            .and(path(format!(
                "/internal/v1/orgs/{org}/appointments/{THEIR_APPT}/{action}"
            )))
            .respond_with(ResponseTemplate::new(200).set_body_json(theirs.clone()))
            .expect(0)
            .mount(&calendar)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(format!("/internal/v1/orgs/{org}/appointments")))
        .respond_with(ResponseTemplate::new(201).set_body_json(appointment("booked")))
        .mount(&calendar)
        .await;
    let say = |id: &str, name: &str, args: Value| {
        let body = tool_calls(
            &c,
            "call-other",
            json!([{"id": id, "type": "function",
            "function": {"name": name, "arguments": args}}]),
        );
        let app = &app;
        async move {
            let a = vapi_ok(app, &body).await;
            let r = &a["results"][0];
            r["result"]
                .as_str()
                .or_else(|| r["error"].as_str())
                .unwrap()
                .to_string()
        }
    };

    let said = say("o_find", "find_my_appointments", json!({"phone": VICTIM})).await;
    assert_eq!(
        said,
        "You have Initial assessment on Thursday 3 December at 3:00 PM."
    );
    let said = say(
        "o_cancel",
        "cancel_appointment",
        json!({"appointment_id": THEIR_APPT}),
    )
    .await;
    assert_eq!(
        said,
        "I can't find that appointment under the number you're calling from."
    );
    let said = say(
        "o_move",
        "reschedule_appointment",
        json!({"appointment_id": THEIR_APPT, "start": "2026-12-05T10:00"}),
    )
    .await;
    assert_eq!(
        said,
        "I can't find that appointment under the number you're calling from."
    );
    say(
        "o_book",
        "book_appointment",
        json!({"start": "2026-12-05T10:00", "patient_name": "Avery", "phone": VICTIM}),
    )
    .await;
    let requests = calendar.received_requests().await.unwrap();
    let booked: Value = serde_json::from_slice(
        &requests
            .iter()
            .find(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/appointments"))
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(
        booked["contact_phone"],
        crate::helpers::CALLER,
        "booked under the caller's number"
    );
    assert!(
        requests
            .iter()
            .all(|r| !r.url.as_str().contains("15550142299")),
        "calendar was never asked about the other patient's number"
    );
    calendar.verify().await; // nothing of theirs read, cancelled or moved

    // A withheld number: refused aloud, calendar not asked.
    let before = calendar.received_requests().await.unwrap().len();
    let mut anon = tool_calls(
        &c,
        "call-anon",
        json!([{"id": "anon_find", "type": "function",
        "function": {"name": "find_my_appointments", "arguments": {"phone": VICTIM}}}]),
    );
    anon["message"]["customer"] = json!({"number": "anonymous"});
    let a = vapi_ok(&app, &anon).await;
    assert!(
        a["results"][0]["result"]
            .as_str()
            .unwrap()
            .contains("withheld"),
        "{a}"
    );
    assert_eq!(calendar.received_requests().await.unwrap().len(), before);
    // A withheld caller may book (a new patient): no contact phone, and a number they say aloud
    // is a callback note for the clinic, not the appointment's phone.
    let mut anon = tool_calls(
        &c,
        "call-anon",
        json!([{"id": "anon_book", "type": "function",
        "function": {"name": "book_appointment", "arguments": {"start": "2026-12-05T10:00", "patient_name": "Avery", "phone": VICTIM}}}]),
    );
    anon["message"]["customer"] = json!({"number": "anonymous"});
    let a = vapi_ok(&app, &anon).await;
    assert!(
        a["results"][0]["result"]
            .as_str()
            .unwrap()
            .starts_with("Booked "),
        "{a}"
    );
    let requests = calendar.received_requests().await.unwrap();
    let last = requests.last().unwrap();
    assert_eq!(last.headers["idempotency-key"], "anon_book");
    let body: Value = serde_json::from_slice(&last.body).unwrap();
    assert!(body.get("contact_phone").is_none(), "{body}");
    assert_eq!(
        body["notes"],
        format!("Callback number given on a withheld call: {VICTIM}")
    );
}

#[tokio::test]
async fn calendar_refusals_are_said_as_what_they_are_and_only_5xx_is_unreachable() {
    let (app, c, calendar, _) = setup(&[]).await;
    let org = c.org.to_string();
    Mock::given(method("GET"))
        .and(path(format!("/internal/v1/orgs/{org}/appointments")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"timezone": "America/New_York", "items": [appointment("booked")]}),
        ))
        .mount(&calendar)
        .await;
    let problem = |status: u16, code: &str| {
        ResponseTemplate::new(status)
            .insert_header("content-type", "application/problem+json")
            .set_body_json(
                json!({"type": format!("https://docs.voxanne.dev/problems/{code}"),
                "title": "refused", "status": status, "code": code, "field": "starts_at"}),
            )
    };
    let cases = [
        (
            "starts_at_in_past",
            422,
            "book_appointment",
            "has already passed",
        ),
        (
            "service_inactive",
            422,
            "book_appointment",
            "can't be booked by phone",
        ),
        (
            "invalid_transition",
            409,
            "cancel_appointment",
            "can't be changed any more",
        ),
        (
            "idempotency_key_reused",
            422,
            "book_appointment",
            "did not accept that request",
        ),
        (
            "database_unavailable",
            503,
            "book_appointment",
            "can't reach the booking system",
        ),
    ];
    for (i, (code, status, tool, expected)) in cases.into_iter().enumerate() {
        let _m = Mock::given(method("POST"))
            .and(path_regex(format!(
                "^/internal/v1/orgs/{org}/appointments(/{APPT_ID}/cancel)?$"
            )))
            .respond_with(problem(status, code))
            .mount_as_scoped(&calendar)
            .await;
        let a = vapi_ok(&app, &tool_calls(&c, "call-refused", json!([{"id": format!("refused_{i}"), "type": "function",
            "function": {"name": tool, "arguments": {"start": "2026-12-05T10:00", "patient_name": "Jordan Reyes"}}}]))).await;
        let r = &a["results"][0];
        let said = r["result"]
            .as_str()
            .or_else(|| r["error"].as_str())
            .unwrap();
        assert!(said.contains(expected), "{code}: {said}");
        if status < 500 {
            assert!(!said.contains("can't reach"), "{code}: {said}");
        }
    }
}

const PATEL: &str = "0a0c1a2e-3b4d-4e5f-8a9b-0c1d2e3f4a01";
const RAJ: &str = "0a0c1a2e-3b4d-4e5f-8a9b-0c1d2e3f4a02";
const ONEILL: &str = "0a0c1a2e-3b4d-4e5f-8a9b-0c1d2e3f4a03";

/// Three providers; Maria O'Neill does not do initial assessments.
async fn mount_providers(calendar: &MockServer, org: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/internal/v1/orgs/{org}/providers")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [
            {"id": PATEL, "name": "Dr. Anika Patel", "service_ids": null},
            {"id": RAJ, "name": "Dr. Raj Patel", "service_ids": [SERVICE_ID]},
            {"id": ONEILL, "name": "Maria O'Neill", "service_ids": ["9f0c1a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"]}]})))
        .mount(calendar)
        .await;
}

#[tokio::test]
async fn a_provider_named_by_the_caller_is_matched_forgivingly_and_said_back() {
    let (app, c, calendar, _) = setup(&[]).await;
    let org = c.org.to_string();
    mount_providers(&calendar, &org).await;
    Mock::given(method("GET"))
        .and(path(format!("/internal/v1/orgs/{org}/next-slots")))
        .and(query_param("provider_id", PATEL))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"timezone": "America/New_York", "service_id": SERVICE_ID, "slots": [
            {"starts_at": "2026-12-03T19:00:00Z", "ends_at": "2026-12-03T19:45:00Z", "local_start": "2026-12-03T14:00:00-05:00"}]})))
        .expect(1)
        .mount(&calendar)
        .await;
    let mut booked = appointment("booked");
    booked["provider_id"] = json!(PATEL);
    booked["provider_name"] = json!("Dr. Anika Patel");
    Mock::given(method("POST"))
        .and(path(format!("/internal/v1/orgs/{org}/appointments")))
        .respond_with(ResponseTemplate::new(201).set_body_json(booked))
        .expect(1)
        .mount(&calendar)
        .await;
    let tool = |id: &str, name: &str, args: Value| {
        tool_calls(
            &c,
            "call-providers",
            json!([{"id": id, "type": "function", "function": {"name": name, "arguments": args}}]),
        )
    };

    // Happy: the full name with its title.
    let a = vapi_ok(
        &app,
        &tool(
            "p1",
            "check_availability",
            json!({"service": "Initial assessment", "provider": "Dr. Anika Patel"}),
        ),
    )
    .await;
    assert_eq!(
        a["results"][0]["result"],
        "Initial assessment with Dr. Anika Patel is available on Thursday 3 December at 2:00 PM."
    );
    // Fuzzy: no title, other case, a first name cut short.
    let a = vapi_ok(
        &app,
        &tool(
            "p2",
            "book_appointment",
            json!({"service": "Initial assessment", "provider": "doctor ANIK patel",
            "start": "2026-12-03T15:00:00-05:00", "patient_name": "Jordan Reyes"}),
        ),
    )
    .await;
    assert_eq!(
        a["results"][0]["result"],
        "Booked Initial assessment for Jordan Reyes with Dr. Anika Patel on Thursday 3 December at 3:00 PM."
    );
    // Ambiguous: both Patels are said back, nothing is booked.
    let a = vapi_ok(
        &app,
        &tool(
            "p3",
            "book_appointment",
            json!({"service": "Initial assessment", "provider": "Dr. Patel",
            "start": "2026-12-03T16:00:00-05:00", "patient_name": "Jordan Reyes"}),
        ),
    )
    .await;
    assert_eq!(
        a["results"][0]["error"],
        "There is more than one Dr. Patel here: did you mean Dr. Anika Patel or Dr. Raj Patel?"
    );
    // Unknown: the clinic's providers are offered, nothing is booked.
    let a = vapi_ok(
        &app,
        &tool(
            "p4",
            "book_appointment",
            json!({"service": "Initial assessment", "provider": "Dr. Smith",
            "start": "2026-12-03T16:00:00-05:00", "patient_name": "Jordan Reyes"}),
        ),
    )
    .await;
    assert_eq!(
        a["results"][0]["error"],
        "I couldn't find Dr. Smith at this clinic; you can book with Dr. Anika Patel, Dr. Raj Patel or Maria O'Neill."
    );
    // A provider who does not do the service says who does.
    let a = vapi_ok(
        &app,
        &tool(
            "p5",
            "check_availability",
            json!({"service": "Initial assessment", "provider": "oneill"}),
        ),
    )
    .await;
    assert_eq!(
        a["results"][0]["result"],
        "Maria O'Neill doesn't do Initial assessment appointments; Dr. Anika Patel or Dr. Raj Patel can see you for that."
    );
    calendar.verify().await; // one availability request and one booking, both for Dr. Anika Patel

    let requests = calendar.received_requests().await.unwrap();
    let posts: Vec<_> = requests
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .collect();
    assert_eq!(posts.len(), 1);
    let body: Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert_eq!(body["provider_id"], PATEL);
}

#[tokio::test]
async fn without_a_provider_nothing_changes_and_the_tool_schemas_offer_one() {
    let (app, c, calendar, _) = setup(&[]).await;
    let org = c.org.to_string();
    Mock::given(method("POST"))
        .and(path(format!("/internal/v1/orgs/{org}/appointments")))
        .respond_with(ResponseTemplate::new(201).set_body_json(appointment("booked")))
        .expect(1)
        .mount(&calendar)
        .await;
    let a = vapi_ok(
        &app,
        &tool_calls(
            &c,
            "call-noprov",
            json!([{"id": "np1", "type": "function", "function": {"name": "book_appointment",
            "arguments": {"start": "2026-12-03T15:00:00-05:00", "patient_name": "Jordan Reyes"}}}]),
        ),
    )
    .await;
    assert_eq!(
        a["results"][0]["result"],
        "Booked Initial assessment for Jordan Reyes on Thursday 3 December at 3:00 PM."
    );
    let requests = calendar.received_requests().await.unwrap();
    assert!(
        requests
            .iter()
            .all(|r| !r.url.path().ends_with("/providers")),
        "providers are asked for only when the caller names one"
    );
    let post = requests
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .unwrap();
    let body: Value = serde_json::from_slice(&post.body).unwrap();
    assert!(body.get("provider_id").is_none(), "{body}");

    let defs = voice_webhook::core::vapi_sync::definitions(None, None);
    for tool in ["check_availability", "book_appointment"] {
        let (_, def) = defs.iter().find(|(n, _)| n == tool).unwrap();
        let p = &def["function"]["parameters"];
        assert_eq!(p["properties"]["provider"]["type"], "string", "{tool}");
        assert!(
            !p["required"]
                .as_array()
                .unwrap()
                .contains(&json!("provider")),
            "{tool}: the provider is optional"
        );
    }
}

//! A caller booked on a live call becomes a contact of lead-scoring, scored, at stage booked,
//! within a second of the end-of-call report — through the real voice-webhook, calendar and
//! lead-scoring services sharing one exchange (one `BUS_PREFIX`), on the real Postgres and
//! RabbitMQ.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::helpers::{
    CALLER, call, clinic, eventually, message, seeded_service, spawn_shared, vapi_ok,
};

#[tokio::test]
async fn a_caller_booked_on_a_live_call_is_a_scored_contact_at_stage_booked_within_a_second() {
    let auth = Arc::new(testkit::TestAuth::start().await);
    let prefix = format!("flow{}.", uuid::Uuid::new_v4().simple());
    let shared = [("BUS_PREFIX", prefix.as_str()), ("BUS_RELAY_POLL_MS", "25")];
    let leads = testkit::spawn_app_with::<lead_scoring::LeadScoring>(auth.clone(), &shared).await;
    let cal = testkit::spawn_app_with::<calendar::Calendar>(auth.clone(), &shared).await;
    let token = auth.service_token("voice-webhook");
    let app = spawn_shared(
        auth.clone(),
        &[
            ("CALENDAR_INTERNAL_URL", cal.address.as_str()),
            ("CALENDAR_SERVICE_TOKEN", token.as_str()),
            ("BUS_PREFIX", prefix.as_str()),
            ("BUS_RELAY_POLL_MS", "25"),
        ],
    )
    .await;
    // Every queue bound before the first event: on a shared exchange an event is routed (and so
    // not returned to the relay for a retry) as soon as *one* queue is bound.
    bus::Bus::new(app.settings.standard.bus.clone())
        .declare_until_done()
        .await;
    bus::Bus::new(cal.settings.standard.bus.clone())
        .declare_until_done()
        .await;
    bus::Bus::new(leads.settings.standard.bus.clone())
        .declare_until_done()
        .await;
    // org.created.v1 from voice's outbox reaches calendar (services, hours) and lead-scoring
    // (the clinic's zone) over the shared exchange.
    let c = clinic(
        &app,
        "Cedar Point Dental",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let internal = format!("{}/internal/v1/orgs/{}", cal.address, c.org);
    let cleaning = seeded_service(&cal, c.org, &token, "Cleaning").await;

    // The live call: in progress, the caller books the first open slot, the report ends it.
    let call = call("call-leads-1", &c.vapi_number_id);
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
    let booked = vapi_ok(
        &app,
        &message(
            "tool-calls",
            &call,
            &c.number,
            json!({"toolCallList": [{"id": "call_leads_book", "type": "function",
            "function": {"name": "book_appointment", "arguments": {"service": "Cleaning", "start": local.to_rfc3339(), "patient_name": "Jordan Reyes"}}}]}),
        ),
    )
    .await;
    assert!(
        booked["results"][0]["result"]
            .as_str()
            .unwrap()
            .starts_with("Booked Cleaning"),
        "{booked}"
    );
    vapi_ok(
        &app,
        &message(
            "end-of-call-report",
            &call,
            &c.number,
            json!({"endedReason": "customer-ended-call",
                   "startedAt": "2026-11-22T14:20:05.000Z", "endedAt": "2026-11-22T14:24:17.000Z",
                   "artifact": {"transcript": "AI: Cedar Point Dental. User: I'd like a cleaning."},
                   "analysis": {"summary": "New patient booked a cleaning.",
                                "structuredData": {"intent": "book", "service_of_interest": "cleaning", "new_patient": true}}}),
        ),
    )
    .await;
    let reported = Instant::now();

    // The dashboard's view of lead-scoring: the caller, scored, at stage booked, with the
    // end-of-call report folded in. Waiting for the list alone is not enough: the booking and
    // the call's start already make a booked lead (after hours, 65 points) before the report
    // arrives, and the report's evidence (new patient, the summary) is what this test is about.
    let digits = CALLER.trim_start_matches('+');
    let (lead, d) = eventually(
        || async {
            let list = leads
                .client
                .get(leads.url(&format!("/api/leads?q={digits}")))
                .bearer_auth(&c.admin)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            let detail = match list["items"][0]["id"].as_str() {
                Some(id) => leads
                    .client
                    .get(leads.url(&format!("/api/leads/{id}")))
                    .bearer_auth(&c.admin)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap(),
                None => Value::Null,
            };
            (list, detail)
        },
        |(v, d)| {
            v["items"][0]["stage"] == "booked"
                && v["items"][0]["calls"] == 1
                && v["items"][0]["score"].is_number()
                && d["timeline"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|e| e["event_type"] == "call.ended.v1"))
        },
    )
    .await;
    let took = reported.elapsed();
    assert!(
        took <= Duration::from_secs(1),
        "the lead took {took:?} after the report"
    );
    let item = &lead["items"][0];
    assert_eq!(item["phone"], CALLER);
    assert_eq!(item["name"], "Jordan Reyes");
    // Booked on the call (+30) by a new patient (+5) over the base 30: warm at least.
    assert!(item["score"].as_i64().unwrap() >= 65, "{item}");
    assert_ne!(item["tier"], "cold", "{item}");
    assert_eq!(item["next_action"], "none");
    assert_eq!(item["appointments"]["booked"], 1);
    let codes: Vec<&str> = d["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"booked_on_call") && codes.contains(&"new_patient"),
        "{codes:?} {d:#}"
    );
    assert_eq!(d["features"]["intent_source"], "vapi");
    let kinds: Vec<&str> = d["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["event_type"].as_str().unwrap())
        .collect();
    for k in ["call.started.v1", "appointment.booked.v1", "call.ended.v1"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert_eq!(
        d["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["event_type"] == "call.ended.v1")
            .unwrap()["summary"],
        "New patient booked a cleaning."
    );
}

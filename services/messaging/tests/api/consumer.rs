//! From calendar's events through the bus inbox: a booking delivered twice gives one confirmation
//! and one set of reminders; a reschedule cancels the pending reminders and sets new ones (an
//! older version arriving late changes nothing); a cancel removes them; reminders that fall in
//! quiet hours wait for the window in the clinic's zone across a DST change; org.created.v1
//! seeds the default templates.

use chrono::{DateTime, Duration, Utc};
use events::{
    AppointmentBookedV1, AppointmentCancelledV1, AppointmentDetails, AppointmentRescheduledV1,
    BookingSource, Envelope, OrgCreatedV1,
};
use lapin::BasicProperties;
use lapin::options::BasicPublishOptions;
use serde_json::Value;
use tenancy::Role;
use uuid::Uuid;

use crate::fake_twilio::FakeTwilio;
use crate::helpers::{App, Caller, caller, connect, eventually, get_json, spawn};

const PHONE: &str = "+15550100123";

pub async fn publish(app: &App, env: &Envelope) {
    let bus = bus::Bus::new(app.settings.standard.bus.clone());
    bus.declare_until_done().await;
    let chan = bus.connector.channel().await.unwrap();
    // With publisher confirms the broker has the event before the connection is dropped.
    chan.confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .unwrap();
    chan.basic_publish(
        bus.names().exchange.as_str().into(),
        env.event_type.as_str().into(),
        BasicPublishOptions::default(),
        &serde_json::to_vec(env).unwrap(),
        BasicProperties::default().with_content_type("application/json".into()),
    )
    .await
    .unwrap()
    .await
    .unwrap();
}

pub fn details(id: Uuid, starts_at: DateTime<Utc>, version: i64) -> AppointmentDetails {
    AppointmentDetails {
        appointment_id: id,
        service_id: Uuid::new_v4(),
        service_name: "Cleaning".into(),
        starts_at,
        ends_at: starts_at + Duration::minutes(30),
        timezone: "America/New_York".into(),
        contact_name: Some("Jordan Lee".into()),
        contact_phone: Some(PHONE.into()),
        source: BookingSource::Voice,
        call_id: None,
        version,
        provider_id: None,
        provider_name: None,
    }
}

async fn messages_of(app: &App, c: &Caller, appt: Uuid) -> Vec<Value> {
    let v = get_json(
        app,
        &format!("/api/messaging/messages?appointment_id={appt}&limit=200"),
        &c.token,
    )
    .await;
    v["items"].as_array().unwrap().clone()
}

fn of_kind<'a>(ms: &'a [Value], kind: &str, status: Option<&str>) -> Vec<&'a Value> {
    ms.iter()
        .filter(|m| m["kind"] == kind && status.is_none_or(|s| m["status"] == s))
        .collect()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Three days from now at 15:00Z (10:00 in New York): both reminders fall inside the window.
fn in_three_days() -> DateTime<Utc> {
    (Utc::now().date_naive() + Duration::days(3))
        .and_hms_opt(15, 0, 0)
        .unwrap()
        .and_utc()
}

#[tokio::test]
async fn a_booking_delivered_twice_gives_one_confirmation_and_one_set_of_reminders() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    connect(&app, &admin).await;
    let appt = Uuid::new_v4();
    let start = in_three_days();
    let booked = AppointmentBookedV1 {
        appointment: details(appt, start, 1),
    };
    let env = Envelope::new(admin.org.as_uuid(), &booked, None).unwrap();
    publish(&app, &env).await;
    publish(&app, &env).await;
    // The same booking again under another event id (a producer that re-published).
    publish(
        &app,
        &Envelope::new(admin.org.as_uuid(), &booked, None).unwrap(),
    )
    .await;

    let _ms = eventually(
        "confirmation and reminders stored",
        || messages_of(&app, &admin, appt),
        |m| m.len() >= 3,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let ms = messages_of(&app, &admin, appt).await;
    assert_eq!(ms.len(), 3, "{ms:#?}");
    assert_eq!(of_kind(&ms, "appointment_confirmation", None).len(), 1);
    let reminders = of_kind(&ms, "appointment_reminder", Some("pending"));
    let mut at: Vec<DateTime<Utc>> = reminders
        .iter()
        .map(|m| utc(m["send_at"].as_str().unwrap()))
        .collect();
    at.sort();
    assert_eq!(
        at,
        vec![start - Duration::hours(24), start - Duration::hours(2)]
    );

    let sent = eventually(
        "the confirmation reaches Twilio",
        || fake.create_requests(),
        |r| !r.is_empty(),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        fake.create_requests().await.len(),
        1,
        "one confirmation, reminders wait"
    );
    let body = &sent[0].iter().find(|(k, _)| k == "Body").unwrap().1;
    assert!(
        body.contains("Hi Jordan") && body.contains("Cleaning") && body.contains("10:00 AM"),
        "{body}"
    );
}

#[tokio::test]
async fn reschedule_moves_the_reminders_and_cancel_removes_them() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let staff = caller(&app, Role::Staff);
    let org = staff.org.as_uuid();
    let appt = Uuid::new_v4();
    let start = in_three_days();
    publish(
        &app,
        &Envelope::new(
            org,
            &AppointmentBookedV1 {
                appointment: details(appt, start, 1),
            },
            None,
        )
        .unwrap(),
    )
    .await;
    eventually(
        "booked",
        || messages_of(&app, &staff, appt),
        |m| m.len() == 3,
    )
    .await;

    let moved = start + Duration::days(1);
    let v3 = AppointmentRescheduledV1 {
        appointment: details(appt, moved, 3),
        previous_starts_at: start,
        previous_ends_at: start,
    };
    let v2 = AppointmentRescheduledV1 {
        appointment: details(appt, start + Duration::hours(5), 2),
        previous_starts_at: start,
        previous_ends_at: start,
    };
    // The newer move arrives first; the older one late must change nothing.
    publish(&app, &Envelope::new(org, &v3, None).unwrap()).await;
    let ms = eventually(
        "rescheduled",
        || messages_of(&app, &staff, appt),
        |m| of_kind(m, "appointment_rescheduled", None).len() == 1,
    )
    .await;
    publish(&app, &Envelope::new(org, &v2, None).unwrap()).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let ms2 = messages_of(&app, &staff, appt).await;
    assert_eq!(ms2.len(), ms.len(), "the late v2 added nothing");
    assert_eq!(
        of_kind(&ms2, "appointment_reminder", Some("canceled")).len(),
        2
    );
    let mut pending: Vec<DateTime<Utc>> = of_kind(&ms2, "appointment_reminder", Some("pending"))
        .iter()
        .map(|m| utc(m["send_at"].as_str().unwrap()))
        .collect();
    pending.sort();
    assert_eq!(
        pending,
        vec![moved - Duration::hours(24), moved - Duration::hours(2)]
    );

    let cancel = AppointmentCancelledV1 {
        appointment: details(appt, moved, 4),
        reason: None,
        cancelled_at: Utc::now(),
    };
    publish(&app, &Envelope::new(org, &cancel, None).unwrap()).await;
    let ms3 = eventually(
        "cancelled",
        || messages_of(&app, &staff, appt),
        |m| of_kind(m, "appointment_cancelled", None).len() == 1,
    )
    .await;
    assert!(of_kind(&ms3, "appointment_reminder", Some("pending")).is_empty());
    assert_eq!(
        of_kind(&ms3, "appointment_reminder", Some("canceled")).len(),
        4
    );
    let jobs = crate::helpers::count(&app, &format!(
        "SELECT count(*) AS n FROM messaging.send_jobs j JOIN messaging.messages m ON m.id = j.message_id WHERE m.appointment_id = '{appt}'")).await;
    assert_eq!(jobs, 0, "no reminder is left in the send queue");
}

#[tokio::test]
async fn a_reminder_in_quiet_hours_waits_for_the_window_across_the_dst_change() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let staff = caller(&app, Role::Staff);
    let appt = Uuid::new_v4();
    // 09:00 EDT on 2027-03-14, the morning clocks jump forward in New York. 24 h before is
    // 08:00 EST (13:00Z, open); 2 h before is 07:00 EDT (11:00Z, quiet) → 08:00 EDT = 12:00Z.
    let start = utc("2027-03-14T13:00:00Z");
    publish(
        &app,
        &Envelope::new(
            staff.org.as_uuid(),
            &AppointmentBookedV1 {
                appointment: details(appt, start, 1),
            },
            None,
        )
        .unwrap(),
    )
    .await;
    let ms = eventually(
        "booked",
        || messages_of(&app, &staff, appt),
        |m| m.len() == 3,
    )
    .await;
    let mut at: Vec<DateTime<Utc>> = of_kind(&ms, "appointment_reminder", None)
        .iter()
        .map(|m| utc(m["send_at"].as_str().unwrap()))
        .collect();
    at.sort();
    assert_eq!(
        at,
        vec![utc("2027-03-13T13:00:00Z"), utc("2027-03-14T12:00:00Z")]
    );
}

#[tokio::test]
async fn org_created_seeds_the_default_templates_once() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    let created = OrgCreatedV1 {
        name: "Bright Smile".into(),
        timezone: "America/Chicago".into(),
        owner_user_id: Uuid::new_v4(),
    };
    let env = Envelope::new(admin.org.as_uuid(), &created, None).unwrap();
    publish(&app, &env).await;
    publish(&app, &env).await;
    let t = eventually(
        "templates seeded",
        || get_json(&app, "/api/messaging/templates", &admin.token),
        |v| v["items"].as_array().unwrap().len() >= 6,
    )
    .await;
    let keys: Vec<&str> = t["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "appointment_cancelled",
            "appointment_confirmation",
            "appointment_reminder",
            "appointment_rescheduled",
            "hot_lead_alert",
            "message_taken_alert",
            "missed_call_textback"
        ]
    );
    // The clinic's name is used in texts.
    let appt = Uuid::new_v4();
    publish(
        &app,
        &Envelope::new(
            admin.org.as_uuid(),
            &AppointmentBookedV1 {
                appointment: details(appt, in_three_days(), 1),
            },
            None,
        )
        .unwrap(),
    )
    .await;
    let ms = eventually(
        "booked",
        || messages_of(&app, &admin, appt),
        |m| !of_kind(m, "appointment_confirmation", None).is_empty(),
    )
    .await;
    assert!(
        of_kind(&ms, "appointment_confirmation", None)[0]["body"]
            .as_str()
            .unwrap()
            .contains("Bright Smile")
    );
    let other = caller(&app, Role::Admin);
    assert!(
        get_json(&app, "/api/messaging/templates", &other.token).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

fn call(caller_number: &str, duration: u32, reason: &str, booked: bool) -> events::CallEndedV1 {
    events::CallEndedV1 {
        call_id: Uuid::new_v4(),
        vapi_call_id: format!("c-{}", Uuid::new_v4().simple()),
        agent_id: None,
        direction: events::CallDirection::Inbound,
        caller_number: Some(caller_number.into()),
        caller_name: None,
        started_at: None,
        ended_at: Utc::now(),
        duration_seconds: duration,
        ended_reason: reason.into(),
        booked,
        success_evaluation: None,
        analysis: None,
    }
}

async fn all_messages(app: &App, c: &Caller) -> Vec<Value> {
    get_json(app, "/api/messaging/messages?limit=200", &c.token).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_missed_call_gets_one_text_back_per_caller_per_day() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let staff = caller(&app, Role::Staff);
    let org = staff.org.as_uuid();
    publish(
        &app,
        &Envelope::new(
            org,
            &call("+15550100777", 6, "customer-ended-call", false),
            None,
        )
        .unwrap(),
    )
    .await;
    publish(
        &app,
        &Envelope::new(
            org,
            &call("+15550100777", 12, "silence-timed-out", false),
            None,
        )
        .unwrap(),
    )
    .await;
    // Not missed: booked, or a long helpful call.
    publish(
        &app,
        &Envelope::new(
            org,
            &call("+15550100888", 6, "customer-ended-call", true),
            None,
        )
        .unwrap(),
    )
    .await;
    publish(
        &app,
        &Envelope::new(
            org,
            &call("+15550100999", 300, "customer-ended-call", false),
            None,
        )
        .unwrap(),
    )
    .await;
    let ms = eventually(
        "a text-back",
        || all_messages(&app, &staff),
        |m| !m.is_empty(),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let ms2 = all_messages(&app, &staff).await;
    assert_eq!(ms2.len(), 1, "{ms:#?}");
    assert_eq!(ms2[0]["kind"], "missed_call_textback");
    assert_eq!(ms2[0]["to"], "+15550100777");

    // The toggle off: no text-back.
    let admin = crate::helpers::same_org(&app, staff.org, Role::Admin);
    let r = app.client.put(app.url("/api/messaging/settings")).bearer_auth(&admin.token).json(&serde_json::json!({
        "clinic_name": "Bright Smile", "quiet_start": "21:00", "quiet_end": "08:00", "reminder_offsets_minutes": [1440, 120],
        "missed_call_textback": false, "staff_numbers": [], "help_text": "", "twilio_replies_to_keywords": true})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let _ = r.text().await;
    publish(
        &app,
        &Envelope::new(
            org,
            &call("+15550100666", 5, "customer-ended-call", false),
            None,
        )
        .unwrap(),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(all_messages(&app, &staff).await.len(), 1);
}

#[tokio::test]
async fn a_message_taken_by_the_agent_alerts_the_staff_once_without_its_text() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    let org = admin.org.as_uuid();
    // The alert is stored at once (it may then wait for the quiet-hours window to be sent).
    let r = app.client.put(app.url("/api/messaging/settings")).bearer_auth(&admin.token).json(&serde_json::json!({
        "clinic_name": "Bright Smile", "quiet_start": "21:00", "quiet_end": "08:00", "reminder_offsets_minutes": [1440],
        "missed_call_textback": true, "staff_numbers": ["+15550100201", "+15550100202"], "help_text": "Call 555-0100", "twilio_replies_to_keywords": true})).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let taken = <events::VoiceMessageTakenV1 as events::Event>::example();
    // Delivered twice: one alert per staff number.
    publish(&app, &Envelope::new(org, &taken, None).unwrap()).await;
    publish(&app, &Envelope::new(org, &taken, None).unwrap()).await;
    eventually("alerts", || all_messages(&app, &admin), |m| m.len() >= 2).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let ms = all_messages(&app, &admin).await;
    assert_eq!(ms.len(), 2, "{ms:?}");
    let mut to: Vec<&str> = ms.iter().map(|m| m["to"].as_str().unwrap()).collect();
    to.sort_unstable();
    assert_eq!(to, ["+15550100201", "+15550100202"]);
    for m in &ms {
        assert_eq!(m["kind"], "message_taken_alert");
        let body = m["body"].as_str().unwrap();
        assert!(
            body.contains("Jordan Lee") && body.contains("+15550100123"),
            "{body}"
        );
    }
    // Another org sees none of it.
    let other = caller(&app, Role::Admin);
    assert!(all_messages(&app, &other).await.is_empty());
}

#[tokio::test]
async fn a_hot_lead_alerts_the_staff_numbers_once() {
    let fake = FakeTwilio::start().await;
    let app = spawn(&fake).await;
    let admin = caller(&app, Role::Admin);
    let org = admin.org.as_uuid();
    let r = app.client.put(app.url("/api/messaging/settings")).bearer_auth(&admin.token).json(&serde_json::json!({
        "clinic_name": "Bright Smile", "quiet_start": "21:00", "quiet_end": "08:00", "reminder_offsets_minutes": [1440],
        "missed_call_textback": true, "staff_numbers": ["+15550100201", "+15550100202"], "help_text": "Call 555-0100", "twilio_replies_to_keywords": true})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["staff_numbers"].as_array().unwrap().len(), 2);
    let mut lead = <events::LeadScoredV1 as events::Event>::example();
    lead.call_id = Some(Uuid::new_v4());
    let env = Envelope::new(org, &lead, None).unwrap();
    publish(&app, &env).await;
    publish(&app, &Envelope::new(org, &lead, None).unwrap()).await;
    let mut cold = lead.clone();
    cold.tier = events::LeadTier::Cold;
    cold.call_id = Some(Uuid::new_v4());
    publish(&app, &Envelope::new(org, &cold, None).unwrap()).await;
    eventually("alerts", || all_messages(&app, &admin), |m| m.len() >= 2).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let ms = all_messages(&app, &admin).await;
    assert_eq!(ms.len(), 2);
    assert!(ms.iter().all(
        |m| m["kind"] == "hot_lead_alert" && m["body"].as_str().unwrap().contains("Jordan Lee")
    ));
    // Bad settings are refused; another org reads its own defaults.
    let r = app.client.put(app.url("/api/messaging/settings")).bearer_auth(&admin.token).json(&serde_json::json!({
        "clinic_name": "x", "quiet_start": "25:00", "quiet_end": "08:00", "reminder_offsets_minutes": [],
        "missed_call_textback": true, "staff_numbers": [], "help_text": "", "twilio_replies_to_keywords": true})).send().await.unwrap();
    assert_eq!(
        crate::helpers::problem(r, 422).await["code"],
        "invalid_field"
    );
    let other = caller(&app, Role::Viewer);
    let s = get_json(&app, "/api/messaging/settings", &other.token).await;
    assert!(s["staff_numbers"].as_array().unwrap().is_empty());
    assert_eq!(s["quiet_start"], "21:00");
}

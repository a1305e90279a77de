//! Issue 12: a patient's reply `C` confirms the appointment in calendar. Calendar (real) books
//! and publishes `appointment.booked.v1`; messaging (real, against a fake Twilio) texts the
//! confirmation; a signed inbound "C" makes messaging publish `appointment.reply_confirmed.v1`;
//! calendar sets the appointment `confirmed`. Both apps share one exchange (one bus prefix).

use std::sync::Arc;

use serde_json::{Value, json};
use tenancy::{OrgId, Role};
use testkit::wiremock::matchers::{method, path_regex};
use testkit::wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "auth-token-0123456789abcdef";
const PUBLIC: &str = "https://hooks.example.com";
const PATIENT: &str = "+15550100123";

struct Create;
impl Respond for Create {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        ResponseTemplate::new(201).set_body_json(json!({
            "sid": format!("SM{}", uuid::Uuid::new_v4().simple()), "status": "queued"}))
    }
}

async fn fake_twilio() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/2010-04-01/Accounts/AC[0-9a-f]{32}\.json$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sid": ACCOUNT_SID})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(
            r"^/2010-04-01/Accounts/AC[0-9a-f]{32}/Messages\.json$",
        ))
        .respond_with(Create)
        .mount(&server)
        .await;
    server
}

async fn until<T, F, Fut>(what: &str, mut probe: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let v = probe().await;
        if done(&v) {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_reply_c_confirms_the_appointment_in_calendar() {
    let fake = fake_twilio().await;
    let auth = Arc::new(testkit::TestAuth::start().await);
    let prefix = format!("{}.", testkit::unique_name("flow"));
    let common = [
        ("BUS_PREFIX", prefix.as_str()),
        ("BUS_RELAY_POLL_MS", "100"),
        ("BUS_RETRY_DELAYS_MS", "200"),
    ];
    let cal = testkit::spawn_app_with::<calendar::Calendar>(auth.clone(), &common).await;
    let uri = fake.uri();
    let mut env = common.to_vec();
    env.extend_from_slice(&[
        ("TWILIO_API_BASE_URL", uri.as_str()),
        ("PUBLIC_BASE_URL", PUBLIC),
        ("MESSAGING_DISPATCH_POLL_MS", "50"),
    ]);
    let msg = testkit::spawn_app_with::<messaging::Messaging>(auth.clone(), &env).await;
    // Both queues exist before anything is published.
    bus::Bus::new(cal.settings.standard.bus.clone())
        .declare_until_done()
        .await;
    bus::Bus::new(msg.settings.standard.bus.clone())
        .declare_until_done()
        .await;

    let org = OrgId::new_random();
    let admin = auth.token(org, Role::Admin);
    let r = msg.client.put(msg.url("/api/messaging/twilio")).bearer_auth(&admin)
        .json(&json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": "+15005550006"}))
        .send().await.unwrap();
    assert_eq!(r.status(), 200);

    let day = json!([{"start": "08:00", "end": "18:00"}]);
    let r = cal.client.put(cal.url("/api/calendar/settings")).bearer_auth(&admin).json(&json!({
        "timezone": "UTC", "slot_interval_minutes": null, "min_notice_minutes": 0, "booking_window_days": 60,
        "default_buffer_before_minutes": 0, "default_buffer_after_minutes": 0, "hold_minutes": 5,
        "weekly_hours": {"monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day, "saturday": day, "sunday": day},
        "date_overrides": []})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = cal
        .client
        .post(cal.url("/api/calendar/services"))
        .bearer_auth(&admin)
        .json(&json!({"name": "Cleaning", "duration_minutes": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let service = r.json::<Value>().await.unwrap()["id"].clone();
    let starts = (chrono::Utc::now().date_naive() + chrono::Duration::days(3))
        .and_hms_opt(10, 0, 0)
        .unwrap()
        .and_utc();
    let r = cal.client.post(cal.url("/api/calendar/appointments")).bearer_auth(&admin)
        .json(&json!({"service_id": service, "starts_at": starts.to_rfc3339(), "contact_name": "Jordan Lee", "contact_phone": PATIENT}))
        .send().await.unwrap();
    assert_eq!(r.status(), 201);
    let appt = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // messaging texted the confirmation for this appointment.
    let path = format!("/api/messaging/messages?appointment_id={appt}");
    until(
        "the confirmation is sent",
        || async {
            msg.client
                .get(msg.url(&path))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        },
        |v| {
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["kind"] == "appointment_confirmation" && m["status"] == "queued")
        },
    )
    .await;

    // The patient replies "C" (Twilio's signed inbound webhook).
    let hook = format!("/api/webhooks/twilio/{org}/inbound");
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    let params: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT_SID),
        ("Body", "C"),
        ("From", PATIENT),
        ("MessageSid", sid.as_str()),
        ("To", "+15005550006"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
    .collect();
    let signature =
        messaging::domain::signature::sign(AUTH_TOKEN, &format!("{PUBLIC}{hook}"), &params);
    let body = params.iter().fold(String::new(), |mut s, (k, v)| {
        if !s.is_empty() {
            s.push('&');
        }
        s.push_str(k);
        s.push('=');
        s.push_str(&v.replace('+', "%2B"));
        s
    });
    let r = msg
        .client
        .post(msg.url(&hook))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let appt_path = format!("/api/calendar/appointments/{appt}");
    let v = until(
        "calendar confirms the appointment",
        || async {
            cal.client
                .get(cal.url(&appt_path))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        },
        |v| v["status"] == "confirmed",
    )
    .await;
    assert_eq!(v["version"], 2);
}

//! One clinic time zone and one set of opening hours, calendar's (issue 11 item 14a): voice asks
//! calendar's internal API (`GET …/clinic`, here a fake speaking its documented shape) on every
//! call, so a change there shows on the next call — "today" in the prompt, the after-hours
//! greeting, transfers. When calendar is away voice uses calendar's last answer, and never claims
//! the clinic closed on a guess.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};
use serde_json::{Value, json};
use testkit::wiremock::matchers::{header, method, path};
use testkit::wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    App, Clinic, call, clinic, eventually, message, problem, spawn_shared, vapi_ok,
};

async fn setup() -> (App, MockServer, String) {
    let auth = Arc::new(testkit::TestAuth::start().await);
    let token = auth.service_token("voice-webhook");
    let calendar = MockServer::start().await;
    let app = spawn_shared(
        auth,
        &[
            ("CALENDAR_INTERNAL_URL", calendar.uri().as_str()),
            ("CALENDAR_SERVICE_TOKEN", token.as_str()),
            ("VOICE_CLINIC_LOOKUP_TIMEOUT_MS", "400"),
        ],
    )
    .await;
    (app, calendar, token)
}

/// Calendar answers `clinic` for `c` with `answer` (replacing what it answered before).
async fn calendar_says(calendar: &MockServer, token: &str, c: &Clinic, answer: ResponseTemplate) {
    calendar.reset().await;
    Mock::given(method("GET"))
        .and(path(format!("/internal/v1/orgs/{}/clinic", c.org)))
        .and(header("authorization", format!("Bearer {token}")))
        .respond_with(answer)
        .mount(calendar)
        .await;
}

fn hours(tz: &str, weekly: Value, overrides: Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"timezone": tz, "weekly_hours": weekly, "date_overrides": overrides}))
}

fn every_day(ranges: Value) -> Value {
    let mut w = serde_json::Map::new();
    for d in [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ] {
        w.insert(d.into(), ranges.clone());
    }
    Value::Object(w)
}

fn ask(c: &Clinic, id: &str) -> Value {
    message(
        "assistant-request",
        &call(id, &c.vapi_number_id),
        &c.number,
        json!({}),
    )
}

fn today_in(tz: chrono_tz::Tz) -> String {
    Utc::now().with_timezone(&tz).date_naive().to_string()
}

async fn set_transfer(app: &App, c: &Clinic) {
    let r = app
        .client
        .put(app.url(&format!("/api/voice/agents/{}", c.agent_id)))
        .bearer_auth(&c.admin)
        .json(
            &json!({"name": "Front desk", "transfer_number": "+15550123499",
                      "after_hours_message": "Cedar Point is closed; I can take a message."}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn transfer(c: &Clinic, id: &str) -> Value {
    message(
        "transfer-destination-request",
        &call(id, &c.vapi_number_id),
        &c.number,
        json!({}),
    )
}

#[tokio::test]
async fn a_zone_or_hours_change_in_calendar_shows_on_the_next_call() {
    let (app, calendar, token) = setup().await;
    // Voice learnt New York at signup; the clinic has since moved its zone in calendar.
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    set_transfer(&app, &c).await;

    // UTC+14, open around the clock.
    calendar_says(
        &calendar,
        &token,
        &c,
        hours(
            "Pacific/Kiritimati",
            every_day(json!([{"start": "00:00", "end": "24:00"}])),
            json!([]),
        ),
    )
    .await;
    let a = vapi_ok(&app, &ask(&c, "call-tz-1")).await;
    let vars = &a["assistantOverrides"]["variableValues"];
    assert_eq!(vars["timezone"], "Pacific/Kiritimati", "{a}");
    assert_eq!(vars["today"], today_in(chrono_tz::Pacific::Kiritimati));
    assert_eq!(vars["afterHours"], false);
    assert_eq!(vars["hoursSource"], "calendar");
    let prompt = a["assistant"]["model"]["messages"][0]["content"]
        .as_str()
        .unwrap();
    assert!(prompt.contains("Pacific/Kiritimati"), "{prompt}");
    assert!(!prompt.contains("closed now"), "{prompt}");
    let t = vapi_ok(&app, &transfer(&c, "call-tz-1")).await;
    assert_eq!(t["destination"]["number"], "+15550123499", "{t}");

    // The clinic moves to UTC−11 (always another date than UTC+14) and closes every weekday:
    // the next call says the other "today" and greets after hours; nobody to transfer to.
    calendar_says(
        &calendar,
        &token,
        &c,
        hours("Pacific/Pago_Pago", json!({"monday": []}), json!([])),
    )
    .await;
    let a = vapi_ok(&app, &ask(&c, "call-tz-2")).await;
    let vars = &a["assistantOverrides"]["variableValues"];
    assert_eq!(vars["timezone"], "Pacific/Pago_Pago", "{a}");
    assert_eq!(vars["today"], today_in(chrono_tz::Pacific::Pago_Pago));
    assert_ne!(vars["today"], today_in(chrono_tz::Pacific::Kiritimati));
    assert_eq!(vars["afterHours"], true);
    assert_eq!(
        a["assistant"]["firstMessage"],
        "Cedar Point is closed; I can take a message."
    );
    let t = vapi_ok(&app, &transfer(&c, "call-tz-2")).await;
    assert!(t.get("destination").is_none(), "{t}");
    assert!(
        t["error"].as_str().unwrap().contains("take a message"),
        "{t}"
    );

    // Odd hours by a date override for today only (the weekdays stay closed): a range of odd
    // minutes around now opens the clinic; the same range an hour later does not.
    let tz = chrono_tz::Asia::Kathmandu; // UTC+5:45
    let now = Utc::now().with_timezone(&tz);
    let mins = i64::from(now.hour() * 60 + now.minute());
    let hhmm = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
    let (from, to) = ((mins - 17).max(0), (mins + 23).min(1440));
    let today = now.date_naive().to_string();
    calendar_says(&calendar, &token, &c, hours("Asia/Kathmandu", json!({}),
        json!([{"date": today, "hours": [{"start": hhmm(from), "end": if to == 1440 { "24:00".into() } else { hhmm(to) }}]}]))).await;
    let a = vapi_ok(&app, &ask(&c, "call-tz-3")).await;
    assert_eq!(
        a["assistantOverrides"]["variableValues"]["afterHours"], false,
        "{a}"
    );
    if mins + 60 + 40 < 1440 {
        calendar_says(&calendar, &token, &c, hours("Asia/Kathmandu", every_day(json!([])),
            json!([{"date": today, "hours": [{"start": hhmm(mins + 60), "end": hhmm(mins + 100)}]}]))).await;
        let a = vapi_ok(&app, &ask(&c, "call-tz-4")).await;
        assert_eq!(
            a["assistantOverrides"]["variableValues"]["afterHours"], true,
            "{a}"
        );
    }

    // Agents no longer keep opening hours of their own: the clinic's are in calendar.
    let r = app
        .client
        .put(app.url(&format!("/api/voice/agents/{}", c.agent_id)))
        .bearer_auth(&c.admin)
        .json(&json!({"name": "Front desk", "open_hours": [{"day": "mon", "from": "09:00", "to": "17:00"}]}))
        .send()
        .await
        .unwrap();
    let p = problem(r, 422).await;
    assert_eq!(p["field"], "open_hours");
    assert!(p["detail"].as_str().unwrap().contains("calendar"), "{p}");
}

#[tokio::test]
async fn with_calendar_away_the_last_known_clinic_is_used_and_closed_is_never_guessed() {
    let (app, calendar, token) = setup().await;
    let a = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let b = clinic(&app, "Harbour Dental", "Australia/Eucla", "+15550123401").await;

    // Calendar answers for A once: India, closed all week. Voice keeps that answer.
    calendar_says(
        &calendar,
        &token,
        &a,
        hours("Asia/Kolkata", every_day(json!([])), json!([])),
    )
    .await;
    let r = vapi_ok(&app, &ask(&a, "call-away-1")).await;
    assert_eq!(
        r["assistantOverrides"]["variableValues"]["timezone"],
        "Asia/Kolkata"
    );
    let sql = format!(
        "SELECT count(*) AS n FROM voice.org_profiles WHERE org_id = '{}' AND timezone = 'Asia/Kolkata' AND clinic_synced_at IS NOT NULL",
        a.org
    );
    let kept = eventually(|| crate::helpers::count(&app, &sql), |n| *n == 1).await;
    assert_eq!(kept, 1, "calendar's answer is kept as the fallback");

    // Calendar fails: A is answered with calendar's last zone and hours (still closed).
    calendar_says(
        &calendar,
        &token,
        &a,
        ResponseTemplate::new(503)
            .set_body_json(json!({"code": "database_unavailable", "status": 503})),
    )
    .await;
    let r = vapi_ok(&app, &ask(&a, "call-away-2")).await;
    let vars = &r["assistantOverrides"]["variableValues"];
    assert_eq!(vars["timezone"], "Asia/Kolkata", "{r}");
    assert_eq!(vars["today"], today_in(chrono_tz::Asia::Kolkata));
    assert_eq!(vars["afterHours"], true);
    assert_eq!(vars["hoursSource"], "last_known");

    // Calendar hangs: the lookup gives up within its timeout and the call is answered anyway.
    calendar_says(
        &calendar,
        &token,
        &a,
        hours("Europe/Paris", json!({}), json!([])).set_delay(Duration::from_secs(4)),
    )
    .await;
    let started = Instant::now();
    let r = vapi_ok(&app, &ask(&a, "call-away-3")).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        r["assistantOverrides"]["variableValues"]["timezone"], "Asia/Kolkata",
        "{r}"
    );

    // B was never answered by calendar: org.created's zone, hours unknown, so not "closed" —
    // the caller is served (and the transfer rule lets the call through).
    let r = vapi_ok(&app, &ask(&b, "call-away-4")).await;
    let vars = &r["assistantOverrides"]["variableValues"];
    assert_eq!(vars["timezone"], "Australia/Eucla", "{r}");
    assert_eq!(vars["today"], today_in(chrono_tz::Australia::Eucla));
    assert_eq!(vars["afterHours"], false);
    assert_eq!(vars["hoursSource"], "unknown");
    assert!(
        r.get("error").is_none() && r["assistant"].is_object(),
        "{r}"
    );
}

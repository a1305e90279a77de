//! Issue 11 item 9: what availability offers, the internal booking API books — one grid,
//! counted from each opening time. A fixed case (a clinic opening at 09:30 with hour-long
//! services), then a property over random hours (odd minutes), durations, intervals, service and
//! clinic buffers, and zones (New York and Berlin change clocks; St John's is −03:30), on dates
//! around the next clock change, booked end to end over HTTP against the real Postgres.

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use tenancy::{OrgId, Role};

use crate::helpers::{TestApp, caller, problem, spawn};

type App = TestApp<calendar::Calendar>;

fn base(org: OrgId) -> String {
    format!("/internal/v1/orgs/{org}")
}

async fn iget(app: &App, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(app.auth.service_token("voice-webhook"))
        .send()
        .await
        .unwrap()
}

async fn ibook(app: &App, org: OrgId, service: &str, starts_at: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("{}/appointments", base(org))))
        .bearer_auth(app.auth.service_token("voice-webhook"))
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .json(&json!({"service_id": service, "starts_at": starts_at,
            "contact_phone": "+15550100123", "source": "voice"}))
        .send()
        .await
        .unwrap()
}

/// Settings: `tz`, every day `open`–`close`, `interval`, default buffers, no notice.
#[allow(clippy::too_many_arguments)]
async fn clinic(
    app: &App,
    token: &str,
    tz: &str,
    open: &str,
    close: &str,
    interval: Option<i64>,
    default_before: i64,
    default_after: i64,
) {
    let day = json!([{"start": open, "end": close}]);
    let r = app
        .client
        .put(app.url("/api/calendar/settings"))
        .bearer_auth(token)
        .json(&json!({
            "timezone": tz, "slot_interval_minutes": interval, "min_notice_minutes": 0,
            "booking_window_days": 730, "default_buffer_before_minutes": default_before,
            "default_buffer_after_minutes": default_after, "hold_minutes": 5,
            "weekly_hours": {"monday": day, "tuesday": day, "wednesday": day, "thursday": day,
                             "friday": day, "saturday": day, "sunday": day},
            "date_overrides": []
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// A service; `None` buffers leave them to the clinic's defaults.
async fn service(
    app: &App,
    token: &str,
    minutes: i64,
    before: Option<i64>,
    after: Option<i64>,
) -> String {
    let r = app
        .client
        .post(app.url("/api/calendar/services"))
        .bearer_auth(token)
        .json(&json!({"name": "Visit", "duration_minutes": minutes,
            "buffer_before_minutes": before, "buffer_after_minutes": after}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Offered starts of one local date (internal API), as RFC 3339 UTC strings.
async fn offered(
    app: &App,
    org: OrgId,
    service: &str,
    tz: chrono_tz::Tz,
    day: NaiveDate,
) -> Vec<String> {
    let from = tz
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap())
        .earliest()
        .unwrap()
        .with_timezone(&Utc);
    let to = from + Duration::hours(26);
    let path = format!(
        "{}/availability?service_id={service}&from={}&to={}",
        base(org),
        from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let r = iget(app, &path).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s["starts_at"].as_str().unwrap())
                .unwrap()
                .with_timezone(&Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .collect()
}

#[tokio::test]
async fn a_clinic_opening_at_half_past_books_every_hour_it_offers() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    let tz = chrono_tz::America::New_York;
    clinic(&app, &admin.token, tz.name(), "09:30", "12:00", None, 0, 0).await;
    let s = service(&app, &admin.token, 60, Some(0), Some(0)).await;
    let day = Utc::now().with_timezone(&tz).date_naive() + Duration::days(3);
    let slots = offered(&app, admin.org, &s, tz, day).await;
    let local = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .with_timezone(&tz)
            .format("%H:%M")
            .to_string()
    };
    assert_eq!(
        slots.iter().map(|t| local(t)).collect::<Vec<_>>(),
        vec!["09:30", "10:30"]
    );
    // 10:30 was refused with 422 slot_not_offered before the fix.
    for t in &slots {
        let r = ibook(&app, admin.org, &s, t).await;
        assert_eq!(r.status(), 201, "{t}: {}", r.text().await.unwrap());
    }
    // The hour grid from midnight is not this clinic's grid: 10:00 is refused.
    let ten = tz
        .from_local_datetime(&day.and_hms_opt(10, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc)
        .to_rfc3339();
    let p = problem(ibook(&app, admin.org, &s, &ten).await, 422).await;
    assert_eq!(p["code"], "slot_not_offered");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("not one of the clinic's start times"),
        "{p}"
    );
    // After hours: the same stable code; the detail says why.
    let night = tz
        .from_local_datetime(&day.and_hms_opt(20, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc)
        .to_rfc3339();
    let p = problem(ibook(&app, admin.org, &s, &night).await, 422).await;
    assert_eq!(p["code"], "slot_not_offered");
    assert!(
        p["detail"].as_str().unwrap().contains("outside its hours"),
        "{p}"
    );
}

/// One random clinic.
#[derive(Debug, Clone)]
struct Case {
    zone: usize,
    open: u32,
    length: u32,
    duration: i64,
    interval: Option<i64>,
    service_buffers: (Option<i64>, Option<i64>),
    default_buffers: (i64, i64),
    /// Days from the next clock change (−1, 0, +1), and which change.
    shift: i64,
    spring: bool,
}

const ZONES: [chrono_tz::Tz; 4] = [
    chrono_tz::America::New_York,
    chrono_tz::Europe::Berlin,
    chrono_tz::America::St_Johns,
    chrono_tz::Asia::Kolkata,
];

fn case() -> impl Strategy<Value = Case> {
    (
        0..ZONES.len(),
        (0u32..(20 * 60), 30u32..(8 * 60)),
        (5i64..=120, prop::option::of(5i64..=90)),
        (
            prop::option::of(0i64..=30),
            prop::option::of(0i64..=30),
            0i64..=20,
            0i64..=20,
        ),
        (-1i64..=1, prop::bool::ANY),
    )
        .prop_map(
            |(zone, (open, length), (duration, interval), (sb, sa, db, da), (shift, spring))| {
                Case {
                    zone,
                    open,
                    length,
                    duration,
                    interval,
                    service_buffers: (sb, sa),
                    default_buffers: (db, da),
                    shift,
                    spring,
                }
            },
        )
}

/// The next local date on which `tz` changes its offset in the given direction (Kolkata has no
/// changes: a date two weeks ahead).
fn next_change(tz: chrono_tz::Tz, spring: bool) -> NaiveDate {
    use chrono::Offset;
    let offset = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(12, 0, 0).unwrap())
            .earliest()
            .unwrap()
            .offset()
            .fix()
            .local_minus_utc()
    };
    let start = Utc::now().date_naive() + Duration::days(3);
    let mut d = start;
    for _ in 0..400 {
        let next = d.succ_opt().unwrap();
        if offset(next) != offset(d) && (offset(next) > offset(d)) == spring {
            return next;
        }
        d = next;
    }
    start + Duration::days(14)
}

fn hhmm(m: u32) -> String {
    if m >= 1440 {
        return "24:00".into();
    }
    format!("{:02}:{:02}", m / 60, m % 60)
}

#[tokio::test]
async fn every_offered_slot_books_through_the_internal_api_and_nothing_else_does() {
    let app = spawn().await;
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let mut booked_total = 0;
    for _ in 0..12 {
        let c = strategy.new_tree(&mut runner).unwrap().current();
        let tz = ZONES[c.zone];
        let admin = caller(&app, Role::Admin);
        let close = (c.open + c.length).min(1440);
        clinic(
            &app,
            &admin.token,
            tz.name(),
            &hhmm(c.open),
            &hhmm(close),
            c.interval,
            c.default_buffers.0,
            c.default_buffers.1,
        )
        .await;
        let s = service(
            &app,
            &admin.token,
            c.duration,
            c.service_buffers.0,
            c.service_buffers.1,
        )
        .await;
        let day = next_change(tz, c.spring) + Duration::days(c.shift);
        let initial = offered(&app, admin.org, &s, tz, day).await;
        // Book what is offered, re-reading availability after each booking (buffers of the
        // booked ones now count): every slot still offered must book.
        let mut now_offered = initial.clone();
        for round in 0..4 {
            let Some(pick) = now_offered
                .get((round * 3) % now_offered.len().max(1))
                .cloned()
            else {
                break;
            };
            let r = ibook(&app, admin.org, &s, &pick).await;
            assert_eq!(
                r.status(),
                201,
                "{c:?} on {day}: offered {pick} refused: {}",
                r.text().await.unwrap()
            );
            booked_total += 1;
            now_offered = offered(&app, admin.org, &s, tz, day).await;
            assert!(
                !now_offered.contains(&pick),
                "{pick} still offered once booked"
            );
        }
        // A start inside the hours that was never offered is refused as not offered.
        let probe = (c.open..close)
            .step_by(7)
            .filter_map(|m| {
                let local = day.and_hms_opt(0, 0, 0).unwrap() + Duration::minutes(i64::from(m));
                tz.from_local_datetime(&local).earliest()
            })
            .map(|t| {
                t.with_timezone(&Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })
            .find(|t| !initial.contains(t));
        if let Some(t) = probe {
            let p = problem(ibook(&app, admin.org, &s, &t).await, 422).await;
            assert_eq!(p["code"], "slot_not_offered", "{c:?}: {t}");
        }
    }
    assert!(
        booked_total >= 12,
        "the cases booked too little: {booked_total}"
    );
}

//! Availability over HTTP: DST in America/New_York (each local slot once, right UTC instants),
//! minimum notice, booking window, closed dates and several ranges a day.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use tenancy::Role;

use crate::helpers::{caller, get, get_json, problem, service, spawn};

fn slots(v: &Value) -> Vec<(String, String)> {
    v["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["starts_at"].as_str().unwrap().to_string(),
                s["local_start"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn put_settings(app: &crate::helpers::TestApp<calendar::Calendar>, token: &str, body: Value) {
    let r = app
        .client
        .put(app.url("/api/calendar/settings"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// The next local date after `after` on which New York moves its clocks forward (`spring`) or back.
fn next_change(after: chrono::NaiveDate, spring: bool) -> chrono::NaiveDate {
    use chrono::{Offset, TimeZone};
    let tz = chrono_tz::America::New_York;
    let offset = |d: chrono::NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(12, 0, 0).unwrap())
            .earliest()
            .unwrap()
            .offset()
            .fix()
            .local_minus_utc()
    };
    let mut d = after;
    loop {
        let next = d.succ_opt().unwrap();
        if offset(next) != offset(d) && (offset(next) > offset(d)) == spring {
            return next;
        }
        d = next;
    }
}

#[tokio::test]
async fn new_york_dst_days_list_each_local_slot_once_with_the_right_instants() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    let all_day = json!([{"start": "00:00", "end": "24:00"}]);
    put_settings(&app, &admin.token, json!({
        "timezone": "America/New_York", "slot_interval_minutes": null, "min_notice_minutes": 0,
        "booking_window_days": 730, "default_buffer_before_minutes": 0, "default_buffer_after_minutes": 0,
        "hold_minutes": 5,
        "weekly_hours": {"monday": all_day, "tuesday": all_day, "wednesday": all_day, "thursday": all_day,
                         "friday": all_day, "saturday": all_day, "sunday": all_day},
        "date_overrides": []
    })).await;
    let s = service(&app, &admin.token, "Consultation", 60, 0, 0).await;
    let url = |from: &str, to: &str| {
        format!("/api/calendar/availability?service_id={s}&from={from}&to={to}")
    };
    // The coming changes (the 2026 ones, 03-08 and 11-01, are in the past: the pure unit tests
    // in src/domain/availability.rs pin those dates).
    let tomorrow = Utc::now().date_naive() + Duration::days(1);
    let fall = next_change(tomorrow, false);
    let spring = next_change(tomorrow, true);
    let day = |d: chrono::NaiveDate, n: i64| (d + Duration::days(n)).format("%Y-%m-%d").to_string();

    // Fall back: the local day is 25 hours long (00:00 EDT to 24:00 EST); 01:00 happens twice.
    let f = day(fall, 0);
    let v = get_json(
        &app,
        &url(
            &format!("{f}T04:00:00Z"),
            &format!("{}T05:00:00Z", day(fall, 1)),
        ),
        &admin.token,
    )
    .await;
    assert_eq!(v["timezone"], "America/New_York");
    let got = slots(&v);
    assert_eq!(got.len(), 25, "{got:?}");
    let ones: Vec<_> = got
        .iter()
        .filter(|(_, l)| l.starts_with(&format!("{f}T01:00")))
        .cloned()
        .collect();
    assert_eq!(
        ones,
        vec![
            (format!("{f}T05:00:00Z"), format!("{f}T01:00:00-04:00")),
            (format!("{f}T06:00:00Z"), format!("{f}T01:00:00-05:00")),
        ]
    );
    // Spring forward: 23 hours (00:00 EST to 24:00 EDT); 02:00 does not exist.
    let sp = day(spring, 0);
    let got = slots(
        &get_json(
            &app,
            &url(
                &format!("{sp}T05:00:00Z"),
                &format!("{}T04:00:00Z", day(spring, 1)),
            ),
            &admin.token,
        )
        .await,
    );
    assert_eq!(got.len(), 23, "{got:?}");
    assert!(
        !got.iter().any(|(_, l)| l.starts_with(&format!("{sp}T02:"))),
        "{got:?}"
    );
    assert!(got.contains(&(format!("{sp}T07:00:00Z"), format!("{sp}T03:00:00-04:00"))));
    assert!(got.contains(&(format!("{sp}T06:00:00Z"), format!("{sp}T01:00:00-05:00"))));
    // A 24-hour window across the fall-back change: 24 slots, all distinct, an hour apart.
    let got = slots(
        &get_json(
            &app,
            &url(
                &format!("{f}T00:00:00Z"),
                &format!("{}T00:00:00Z", day(fall, 1)),
            ),
            &admin.token,
        )
        .await,
    );
    assert_eq!(got.len(), 24);
    let mut locals: Vec<_> = got.iter().map(|(_, l)| l.clone()).collect();
    locals.dedup();
    assert_eq!(locals.len(), 24);
}

#[tokio::test]
async fn notice_window_closed_dates_and_several_ranges_shape_the_slots() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    let today = Utc::now().date_naive();
    let day = |n: i64| (today + Duration::days(n)).format("%Y-%m-%d").to_string();
    let two = json!([{"start": "09:00", "end": "10:00"}, {"start": "14:00", "end": "15:00"}]);
    put_settings(&app, &admin.token, json!({
        "timezone": "UTC", "slot_interval_minutes": null, "min_notice_minutes": 2880,
        "booking_window_days": 5, "default_buffer_before_minutes": 0, "default_buffer_after_minutes": 0,
        "hold_minutes": 5,
        "weekly_hours": {"monday": two, "tuesday": two, "wednesday": two, "thursday": two,
                         "friday": two, "saturday": two, "sunday": two},
        "date_overrides": [{"date": day(3), "hours": []}]
    })).await;
    let s = service(&app, &admin.token, "Cleaning", 30, 0, 0).await;
    let from = format!("{}T00:00:00Z", day(0));
    let to = format!("{}T00:00:00Z", day(9));
    let v = get_json(
        &app,
        &format!("/api/calendar/availability?service_id={s}&from={from}&to={to}"),
        &admin.token,
    )
    .await;
    let got = slots(&v);
    let earliest = Utc::now() + Duration::minutes(2880);
    for (start, _) in &got {
        let t = chrono::DateTime::parse_from_rfc3339(start).unwrap();
        assert!(t >= earliest, "{start} is inside the minimum notice");
        assert!(!start.starts_with(&day(3)), "{start} is on the closed date");
        assert!(
            start.as_str() < format!("{}T00:00:00Z", day(5)).as_str(),
            "{start} is past the window"
        );
    }
    let on_day4: Vec<_> = got
        .iter()
        .filter(|(s, _)| s.starts_with(&day(4)))
        .map(|(s, _)| s[11..16].to_string())
        .collect();
    assert_eq!(on_day4, vec!["09:00", "09:30", "14:00", "14:30"]);
    assert!(
        got.iter()
            .all(|(s, _)| !s.starts_with(&day(0)) && !s.starts_with(&day(1)))
    );
}

#[tokio::test]
async fn bad_availability_queries_are_precise() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    let s = service(&app, &admin.token, "Cleaning", 30, 0, 0).await;
    let p = problem(get(&app, &format!("/api/calendar/availability?service_id={s}&from=2027-01-02T00:00:00Z&to=2027-01-01T00:00:00Z"), &admin.token).await, 422).await;
    assert_eq!(p["field"], "to");
    let p = problem(get(&app, &format!("/api/calendar/availability?service_id={s}&from=2027-01-01T00:00:00Z&to=2027-06-01T00:00:00Z"), &admin.token).await, 422).await;
    assert_eq!(p["field"], "to");
    let r = get(
        &app,
        &format!("/api/calendar/availability?service_id={s}&from=tomorrow&to=2027-01-01T00:00:00Z"),
        &admin.token,
    )
    .await;
    assert_eq!(problem(r, 400).await["code"], "invalid_query");
    let r = get(&app, &format!("/api/calendar/availability?service_id={}&from=2027-01-01T00:00:00Z&to=2027-01-02T00:00:00Z", uuid::Uuid::new_v4()), &admin.token).await;
    assert_eq!(problem(r, 404).await["code"], "not_found");
}

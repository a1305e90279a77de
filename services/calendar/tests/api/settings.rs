//! Clinic settings: defaults before anything is stored, a full replace by an admin, precise 422s,
//! roles, and one org's settings invisible to another.

use serde_json::{Value, json};
use tenancy::Role;

use crate::helpers::{caller, get_json, problem, same_org, spawn};

const PATH: &str = "/api/calendar/settings";

fn doc() -> Value {
    json!({
        "timezone": "America/New_York",
        "slot_interval_minutes": 15,
        "min_notice_minutes": 60,
        "booking_window_days": 30,
        "default_buffer_before_minutes": 5,
        "default_buffer_after_minutes": 10,
        "hold_minutes": 7,
        "weekly_hours": {
            "monday": [{"start": "08:00", "end": "12:00"}, {"start": "13:00", "end": "17:30"}],
            "saturday": [{"start": "10:00", "end": "24:00"}]
        },
        "date_overrides": [
            {"date": "2026-12-25", "hours": []},
            {"date": "2026-12-24", "hours": [{"start": "09:00", "end": "12:00"}]}
        ]
    })
}

#[tokio::test]
async fn defaults_then_an_admin_replaces_the_whole_document() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    let got = get_json(&app, PATH, &admin.token).await;
    assert_eq!(got["timezone"], "UTC");
    assert_eq!(got["min_notice_minutes"], 120);
    assert_eq!(
        got["weekly_hours"]["monday"],
        json!([{"start": "09:00", "end": "17:00"}])
    );
    assert_eq!(got["weekly_hours"]["sunday"], json!([]));

    let r = app
        .client
        .put(app.url(PATH))
        .bearer_auth(&admin.token)
        .json(&doc())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = get_json(&app, PATH, &admin.token).await;
    assert_eq!(got["timezone"], "America/New_York");
    assert_eq!(got["slot_interval_minutes"], 15);
    assert_eq!(got["hold_minutes"], 7);
    assert_eq!(
        got["weekly_hours"]["monday"],
        doc()["weekly_hours"]["monday"]
    );
    assert_eq!(
        got["weekly_hours"]["saturday"],
        doc()["weekly_hours"]["saturday"]
    );
    assert_eq!(got["weekly_hours"]["tuesday"], json!([]));
    // Overrides come back by date, the closed day with no hours.
    assert_eq!(
        got["date_overrides"],
        json!([
            {"date": "2026-12-24", "hours": [{"start": "09:00", "end": "12:00"}]},
            {"date": "2026-12-25", "hours": []}
        ])
    );
    // A second PUT replaces, it does not merge.
    let mut less = doc();
    less["weekly_hours"] = json!({"friday": [{"start": "09:00", "end": "10:00"}]});
    less["date_overrides"] = json!([]);
    let r = app
        .client
        .put(app.url(PATH))
        .bearer_auth(&admin.token)
        .json(&less)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = get_json(&app, PATH, &admin.token).await;
    assert_eq!(got["weekly_hours"]["monday"], json!([]));
    assert_eq!(got["date_overrides"], json!([]));
}

#[tokio::test]
async fn bad_settings_are_422_naming_the_field_and_change_nothing() {
    let app = spawn().await;
    let admin = caller(&app, Role::Owner);
    let cases = [
        ("/timezone", json!("Mars/Olympus"), "timezone"),
        ("/booking_window_days", json!(0), "booking_window_days"),
        ("/slot_interval_minutes", json!(2), "slot_interval_minutes"),
        (
            "/weekly_hours/monday",
            json!([{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]),
            "weekly_hours.monday",
        ),
        (
            "/weekly_hours/monday",
            json!([{"start": "9am", "end": "12:00"}]),
            "weekly_hours.monday",
        ),
        (
            "/weekly_hours/monday",
            json!([{"start": "12:00", "end": "09:00"}]),
            "weekly_hours.monday",
        ),
        ("/weekly_hours/funday", json!([]), "weekly_hours"),
        (
            "/date_overrides",
            json!([{"date": "2026-02-30", "hours": []}]),
            "date_overrides",
        ),
    ];
    for (pointer, value, field) in cases {
        let mut body = doc();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = if parent.is_empty() {
            &mut body
        } else {
            body.pointer_mut(parent).unwrap()
        };
        target[key] = value;
        let r = app
            .client
            .put(app.url(PATH))
            .bearer_auth(&admin.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let p = problem(r, 422).await;
        assert_eq!(p["field"], field, "{pointer}: {p}");
    }
    let got = get_json(&app, PATH, &admin.token).await;
    assert_eq!(got["timezone"], "UTC");
}

#[tokio::test]
async fn only_admins_change_settings_and_orgs_do_not_see_each_other() {
    let app = spawn().await;
    let a = caller(&app, Role::Admin);
    let b = caller(&app, Role::Admin);
    for role in [Role::Staff, Role::Viewer] {
        let who = same_org(&app, a.org, role);
        let r = app
            .client
            .put(app.url(PATH))
            .bearer_auth(&who.token)
            .json(&doc())
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r, 403).await["code"], "insufficient_role");
    }
    let r = app
        .client
        .put(app.url(PATH))
        .bearer_auth(&a.token)
        .json(&doc())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let viewer = same_org(&app, a.org, Role::Viewer);
    assert_eq!(
        get_json(&app, PATH, &viewer.token).await["timezone"],
        "America/New_York"
    );
    // B still has the defaults: A's settings are not visible to B.
    assert_eq!(get_json(&app, PATH, &b.token).await["timezone"], "UTC");
}

//! Public routes: org B cannot see, book over, reschedule or cancel org A's appointments, nor use
//! A's services, by id, list or search.

use serde_json::{Value, json};
use tenancy::Role;

use crate::helpers::{
    at, book, caller, get, get_json, open_every_day, post, problem, service, spawn,
};

#[tokio::test]
async fn a_second_org_cannot_see_or_touch_the_first_orgs_appointments() {
    let app = spawn().await;
    let a = caller(&app, Role::Admin);
    let b = caller(&app, Role::Admin);
    for who in [&a, &b] {
        open_every_day(&app, &who.token, "UTC", "08:00", "18:00").await;
    }
    let sa = service(&app, &a.token, "Cleaning", 30, 0, 0).await;
    let sb = service(&app, &b.token, "Cleaning", 30, 0, 0).await;
    let appt: Value = book(&app, &a.token, &sa, &at(3, 10, 0))
        .await
        .json()
        .await
        .unwrap();
    let id = appt["id"].as_str().unwrap();

    let r = get(&app, &format!("/api/calendar/appointments/{id}"), &b.token).await;
    assert_eq!(problem(r, 404).await["code"], "not_found");
    let list = get_json(&app, "/api/calendar/appointments", &b.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let search = get_json(
        &app,
        "/api/calendar/appointments?phone=%2B15550100123",
        &b.token,
    )
    .await;
    assert_eq!(search["items"].as_array().unwrap().len(), 0);
    for action in ["cancel", "complete", "no-show"] {
        let r = post(
            &app,
            &format!("/api/calendar/appointments/{id}/{action}"),
            &b.token,
            &json!({}),
        )
        .await;
        assert_eq!(problem(r, 404).await["code"], "not_found", "{action}");
    }
    let r = post(
        &app,
        &format!("/api/calendar/appointments/{id}/reschedule"),
        &b.token,
        &json!({"starts_at": at(3, 11, 0)}),
    )
    .await;
    assert_eq!(problem(r, 404).await["code"], "not_found");
    // A's service is unknown to B, for booking and for availability.
    let r = book(&app, &b.token, &sa, &at(3, 12, 0)).await;
    assert_eq!(problem(r, 404).await["code"], "not_found");
    let r = get(
        &app,
        &format!(
            "/api/calendar/availability?service_id={sa}&from={}&to={}",
            at(3, 0, 0),
            at(4, 0, 0)
        ),
        &b.token,
    )
    .await;
    assert_eq!(problem(r, 404).await["code"], "not_found");
    // B booking the same time in its own org neither fails nor displaces A's appointment.
    assert_eq!(book(&app, &b.token, &sb, &at(3, 10, 0)).await.status(), 201);
    let got = get_json(&app, &format!("/api/calendar/appointments/{id}"), &a.token).await;
    assert_eq!(got["status"], "booked");
    assert_eq!(got["starts_at"], at(3, 10, 0));
    assert_eq!(
        get_json(&app, "/api/calendar/appointments", &a.token).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // B's availability is not shaped by A's bookings.
    let v = get_json(
        &app,
        &format!(
            "/api/calendar/availability?service_id={sb}&from={}&to={}",
            at(3, 10, 30),
            at(3, 11, 0)
        ),
        &b.token,
    )
    .await;
    assert_eq!(v["slots"][0]["starts_at"], at(3, 10, 30));
}

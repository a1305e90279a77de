//! Booking never double-books: 50 concurrent requests for one slot → one 201 and 49 × 409 with
//! alternatives; back-to-back is fine; buffers count; a cancelled slot can be rebooked. Plus
//! idempotency, reschedule in place, outcomes, list filters and pagination, outbox events.

use std::collections::HashSet;

use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use tenancy::Role;

use crate::helpers::{
    TestApp, at, book, caller, get, get_json, open_every_day, post, problem, service, spawn,
};

type App = TestApp<calendar::Calendar>;

async fn setup(app: &App) -> (crate::helpers::Caller, String) {
    let admin = caller(app, Role::Admin);
    open_every_day(app, &admin.token, "UTC", "08:00", "18:00").await;
    let s = service(app, &admin.token, "Cleaning", 30, 0, 0).await;
    (admin, s)
}

#[tokio::test]
async fn fifty_concurrent_bookings_of_one_slot_give_one_appointment_and_49_conflicts() {
    let app = spawn().await;
    let (admin, s) = setup(&app).await;
    let start = at(5, 10, 0);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (client, url, token) = (
            app.client.clone(),
            app.url("/api/calendar/appointments"),
            admin.token.clone(),
        );
        let body =
            json!({"service_id": s, "starts_at": start, "contact_name": format!("Caller {i}")});
        set.spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        });
    }
    let mut created = 0;
    let mut conflicts = 0;
    while let Some(res) = set.join_next().await {
        let (status, body) = res.unwrap();
        match status {
            201 => created += 1,
            409 => {
                conflicts += 1;
                assert_eq!(body["code"], "appointment_overlap", "{body}");
                let alts = body["alternatives"].as_array().unwrap();
                assert!(!alts.is_empty(), "{body}");
                assert!(
                    alts.iter().all(|a| a["starts_at"] != start.as_str()),
                    "{body}"
                );
                assert_eq!(body["timezone"], "UTC");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((created, conflicts), (1, 49));
    let list = get_json(&app, "/api/calendar/appointments?limit=100", &admin.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn back_to_back_is_accepted_and_buffers_are_respected() {
    let app = spawn().await;
    let (admin, plain) = setup(&app).await;
    let after15 = service(&app, &admin.token, "Whitening", 30, 0, 15).await;
    let before10 = service(&app, &admin.token, "Filling", 30, 10, 0).await;
    let t = |h, m| at(6, h, m);
    assert_eq!(
        book(&app, &admin.token, &plain, &t(10, 0)).await.status(),
        201
    );
    // Back to back: 10:30 starts as 10:00–10:30 ends.
    assert_eq!(
        book(&app, &admin.token, &plain, &t(10, 30)).await.status(),
        201
    );
    let r = book(&app, &admin.token, &plain, &t(10, 15)).await;
    assert_eq!(problem(r, 409).await["code"], "appointment_overlap");
    // 11:00–11:30 plus 15 minutes after: blocks until 11:45.
    assert_eq!(
        book(&app, &admin.token, &after15, &t(11, 0)).await.status(),
        201
    );
    assert_eq!(
        book(&app, &admin.token, &plain, &t(11, 30)).await.status(),
        409
    );
    assert_eq!(
        book(&app, &admin.token, &plain, &t(11, 45)).await.status(),
        201
    );
    // 10 minutes before 12:25 reaches back to 12:15, where 11:45–12:15 ends: fits exactly;
    // at 12:20 it would not.
    assert_eq!(
        book(&app, &admin.token, &before10, &t(12, 20))
            .await
            .status(),
        409
    );
    assert_eq!(
        book(&app, &admin.token, &before10, &t(12, 25))
            .await
            .status(),
        201
    );
    // Availability agrees: 11:30 is not offered for the plain service, 12:55 is.
    let path = format!(
        "/api/calendar/availability?service_id={plain}&from={}&to={}",
        t(10, 0),
        t(14, 0)
    );
    let slots: Vec<String> = get_json(&app, &path, &admin.token).await["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["starts_at"].as_str().unwrap().to_string())
        .collect();
    let has = |h, m| slots.iter().any(|s| s.starts_with(&t(h, m)[..16]));
    assert!(!has(11, 30) && !has(10, 0) && !has(12, 30), "{slots:?}");
    assert!(has(13, 0), "{slots:?}");
}

#[tokio::test]
async fn a_cancelled_slot_can_be_rebooked_and_the_row_stays() {
    let app = spawn().await;
    let (admin, s) = setup(&app).await;
    let start = at(4, 9, 0);
    let first: Value = book(&app, &admin.token, &s, &start)
        .await
        .json()
        .await
        .unwrap();
    let id = first["id"].as_str().unwrap();
    let path = format!("/api/calendar/appointments/{id}/cancel");
    let r = post(
        &app,
        &path,
        &admin.token,
        &json!({"reason": "patient request"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let cancelled: Value = r.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancel_reason"], "patient request");
    // Cancelling again changes nothing.
    let again: Value = post(&app, &path, &admin.token, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["cancelled_at"], cancelled["cancelled_at"]);
    // The slot is free again.
    let r = book(&app, &admin.token, &s, &start).await;
    assert_eq!(r.status(), 201);
    // The cancelled row is still there.
    let got = get_json(
        &app,
        &format!("/api/calendar/appointments/{id}"),
        &admin.token,
    )
    .await;
    assert_eq!(got["status"], "cancelled");
    // A cancelled appointment cannot be moved or completed.
    let r = post(
        &app,
        &format!("/api/calendar/appointments/{id}/reschedule"),
        &admin.token,
        &json!({"starts_at": at(4, 12, 0)}),
    )
    .await;
    assert_eq!(problem(r, 409).await["code"], "invalid_transition");
    let r = post(
        &app,
        &format!("/api/calendar/appointments/{id}/complete"),
        &admin.token,
        &json!({}),
    )
    .await;
    assert_eq!(problem(r, 409).await["code"], "invalid_transition");
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_appointment_and_a_changed_body_is_422() {
    let app = spawn().await;
    let (admin, s) = setup(&app).await;
    let body = json!({"service_id": s, "starts_at": at(3, 15, 0), "contact_name": "Ana"});
    let send = |b: Value| {
        app.client
            .post(app.url("/api/calendar/appointments"))
            .bearer_auth(&admin.token)
            .header("Idempotency-Key", "req-42")
            .json(&b)
            .send()
    };
    let r1 = send(body.clone()).await.unwrap();
    assert_eq!(r1.status(), 201);
    let a1: Value = r1.json().await.unwrap();
    let r2 = send(body.clone()).await.unwrap();
    assert_eq!(r2.status(), 200);
    let a2: Value = r2.json().await.unwrap();
    assert_eq!(a1["id"], a2["id"]);
    let mut other = body.clone();
    other["contact_name"] = json!("Someone else");
    let p = problem(send(other).await.unwrap(), 422).await;
    assert_eq!(p["code"], "idempotency_key_reused");
    let list = get_json(&app, "/api/calendar/appointments", &admin.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // A malformed key is refused, precisely.
    let r = app
        .client
        .post(app.url("/api/calendar/appointments"))
        .bearer_auth(&admin.token)
        .header("Idempotency-Key", "x".repeat(300))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 422).await["field"], "Idempotency-Key");
}

#[derive(QueryableByName)]
struct EventType {
    #[diesel(sql_type = diesel::sql_types::Text)]
    event_type: String,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    payload: Value,
}

#[tokio::test]
async fn reschedule_moves_in_place_and_every_change_enqueues_its_event() {
    let app = spawn().await;
    let (admin, s) = setup(&app).await;
    let a: Value = book(&app, &admin.token, &s, &at(7, 10, 0))
        .await
        .json()
        .await
        .unwrap();
    let b: Value = book(&app, &admin.token, &s, &at(7, 11, 0))
        .await
        .json()
        .await
        .unwrap();
    let id = a["id"].as_str().unwrap();
    let path = format!("/api/calendar/appointments/{id}/reschedule");
    // Overlapping only its own old time is fine.
    let r = post(
        &app,
        &path,
        &admin.token,
        &json!({"starts_at": at(7, 10, 15)}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let moved: Value = r.json().await.unwrap();
    assert_eq!(moved["id"], a["id"]);
    assert_eq!(moved["starts_at"], at(7, 10, 15));
    assert_eq!(moved["ends_at"], at(7, 10, 45));
    // Onto the other booking: 409 with alternatives, nothing changed.
    let r = post(
        &app,
        &path,
        &admin.token,
        &json!({"starts_at": at(7, 10, 45)}),
    )
    .await;
    let p = problem(r, 409).await;
    assert_eq!(p["code"], "appointment_overlap");
    assert!(!p["alternatives"].as_array().unwrap().is_empty());
    let got = get_json(
        &app,
        &format!("/api/calendar/appointments/{id}"),
        &admin.token,
    )
    .await;
    assert_eq!(got["starts_at"], at(7, 10, 15));
    post(
        &app,
        &format!(
            "/api/calendar/appointments/{}/cancel",
            b["id"].as_str().unwrap()
        ),
        &admin.token,
        &json!({}),
    )
    .await;

    let mut conn = app.db.admin_conn().await.unwrap();
    let rows: Vec<EventType> = diesel::sql_query(format!(
        "SELECT event_type, payload FROM calendar.outbox WHERE org_id = '{}' ORDER BY id",
        admin.org
    ))
    .load(&mut conn)
    .await
    .unwrap();
    let types: Vec<_> = rows.iter().map(|r| r.event_type.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "appointment.booked.v1",
            "appointment.booked.v1",
            "appointment.rescheduled.v1",
            "appointment.cancelled.v1"
        ]
    );
    let resched = &rows[2].payload;
    assert_eq!(resched["appointment_id"], a["id"]);
    assert_eq!(resched["previous_starts_at"], at(7, 10, 0));
    assert_eq!(resched["timezone"], "UTC");
    assert_eq!(rows[0].payload["contact_phone"], "+15550100123");
}

#[tokio::test]
async fn outcomes_follow_the_state_machine() {
    let app = spawn().await;
    let (admin, s) = setup(&app).await;
    let a: Value = book(&app, &admin.token, &s, &at(2, 9, 0))
        .await
        .json()
        .await
        .unwrap();
    let b: Value = book(&app, &admin.token, &s, &at(2, 10, 0))
        .await
        .json()
        .await
        .unwrap();
    let p = |id: &Value, what: &str| {
        format!("/api/calendar/appointments/{}/{what}", id.as_str().unwrap())
    };
    let r: Value = post(&app, &p(&a["id"], "complete"), &admin.token, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "completed");
    let r: Value = post(&app, &p(&b["id"], "no-show"), &admin.token, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "no_show");
    let r = post(&app, &p(&a["id"], "no-show"), &admin.token, &json!({})).await;
    assert_eq!(problem(r, 409).await["code"], "invalid_transition");
    let r = post(&app, &p(&a["id"], "cancel"), &admin.token, &json!({})).await;
    assert_eq!(problem(r, 409).await["code"], "invalid_transition");
    // Viewers read but cannot change.
    let viewer = crate::helpers::same_org(&app, admin.org, Role::Viewer);
    let r = post(&app, &p(&b["id"], "complete"), &viewer.token, &json!({})).await;
    assert_eq!(problem(r, 403).await["code"], "insufficient_role");
    let r = book(&app, &viewer.token, &s, &at(2, 11, 0)).await;
    assert_eq!(problem(r, 403).await["code"], "insufficient_role");
    // Each recorded outcome is published once (lead-scoring counts kept and missed visits).
    let mut conn = app.db.admin_conn().await.unwrap();
    let rows: Vec<EventType> = diesel::sql_query(format!(
        "SELECT event_type, payload FROM calendar.outbox WHERE org_id = '{}' \
         AND event_type IN ('appointment.completed.v1', 'appointment.missed.v1') ORDER BY id",
        admin.org
    ))
    .load(&mut conn)
    .await
    .unwrap();
    let seen: Vec<_> = rows
        .iter()
        .map(|r| (r.event_type.as_str(), r.payload["appointment_id"].clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("appointment.completed.v1", a["id"].clone()),
            ("appointment.missed.v1", b["id"].clone()),
        ]
    );
    assert_eq!(rows[0].payload["version"], 2);
}

#[tokio::test]
async fn the_list_filters_and_pages_without_gaps_or_repeats() {
    let app = spawn().await;
    let (admin, s) = setup(&app).await;
    let other = service(&app, &admin.token, "Check-up", 30, 0, 0).await;
    let mut ids = Vec::new();
    for (day, svc, phone) in [
        (1, &s, "+15550100001"),
        (2, &s, "+15550100002"),
        (3, &other, "+15550100001"),
        (4, &s, "+15550100003"),
        (5, &other, "+15550100001"),
    ] {
        let r = post(
            &app,
            "/api/calendar/appointments",
            &admin.token,
            &json!({"service_id": svc, "starts_at": at(day, 9, 0), "contact_phone": phone}),
        )
        .await;
        let v: Value = r.json().await.unwrap();
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    post(
        &app,
        &format!("/api/calendar/appointments/{}/cancel", ids[1]),
        &admin.token,
        &json!({}),
    )
    .await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = "/api/calendar/appointments?limit=2".to_string();
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = get_json(&app, &url, &admin.token).await;
        for i in page["items"].as_array().unwrap() {
            seen.push(i["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let ids_of = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    let q = |s: &str| format!("/api/calendar/appointments?{s}");
    assert_eq!(
        ids_of(get_json(&app, &q("status=cancelled"), &admin.token).await),
        vec![ids[1].clone()]
    );
    assert_eq!(
        ids_of(get_json(&app, &q("phone=%2B15550100001"), &admin.token).await),
        vec![ids[0].clone(), ids[2].clone(), ids[4].clone()]
    );
    assert_eq!(
        ids_of(get_json(&app, &q(&format!("service_id={other}")), &admin.token).await),
        vec![ids[2].clone(), ids[4].clone()]
    );
    assert_eq!(
        ids_of(
            get_json(
                &app,
                &q(&format!("from={}&to={}", at(2, 0, 0), at(4, 0, 0))),
                &admin.token
            )
            .await
        ),
        vec![ids[1].clone(), ids[2].clone()]
    );
    let all: HashSet<_> = ids.iter().collect();
    assert_eq!(all.len(), 5);
    for bad in ["status=held", "limit=0", "phone=555", "cursor=nope"] {
        let r = get(&app, &q(bad), &admin.token).await;
        assert_eq!(r.status(), 422, "{bad}");
    }
}

/// Issue 11 item 10(a): the clinic's default buffers apply to a service that has none of its
/// own, in availability and in the overlap check; a service's own buffer (even 0) wins.
#[tokio::test]
async fn the_clinics_default_buffers_apply_to_services_without_their_own() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    let day = json!([{"start": "09:00", "end": "13:00"}]);
    let r = app
        .client
        .put(app.url("/api/calendar/settings"))
        .bearer_auth(&admin.token)
        .json(&json!({
            "timezone": "UTC", "slot_interval_minutes": null, "min_notice_minutes": 0,
            "booking_window_days": 730, "default_buffer_before_minutes": 0,
            "default_buffer_after_minutes": 15, "hold_minutes": 5,
            "weekly_hours": {"monday": day, "tuesday": day, "wednesday": day, "thursday": day,
                             "friday": day, "saturday": day, "sunday": day},
            "date_overrides": []
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // No buffers given: the clinic's 15 minutes after apply.
    let r = post(
        &app,
        "/api/calendar/services",
        &admin.token,
        &json!({"name": "Check-up", "duration_minutes": 30}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let svc: Value = r.json().await.unwrap();
    assert!(svc["buffer_after_minutes"].is_null(), "{svc}");
    let s = svc["id"].as_str().unwrap().to_string();
    let own_zero = service(&app, &admin.token, "Quick look", 30, 0, 0).await;
    let t = |h, m| at(6, h, m);
    assert_eq!(book(&app, &admin.token, &s, &t(9, 0)).await.status(), 201);
    // 09:00–09:30 plus 15 after blocks until 09:45: 09:30 is neither offered nor bookable.
    let path = format!(
        "/api/calendar/availability?service_id={s}&from={}&to={}",
        t(9, 0),
        t(11, 0)
    );
    let slots: Vec<String> = get_json(&app, &path, &admin.token).await["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["starts_at"].as_str().unwrap().to_string())
        .collect();
    assert!(!slots.contains(&t(9, 30)), "{slots:?}");
    assert!(slots.contains(&t(10, 0)), "{slots:?}");
    let r = book(&app, &admin.token, &s, &t(9, 30)).await;
    assert_eq!(problem(r, 409).await["code"], "appointment_overlap");
    // A service whose own after-buffer is 0 still meets the booked one's buffer (09:45), and
    // its own 0 wins over the clinic's 15: 10:15 books right after 09:45–10:15.
    let r = book(&app, &admin.token, &own_zero, &t(9, 30)).await;
    assert_eq!(problem(r, 409).await["code"], "appointment_overlap");
    assert_eq!(
        book(&app, &admin.token, &own_zero, &t(9, 45))
            .await
            .status(),
        201
    );
    assert_eq!(
        book(&app, &admin.token, &own_zero, &t(10, 15))
            .await
            .status(),
        201
    );
}

/// Issue 11 item 10(c): ten simultaneous requests with one Idempotency-Key make one
/// appointment, and every answer names it.
#[tokio::test]
async fn ten_simultaneous_requests_with_one_key_return_the_same_appointment() {
    let app = spawn().await;
    let (admin, s) = setup(&app).await;
    for round in 0..3 {
        let key = format!("same-key-{round}");
        let body = json!({"service_id": s, "starts_at": at(5, 10 + round, 0),
            "contact_name": "Jordan Lee", "contact_phone": "+15550100123"});
        let answers = futures_util::future::join_all((0..10).map(|_| {
            let r = app
                .client
                .post(app.url("/api/calendar/appointments"))
                .bearer_auth(&admin.token)
                .header("Idempotency-Key", &key)
                .json(&body)
                .send();
            async move {
                let r = r.await.unwrap();
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap())
            }
        }))
        .await;
        let created = answers.iter().filter(|(s, _)| *s == 201).count();
        assert_eq!(created, 1, "{answers:?}");
        let ids: HashSet<String> = answers
            .iter()
            .map(|(status, v)| {
                assert!(*status == 201 || *status == 200, "{status}: {v}");
                v["id"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(ids.len(), 1, "{answers:?}");
        // The same key through the voice agent's API, ten at once, on another slot.
        let path = format!("/internal/v1/orgs/{}/appointments", admin.org);
        let ikey = format!("call_tool_{round}");
        let ibody = json!({"service_id": s, "starts_at": at(5, 14 + round, 0), "source": "voice"});
        let answers = futures_util::future::join_all((0..10).map(|_| {
            let r = app
                .client
                .post(app.url(&path))
                .bearer_auth(app.auth.service_token("voice-webhook"))
                .header("Idempotency-Key", &ikey)
                .json(&ibody)
                .send();
            async move {
                let r = r.await.unwrap();
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap())
            }
        }))
        .await;
        let ids: HashSet<String> = answers
            .iter()
            .map(|(status, v)| {
                assert!(*status == 201 || *status == 200, "{status}: {v}");
                v["id"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(ids.len(), 1, "{answers:?}");
    }
    let list = get_json(&app, "/api/calendar/appointments?limit=100", &admin.token).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        6,
        "one row per key"
    );
}

/// Issue 11 item 17: every change raises the appointment's version, and its events carry it.
#[tokio::test]
async fn each_change_raises_the_version_its_event_carries() {
    let app = spawn().await;
    let (admin, s) = setup(&app).await;
    let a: Value = book(&app, &admin.token, &s, &at(7, 9, 0))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a["version"], 1);
    let id = a["id"].as_str().unwrap();
    let path = format!("/api/calendar/appointments/{id}/reschedule");
    let v2: Value = post(
        &app,
        &path,
        &admin.token,
        &json!({"starts_at": at(7, 11, 0)}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v2["version"], 2);
    let v3: Value = post(
        &app,
        &path,
        &admin.token,
        &json!({"starts_at": at(7, 13, 0)}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v3["version"], 3);
    let v4: Value = post(
        &app,
        &format!("/api/calendar/appointments/{id}/cancel"),
        &admin.token,
        &json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v4["version"], 4);
    let mut conn = app.db.admin_conn().await.unwrap();
    let rows: Vec<EventType> = diesel::sql_query(format!(
        "SELECT event_type, payload FROM calendar.outbox WHERE org_id = '{}' ORDER BY id",
        admin.org
    ))
    .load(&mut conn)
    .await
    .unwrap();
    let seen: Vec<(String, i64)> = rows
        .iter()
        .map(|r| (r.event_type.clone(), r.payload["version"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("appointment.booked.v1".to_string(), 1),
            ("appointment.rescheduled.v1".to_string(), 2),
            ("appointment.rescheduled.v1".to_string(), 3),
            ("appointment.cancelled.v1".to_string(), 4),
        ]
    );
}

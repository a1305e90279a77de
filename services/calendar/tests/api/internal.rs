//! The voice agent's internal API (docs/internal-api.md): service tokens only, the org in the
//! path, holds that block and expire, booking idempotent on Vapi's toolCallId, find by phone,
//! reschedule and cancel — and no org reaches another org's data through it.

use diesel_async::SimpleAsyncConnection;
use serde_json::{Value, json};
use tenancy::{OrgId, Role};

use crate::helpers::{TestApp, at, caller, open_every_day, problem, service, spawn};

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

async fn ipost(app: &App, path: &str, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut r = app
        .client
        .post(app.url(path))
        .bearer_auth(app.auth.service_token("voice-webhook"))
        .json(body);
    if let Some(k) = key {
        r = r.header("Idempotency-Key", k);
    }
    r.send().await.unwrap()
}

async fn setup(app: &App) -> (crate::helpers::Caller, String) {
    let admin = caller(app, Role::Admin);
    open_every_day(app, &admin.token, "America/New_York", "08:00", "18:00").await;
    let s = service(app, &admin.token, "Cleaning", 30, 0, 0).await;
    (admin, s)
}

fn starts(v: &Value) -> Vec<String> {
    v["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["starts_at"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn user_tokens_and_missing_tokens_are_refused() {
    let app = spawn().await;
    let (admin, _) = setup(&app).await;
    let path = format!("{}/services", base(admin.org));
    let r = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(problem(r, 401).await["code"], "missing_token");
    let r = app
        .client
        .get(app.url(&path))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert!(r.status() == 401 || r.status() == 403, "{}", r.status());
    let r = iget(&app, &path).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["timezone"], "America/New_York");
    assert_eq!(v["items"][0]["name"], "Cleaning");
    assert_eq!(v["items"][0]["duration_minutes"], 30);
    let r = iget(&app, "/internal/v1/orgs/not-a-uuid/services").await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn book_is_idempotent_on_the_tool_call_id_and_answers_the_contract_shape() {
    let app = spawn().await;
    let (admin, s) = setup(&app).await;
    let path = format!("{}/appointments", base(admin.org));
    let body = json!({"service_id": s, "starts_at": at(3, 15, 0), "contact_name": "Jordan Lee",
        "contact_phone": "+15550100123", "source": "voice", "call_id": uuid::Uuid::new_v4()});
    let r = ipost(&app, &path, Some("call_abc_tool_1"), &body).await;
    assert_eq!(r.status(), 201);
    let a: Value = r.json().await.unwrap();
    for k in [
        "id",
        "service_id",
        "service_name",
        "starts_at",
        "ends_at",
        "timezone",
        "status",
        "source",
        "contact_name",
        "contact_phone",
        "contact_email",
        "call_id",
        "notes",
        "created_at",
        "updated_at",
    ] {
        assert!(a.get(k).is_some(), "missing {k}: {a}");
    }
    assert_eq!(a["status"], "booked");
    assert_eq!(a["source"], "voice");
    assert_eq!(a["timezone"], "America/New_York");
    let r = ipost(&app, &path, Some("call_abc_tool_1"), &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], a["id"]);
    let mut other = body.clone();
    other["starts_at"] = json!(at(3, 16, 0));
    let p = problem(
        ipost(&app, &path, Some("call_abc_tool_1"), &other).await,
        422,
    )
    .await;
    assert_eq!(p["code"], "idempotency_key_reused");
    // Another tool call for the same slot: 409 with alternatives in the clinic's zone.
    let p = problem(
        ipost(&app, &path, Some("call_abc_tool_2"), &body).await,
        409,
    )
    .await;
    assert_eq!(p["code"], "appointment_overlap");
    assert_eq!(p["alternatives"].as_array().unwrap().len(), 3);
    assert!(
        p["alternatives"][0]["local_start"]
            .as_str()
            .unwrap()
            .ends_with("-05:00")
            || p["alternatives"][0]["local_start"]
                .as_str()
                .unwrap()
                .ends_with("-04:00")
    );
    // The voice agent cannot book a time the clinic does not offer (outside hours / off grid).
    let mut night = body.clone();
    night["starts_at"] = json!(at(3, 4, 0));
    let p = problem(
        ipost(&app, &path, Some("call_abc_tool_3"), &night).await,
        422,
    )
    .await;
    assert_eq!(p["code"], "slot_not_offered");
}

#[tokio::test]
async fn a_hold_blocks_the_slot_for_others_until_it_expires_or_is_confirmed() {
    let app = spawn().await;
    let (admin, s) = setup(&app).await;
    let b = base(admin.org);
    let slot = at(4, 15, 0);
    let avail = format!(
        "{b}/availability?service_id={s}&from={}&to={}",
        at(4, 14, 0),
        at(4, 17, 0)
    );
    assert!(starts(&iget(&app, &avail).await.json().await.unwrap()).contains(&slot));

    let r = ipost(
        &app,
        &format!("{b}/holds"),
        None,
        &json!({"service_id": s, "starts_at": slot, "contact_phone": "+15550100777"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let hold: Value = r.json().await.unwrap();
    assert_eq!(hold["starts_at"], slot);
    assert!(hold["expires_at"].as_str().is_some());
    // Not offered to another caller, and not bookable or holdable by them.
    assert!(!starts(&iget(&app, &avail).await.json().await.unwrap()).contains(&slot));
    let r = ipost(
        &app,
        &format!("{b}/holds"),
        None,
        &json!({"service_id": s, "starts_at": slot}),
    )
    .await;
    let p = problem(r, 409).await;
    assert_eq!(p["code"], "slot_unavailable");
    assert!(!p["alternatives"].as_array().unwrap().is_empty());
    let r = ipost(
        &app,
        &format!("{b}/appointments"),
        Some("other-caller"),
        &json!({"service_id": s, "starts_at": slot}),
    )
    .await;
    assert_eq!(problem(r, 409).await["code"], "appointment_overlap");

    // Expiry frees it (time moved forward by rewriting the hold's expiry in the database).
    let mut conn = app.db.admin_conn().await.unwrap();
    conn.batch_execute(&format!(
        "UPDATE calendar.appointments SET hold_expires_at = now() - interval '1 second' WHERE id = '{}'",
        hold["hold_id"].as_str().unwrap()
    ))
    .await
    .unwrap();
    assert!(starts(&iget(&app, &avail).await.json().await.unwrap()).contains(&slot));
    let r = ipost(
        &app,
        &format!("{b}/appointments"),
        Some("late-caller"),
        &json!({"service_id": s, "starts_at": slot}),
    )
    .await;
    assert_eq!(r.status(), 201);

    // A live hold confirmed by its holder becomes the appointment (same id).
    let slot2 = at(4, 16, 0);
    let hold2: Value = ipost(
        &app,
        &format!("{b}/holds"),
        None,
        &json!({"service_id": s, "starts_at": slot2}),
    )
    .await
    .json()
    .await
    .unwrap();
    let r = ipost(
        &app,
        &format!("{b}/appointments"),
        Some("holder"),
        &json!({"service_id": s, "starts_at": slot2, "hold_id": hold2["hold_id"]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let appt: Value = r.json().await.unwrap();
    assert_eq!(appt["id"], hold2["hold_id"]);
}

#[tokio::test]
async fn next_slots_find_by_phone_reschedule_and_cancel() {
    let app = spawn().await;
    let (admin, s) = setup(&app).await;
    let b = base(admin.org);
    let r = iget(
        &app,
        &format!(
            "{b}/next-slots?service_id={s}&after={}&count=4",
            at(5, 13, 0)
        ),
    )
    .await;
    let v: Value = r.json().await.unwrap();
    let got = starts(&v);
    assert_eq!(got.len(), 4);
    assert_eq!(got[0], at(5, 13, 0));
    assert_eq!(v["timezone"], "America/New_York");
    let r = iget(&app, &format!("{b}/next-slots?service_id={s}&count=21")).await;
    assert_eq!(problem(r, 422).await["field"], "count");

    let booked: Value = ipost(
        &app,
        &format!("{b}/appointments"),
        Some("t1"),
        &json!({"service_id": s, "starts_at": at(5, 14, 0), "contact_phone": "+15550100999"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = booked["id"].as_str().unwrap();
    let found: Value = iget(&app, &format!("{b}/appointments?phone=%2B15550100999"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0]["id"], id);
    let none: Value = iget(&app, &format!("{b}/appointments?phone=%2B15550100000"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["items"].as_array().unwrap().len(), 0);

    let r = ipost(
        &app,
        &format!("{b}/appointments/{id}/reschedule"),
        None,
        &json!({"starts_at": at(5, 15, 30)}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["starts_at"], at(5, 15, 30));
    let r = ipost(
        &app,
        &format!("{b}/appointments/{id}/cancel"),
        None,
        &json!({"reason": "caller asked"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "cancelled");
    let r = ipost(
        &app,
        &format!("{b}/appointments/{id}/cancel"),
        None,
        &json!({}),
    )
    .await;
    assert_eq!(r.status(), 200);
    // Upcoming finds only booked ones now.
    let found: Value = iget(&app, &format!("{b}/appointments?phone=%2B15550100999"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn no_org_reaches_another_orgs_data_through_the_internal_api() {
    let app = spawn().await;
    let (a, sa) = setup(&app).await;
    let (bo, _) = setup(&app).await;
    let (ba, bb) = (base(a.org), base(bo.org));
    let appt: Value = ipost(
        &app,
        &format!("{ba}/appointments"),
        Some("k"),
        &json!({"service_id": sa, "starts_at": at(6, 15, 0), "contact_phone": "+15550100555"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = appt["id"].as_str().unwrap();
    // A's service and appointment do not exist under B's path.
    let r = iget(
        &app,
        &format!(
            "{bb}/availability?service_id={sa}&from={}&to={}",
            at(6, 0, 0),
            at(7, 0, 0)
        ),
    )
    .await;
    assert_eq!(problem(r, 404).await["code"], "not_found");
    let r = ipost(
        &app,
        &format!("{bb}/appointments"),
        Some("k"),
        &json!({"service_id": sa, "starts_at": at(6, 15, 0)}),
    )
    .await;
    assert_eq!(problem(r, 404).await["code"], "not_found");
    let r = ipost(
        &app,
        &format!("{bb}/holds"),
        None,
        &json!({"service_id": sa, "starts_at": at(6, 15, 0)}),
    )
    .await;
    assert_eq!(r.status(), 404);
    let r = ipost(
        &app,
        &format!("{bb}/appointments/{id}/reschedule"),
        None,
        &json!({"starts_at": at(6, 16, 0)}),
    )
    .await;
    assert_eq!(r.status(), 404);
    let r = ipost(
        &app,
        &format!("{bb}/appointments/{id}/cancel"),
        None,
        &json!({}),
    )
    .await;
    assert_eq!(r.status(), 404);
    let found: Value = iget(&app, &format!("{bb}/appointments?phone=%2B15550100555"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 0);
    let services: Value = iget(&app, &format!("{bb}/services"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        services["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["id"] != sa.as_str())
    );
    // A's appointment is untouched.
    let found: Value = iget(&app, &format!("{ba}/appointments?phone=%2B15550100555"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"][0]["starts_at"], at(6, 15, 0));
    assert_eq!(found["items"][0]["status"], "booked");
}

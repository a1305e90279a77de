//! `org.created.v1` seeds seven services and the default hours once, even when delivered twice
//! (same event id, and a second event for the same org); `org.deleted.v1` purges the org.

use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use events::{Envelope, OrgCreatedV1, OrgDeletedV1};
use lapin::BasicProperties;
use lapin::options::BasicPublishOptions;
use serde_json::Value;
use tenancy::Role;

use crate::helpers::{
    TestApp, caller, eventually, get_json, open_every_day, same_org, service, spawn,
};

async fn publish(app: &TestApp<calendar::Calendar>, env: &Envelope) {
    let bus = bus::Bus::new(app.settings.standard.bus.clone());
    // The app declares its queue in the background; declaring it here too (same arguments)
    // makes sure the event is routed, not dropped.
    bus.declare_until_done().await;
    let chan = bus.connector.channel().await.unwrap();
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

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn count(app: &TestApp<calendar::Calendar>, sql: &str) -> i64 {
    let mut c = app.db.admin_conn().await.unwrap();
    diesel::sql_query(sql)
        .get_result::<Count>(&mut c)
        .await
        .unwrap()
        .n
}

#[tokio::test]
async fn org_created_seeds_defaults_exactly_once_even_if_delivered_twice() {
    let app = spawn().await;
    let owner = caller(&app, Role::Owner);
    let org = owner.org.as_uuid();
    let payload = OrgCreatedV1 {
        name: "Bright Smile".into(),
        timezone: "America/Chicago".into(),
        owner_user_id: uuid::Uuid::new_v4(),
    };
    // An admin who was quicker than the event keeps their own "Cleaning".
    service(&app, &owner.token, "Cleaning", 50, 0, 0).await;
    let first = Envelope::new(org, &payload, None).unwrap();
    // The same delivery twice, then a second event (another id) for the same org.
    publish(&app, &first).await;
    publish(&app, &first).await;
    let second = Envelope::new(org, &payload, None).unwrap();
    publish(&app, &second).await;

    let sql = format!(
        "SELECT count(*) AS n FROM calendar.inbox WHERE consumer = 'calendar' AND event_id IN ('{}', '{}')",
        first.id, second.id
    );
    eventually("both events processed", || count(&app, &sql), |n| *n == 2).await;

    let list: Value = get_json(&app, "/api/calendar/services?limit=100", &owner.token).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 7, "{list}");
    let cleaning: Vec<_> = items.iter().filter(|s| s["name"] == "Cleaning").collect();
    assert_eq!(cleaning.len(), 1);
    assert_eq!(cleaning[0]["duration_minutes"], 50);
    assert!(
        items
            .iter()
            .all(|s| s["active"] == true && s["duration_minutes"].as_i64().unwrap() >= 5)
    );
    let settings = get_json(&app, "/api/calendar/settings", &owner.token).await;
    assert_eq!(settings["timezone"], "America/Chicago");
    assert_eq!(settings["weekly_hours"]["monday"][0]["start"], "09:00");
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) AS n FROM calendar.weekly_hours WHERE org_id = '{org}'")
        )
        .await,
        5
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) AS n FROM calendar.services WHERE org_id = '{org}'")
        )
        .await,
        7
    );
    // One default provider, once: the clinic books as one grid until it adds providers.
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM calendar.providers WHERE org_id = '{org}' AND is_default AND name = 'Clinic' AND active"
            )
        )
        .await,
        1
    );
    // Another org saw none of it.
    let other = caller(&app, Role::Owner);
    let list: Value = get_json(&app, "/api/calendar/services", &other.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn org_deleted_purges_the_orgs_data_and_nothing_else() {
    let app = spawn().await;
    let a = caller(&app, Role::Owner);
    let b = caller(&app, Role::Owner);
    for who in [&a, &b] {
        open_every_day(&app, &who.token, "UTC", "08:00", "18:00").await;
        let s = service(&app, &who.token, "Cleaning", 30, 0, 0).await;
        let r = crate::helpers::book(&app, &who.token, &s, &crate::helpers::at(3, 9, 0)).await;
        assert_eq!(r.status(), 201);
    }
    let env = Envelope::new(
        a.org.as_uuid(),
        &OrgDeletedV1 {
            deleted_at: chrono::Utc::now(),
        },
        None,
    )
    .unwrap();
    publish(&app, &env).await;
    let admin_a = same_org(&app, a.org, Role::Admin);
    eventually(
        "org A purged",
        || async {
            get_json(&app, "/api/calendar/services", &admin_a.token).await["items"]
                .as_array()
                .unwrap()
                .len()
        },
        |n| *n == 0,
    )
    .await;
    let sql = |org: uuid::Uuid| {
        format!(
            "SELECT (SELECT count(*) FROM calendar.appointments WHERE org_id = '{org}') \
             + (SELECT count(*) FROM calendar.clinic_settings WHERE org_id = '{org}') \
             + (SELECT count(*) FROM calendar.weekly_hours WHERE org_id = '{org}') \
             + (SELECT count(*) FROM calendar.providers WHERE org_id = '{org}') AS n"
        )
    };
    assert_eq!(count(&app, &sql(a.org.as_uuid())).await, 0);
    // B keeps its appointment, settings, 7 weekly ranges and its default provider.
    assert_eq!(count(&app, &sql(b.org.as_uuid())).await, 1 + 1 + 7 + 1);
}

/// messaging's `appointment.reply_confirmed.v1` (a patient replied C): a booked, upcoming
/// appointment becomes `confirmed` (once, even delivered twice), still blocks its time, can be
/// rescheduled (back to `booked`) or cancelled; a cancelled one and another org's stay as they are.
#[tokio::test]
async fn a_reply_confirmed_event_confirms_a_booked_appointment() {
    use events::AppointmentReplyConfirmedV1;
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    open_every_day(&app, &admin.token, "UTC", "08:00", "18:00").await;
    let s = service(&app, &admin.token, "Cleaning", 30, 0, 0).await;
    let book = |start: String| {
        let app = &app;
        let token = admin.token.clone();
        let s = s.clone();
        async move {
            let r = crate::helpers::book(app, &token, &s, &start).await;
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let id = book(crate::helpers::at(3, 10, 0)).await;
    let cancelled = book(crate::helpers::at(3, 12, 0)).await;
    let r = crate::helpers::post(
        &app,
        &format!("/api/calendar/appointments/{cancelled}/cancel"),
        &admin.token,
        &serde_json::json!({}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let other = caller(&app, Role::Admin);

    let ev = |appt: &str| AppointmentReplyConfirmedV1 {
        appointment_id: appt.parse().unwrap(),
        message_id: uuid::Uuid::new_v4(),
        replied_at: chrono::Utc::now(),
    };
    let first = Envelope::new(admin.org.as_uuid(), &ev(&id), None).unwrap();
    publish(&app, &first).await;
    publish(&app, &first).await;
    publish(
        &app,
        &Envelope::new(admin.org.as_uuid(), &ev(&cancelled), None).unwrap(),
    )
    .await;
    // Another org naming this appointment changes nothing (RLS: it is not theirs).
    publish(
        &app,
        &Envelope::new(other.org.as_uuid(), &ev(&id), None).unwrap(),
    )
    .await;
    let path = format!("/api/calendar/appointments/{id}");
    let v = eventually(
        "confirmed",
        || get_json(&app, &path, &admin.token),
        |v: &Value| v["status"] == "confirmed",
    )
    .await;
    assert_eq!(v["version"], 2);
    let sql = "SELECT count(*) AS n FROM calendar.inbox WHERE consumer = 'calendar' AND event_type = 'appointment.reply_confirmed.v1'";
    eventually("all four processed", || count(&app, sql), |n| *n == 3).await;
    let v = get_json(&app, &path, &admin.token).await;
    assert_eq!(
        (v["status"].as_str(), v["version"].as_i64()),
        (Some("confirmed"), Some(2))
    );
    let c = get_json(
        &app,
        &format!("/api/calendar/appointments/{cancelled}"),
        &admin.token,
    )
    .await;
    assert_eq!(c["status"], "cancelled");

    // A confirmed appointment still holds its time, and lists under status=confirmed.
    let r = crate::helpers::book(&app, &admin.token, &s, &crate::helpers::at(3, 10, 0)).await;
    assert_eq!(r.status(), 409);
    let _ = r.text().await;
    let list = get_json(
        &app,
        "/api/calendar/appointments?status=confirmed",
        &admin.token,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Moving it asks for a new confirmation.
    let r = crate::helpers::post(
        &app,
        &format!("{path}/reschedule"),
        &admin.token,
        &serde_json::json!({"starts_at": crate::helpers::at(4, 10, 0)}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "booked");
}

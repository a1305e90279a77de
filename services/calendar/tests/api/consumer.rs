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
             + (SELECT count(*) FROM calendar.weekly_hours WHERE org_id = '{org}') AS n"
        )
    };
    assert_eq!(count(&app, &sql(a.org.as_uuid())).await, 0);
    // B keeps its appointment, settings and 7 weekly ranges.
    assert_eq!(count(&app, &sql(b.org.as_uuid())).await, 1 + 1 + 7);
}

//! The services catalog: CRUD, pagination, search, roles — and a second org can neither see nor
//! touch the first org's services by id, by list or by search.

use serde_json::{Value, json};
use tenancy::Role;

use crate::helpers::{at, caller, get, get_json, open_every_day, post, problem, same_org, spawn};

const PATH: &str = "/api/calendar/services";

async fn create(app: &testkit::TestApp<calendar::Calendar>, token: &str, name: &str) -> Value {
    let r = app
        .client
        .post(app.url(PATH))
        .bearer_auth(token)
        .json(&json!({"name": name, "duration_minutes": 30, "price_cents": 9000, "currency": "usd", "buffer_after_minutes": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

#[tokio::test]
async fn an_admin_creates_reads_lists_and_archives_a_service() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    let created = create(&app, &admin.token, "Cleaning").await;
    assert_eq!(created["currency"], "USD");
    assert_eq!(created["buffer_after_minutes"], 10);
    assert_eq!(created["active"], true);
    let id = created["id"].as_str().unwrap();

    let got: Value = get_json(&app, &format!("{PATH}/{id}"), &admin.token).await;
    assert_eq!(got, created);

    // The same name twice in one org is a conflict.
    let r = app
        .client
        .post(app.url(PATH))
        .bearer_auth(&admin.token)
        .json(&json!({"name": "Cleaning", "duration_minutes": 45}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 409).await["code"], "service_name_taken");

    let r = app
        .client
        .delete(app.url(&format!("{PATH}/{id}")))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // Archived, not deleted (issue 11): still readable by id, hidden from the list.
    let got = get_json(&app, &format!("{PATH}/{id}"), &admin.token).await;
    assert!(got["archived_at"].is_string(), "{got}");
    let list = get_json(&app, PATH, &admin.token).await;
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
}

#[tokio::test]
async fn staff_and_viewers_read_but_cannot_change_the_catalog() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    let created = create(&app, &admin.token, "Consultation").await;
    for role in [Role::Staff, Role::Viewer] {
        let who = same_org(&app, admin.org, role);
        let r = app
            .client
            .post(app.url(PATH))
            .bearer_auth(&who.token)
            .json(&json!({"name": "x", "duration_minutes": 30}))
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r, 403).await["code"], "insufficient_role");
        let r = app
            .client
            .delete(app.url(&format!("{PATH}/{}", created["id"].as_str().unwrap())))
            .bearer_auth(&who.token)
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r, 403).await["code"], "insufficient_role");
        let r = get(&app, PATH, &who.token).await;
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
async fn pages_follow_the_cursor_without_gaps_or_repeats() {
    let app = spawn().await;
    let admin = caller(&app, Role::Owner);
    for i in 0..7 {
        create(&app, &admin.token, &format!("Service {i}")).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{PATH}?limit=3");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = get_json(&app, &url, &admin.token).await;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["name"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        (0..7).map(|i| format!("Service {i}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_second_org_cannot_see_or_touch_the_first_orgs_services() {
    let app = spawn().await;
    let a = caller(&app, Role::Owner);
    let b = caller(&app, Role::Owner);
    let a_service = create(&app, &a.token, "Whitening").await;
    let a_id = a_service["id"].as_str().unwrap();
    create(&app, &b.token, "B only").await;

    // By id: not found, as if it did not exist (no existence oracle).
    let r = get(&app, &format!("{PATH}/{a_id}"), &b.token).await;
    assert_eq!(problem(r, 404).await["code"], "not_found");
    // By list.
    let list: Value = get_json(&app, PATH, &b.token).await;
    let names: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["B only"]);
    // By search.
    let found: Value = get_json(&app, &format!("{PATH}?q=whiten"), &b.token).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 0);
    // Cannot delete it.
    let r = app
        .client
        .delete(app.url(&format!("{PATH}/{a_id}")))
        .bearer_auth(&b.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // A's own view is intact, and search works for A.
    let found: Value = get_json(&app, &format!("{PATH}?q=whiten"), &a.token).await;
    assert_eq!(found["items"][0]["id"], a_id);
    // B naming A's org in the body cannot plant a row there (the org comes only from the token).
    let r = app
        .client
        .post(app.url(PATH))
        .bearer_auth(&b.token)
        .json(&json!({"name": "Planted", "duration_minutes": 30, "org_id": a.org.to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let list: Value = get_json(&app, PATH, &a.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn patch(
    app: &testkit::TestApp<calendar::Calendar>,
    token: &str,
    id: &str,
    body: Value,
) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("{PATH}/{id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Issue 11 item 10(b): services can be changed (validated), and new bookings use the change.
#[tokio::test]
async fn an_admin_updates_a_service_and_bad_updates_are_refused() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    open_every_day(&app, &admin.token, "UTC", "08:00", "18:00").await;
    let created = create(&app, &admin.token, "Cleaning").await;
    create(&app, &admin.token, "Whitening").await;
    let id = created["id"].as_str().unwrap();

    let r = patch(
        &app,
        &admin.token,
        id,
        json!({"name": "Deep cleaning", "duration_minutes": 45,
        "price_cents": 12000, "buffer_after_minutes": null}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "Deep cleaning");
    assert_eq!(v["duration_minutes"], 45);
    assert_eq!(v["price_cents"], 12000);
    assert!(
        v["buffer_after_minutes"].is_null(),
        "null hands it back to the clinic default"
    );
    assert_eq!(v["currency"], "USD", "untouched fields stay");
    assert_eq!(
        get_json(&app, &format!("{PATH}/{id}"), &admin.token).await,
        v
    );
    // A booking made now lasts the new 45 minutes.
    let r = post(
        &app,
        "/api/calendar/appointments",
        &admin.token,
        &json!({"service_id": id, "starts_at": at(4, 10, 0)}),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["ends_at"], at(4, 10, 45));

    // Validation names the field; an empty body says so; unknown fields are refused.
    let p = problem(
        patch(&app, &admin.token, id, json!({"duration_minutes": 2})).await,
        422,
    )
    .await;
    assert_eq!(p["field"], "duration_minutes");
    let p = problem(
        patch(
            &app,
            &admin.token,
            id,
            json!({"buffer_before_minutes": 500}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(p["field"], "buffer_before_minutes");
    let p = problem(patch(&app, &admin.token, id, json!({})).await, 422).await;
    assert_eq!(p["code"], "invalid_field");
    assert_eq!(
        problem(
            patch(&app, &admin.token, id, json!({"colour": "red"})).await,
            422
        )
        .await["status"],
        422
    );
    // Another service's name is taken.
    let p = problem(
        patch(&app, &admin.token, id, json!({"name": "Whitening"})).await,
        409,
    )
    .await;
    assert_eq!(p["code"], "service_name_taken");
    // Staff cannot change the catalog; another org cannot see the service.
    let staff = same_org(&app, admin.org, Role::Staff);
    assert_eq!(
        patch(&app, &staff.token, id, json!({"name": "x"}))
            .await
            .status(),
        403
    );
    let other = caller(&app, Role::Admin);
    let p = problem(
        patch(&app, &other.token, id, json!({"name": "Mine now"})).await,
        404,
    )
    .await;
    assert_eq!(p["code"], "not_found");
    assert_eq!(
        get_json(&app, &format!("{PATH}/{id}"), &admin.token).await["name"],
        "Deep cleaning"
    );
}

/// Issue 11 item 10(b): archiving keeps the service for its appointments; it is no longer
/// listed (unless asked), offered or bookable, and its name may be used again.
#[tokio::test]
async fn an_archived_service_keeps_its_appointments_and_is_no_longer_offered() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    open_every_day(&app, &admin.token, "UTC", "08:00", "18:00").await;
    let created = create(&app, &admin.token, "Cleaning").await;
    let id = created["id"].as_str().unwrap();
    let r = post(
        &app,
        "/api/calendar/appointments",
        &admin.token,
        &json!({"service_id": id, "starts_at": at(4, 10, 0), "contact_name": "Jordan Lee"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let appt: Value = r.json().await.unwrap();

    let r = app
        .client
        .delete(app.url(&format!("{PATH}/{id}")))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // Twice is the same as once.
    let r = app
        .client
        .delete(app.url(&format!("{PATH}/{id}")))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    // The appointment still names its service, and the service is still there by id.
    let got = get_json(
        &app,
        &format!(
            "/api/calendar/appointments/{}",
            appt["id"].as_str().unwrap()
        ),
        &admin.token,
    )
    .await;
    assert_eq!(got["service_id"], created["id"]);
    assert_eq!(got["service_name"], "Cleaning");
    assert_eq!(
        get_json(&app, &format!("{PATH}/{id}"), &admin.token).await["name"],
        "Cleaning"
    );

    // Hidden from the list unless asked for; not offered to the voice agent.
    assert!(
        get_json(&app, PATH, &admin.token).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let all = get_json(&app, &format!("{PATH}?include_archived=true"), &admin.token).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    let r = app
        .client
        .get(app.url(&format!("/internal/v1/orgs/{}/services", admin.org)))
        .bearer_auth(app.auth.service_token("voice-webhook"))
        .send()
        .await
        .unwrap();
    assert!(
        r.json::<Value>().await.unwrap()["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Not offered, not bookable, not changeable.
    let r = get(
        &app,
        &format!(
            "/api/calendar/availability?service_id={id}&from={}&to={}",
            at(5, 8, 0),
            at(5, 18, 0)
        ),
        &admin.token,
    )
    .await;
    assert_eq!(problem(r, 422).await["code"], "service_inactive");
    let r = post(
        &app,
        "/api/calendar/appointments",
        &admin.token,
        &json!({"service_id": id, "starts_at": at(5, 10, 0)}),
    )
    .await;
    assert_eq!(problem(r, 422).await["code"], "service_inactive");
    assert_eq!(
        patch(&app, &admin.token, id, json!({"name": "Back"}))
            .await
            .status(),
        404
    );

    // The name is free again.
    let again = create(&app, &admin.token, "Cleaning").await;
    assert_ne!(again["id"], created["id"]);
}

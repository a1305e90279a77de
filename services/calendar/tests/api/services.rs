//! The services catalog: CRUD, pagination, search, roles — and a second org can neither see nor
//! touch the first org's services by id, by list or by search.

use serde_json::{Value, json};
use tenancy::Role;

use crate::helpers::{caller, get, get_json, problem, same_org, spawn};

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
async fn an_admin_creates_reads_lists_and_deletes_a_service() {
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
    let r = get(&app, &format!("{PATH}/{id}"), &admin.token).await;
    assert_eq!(problem(r, 404).await["code"], "not_found");
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

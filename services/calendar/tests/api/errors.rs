//! Bad input gets a precise problem+json: malformed JSON, wrong types naming the field, unknown
//! fields, wrong content type, oversized bodies, unknown routes and methods.

use std::sync::Arc;

use serde_json::json;
use tenancy::Role;
use testkit::{TestAuth, spawn_app_with};

use crate::helpers::{caller, get, get_json, problem, spawn};

const PATH: &str = "/api/calendar/services";

#[tokio::test]
async fn malformed_json_is_400_with_a_code() {
    let app = spawn().await;
    let who = caller(&app, Role::Admin);
    let r = app
        .client
        .post(app.url(PATH))
        .bearer_auth(&who.token)
        .header("content-type", "application/json")
        .body(r#"{"name": "Cleaning", "duration_minutes": 30"#)
        .send()
        .await
        .unwrap();
    let body = problem(r, 400).await;
    assert_eq!(body["code"], "malformed_json");
}

#[tokio::test]
async fn a_wrong_field_type_is_422_naming_the_field() {
    let app = spawn().await;
    let who = caller(&app, Role::Admin);
    let r = app
        .client
        .post(app.url(PATH))
        .bearer_auth(&who.token)
        .json(&json!({"name": "Cleaning", "duration_minutes": "thirty"}))
        .send()
        .await
        .unwrap();
    let body = problem(r, 422).await;
    assert_eq!(body["code"], "invalid_field");
    assert_eq!(body["field"], "duration_minutes");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("duration_minutes"),
        "{body}"
    );
}

#[tokio::test]
async fn missing_and_unknown_fields_are_named() {
    let app = spawn().await;
    let who = caller(&app, Role::Admin);
    let send = |b: serde_json::Value| {
        app.client
            .post(app.url(PATH))
            .bearer_auth(&who.token)
            .json(&b)
            .send()
    };
    let body = problem(send(json!({"duration_minutes": 30})).await.unwrap(), 422).await;
    assert_eq!(body["field"], "name");
    let body = problem(send(json!({"name": "x", "duration_minutes": 30, "org_id": "00000000-0000-0000-0000-000000000000"})).await.unwrap(), 422).await;
    assert!(
        body["detail"].as_str().unwrap().contains("org_id"),
        "{body}"
    );
    let body = problem(
        send(json!({"name": "x", "duration_minutes": 2}))
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(body["field"], "duration_minutes");
}

#[tokio::test]
async fn a_wrong_content_type_is_415() {
    let app = spawn().await;
    let who = caller(&app, Role::Admin);
    let r = app
        .client
        .post(app.url(PATH))
        .bearer_auth(&who.token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    let body = problem(r, 415).await;
    assert_eq!(body["code"], "unsupported_media_type");
}

#[tokio::test]
async fn a_body_over_the_configured_limit_is_413_and_nothing_is_stored() {
    let auth = Arc::new(TestAuth::start().await);
    let app = spawn_app_with::<calendar::Calendar>(auth, &[("BODY_LIMIT_BYTES", "1024")]).await;
    let who = caller(&app, Role::Admin);
    let big = json!({"name": "Big", "duration_minutes": 30, "description": "x".repeat(2000)});
    let r = app
        .client
        .post(app.url(PATH))
        .bearer_auth(&who.token)
        .json(&big)
        .send()
        .await
        .unwrap();
    let body = problem(r, 413).await;
    assert_eq!(body["code"], "payload_too_large");
    assert_eq!(body["limit_bytes"], 1024);
    let list: serde_json::Value = get_json(&app, PATH, &who.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problem_json() {
    let app = spawn().await;
    let body = problem(
        app.client
            .get(app.url("/api/calendar/nope"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_eq!(body["code"], "route_not_found");
    let who = caller(&app, Role::Admin);
    let r = app
        .client
        .put(app.url(PATH))
        .bearer_auth(&who.token)
        .send()
        .await
        .unwrap();
    assert!(r.status() == 404 || r.status() == 405, "{}", r.status());
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn a_bad_query_or_path_is_problem_json() {
    let app = spawn().await;
    let who = caller(&app, Role::Viewer);
    let body = problem(
        get(&app, "/api/calendar/services/not-a-uuid", &who.token).await,
        404,
    )
    .await;
    assert_eq!(body["code"], "invalid_path");
    let body = problem(
        get(&app, "/api/calendar/services?limit=many", &who.token).await,
        400,
    )
    .await;
    assert_eq!(body["code"], "invalid_query");
    let body = problem(
        get(&app, "/api/calendar/services?limit=1000", &who.token).await,
        422,
    )
    .await;
    assert_eq!(body["field"], "limit");
    let body = problem(
        get(&app, "/api/calendar/services?cursor=forged", &who.token).await,
        422,
    )
    .await;
    assert_eq!(body["field"], "cursor");
}

#[tokio::test]
async fn a_path_with_dot_segments_is_refused_before_routing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn().await;
    // Sent raw: HTTP clients normalise dot segments away, a hostile caller does not.
    for path in [
        "/api/calendar/../../internal/v1/orgs/x",
        "/api/calendar/%2e%2e/services",
    ] {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
            .await
            .unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 400"), "{path}: {out}");
        assert!(out.contains("non_canonical_path"), "{path}: {out}");
    }
}

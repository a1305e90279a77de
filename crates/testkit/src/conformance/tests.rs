//! The check can fail: a deliberately wrong document or response is caught, a right one passes.

use std::sync::Arc;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use super::lint::lint;
use super::{ConformanceProxy, Outcome, Spec, checked};

fn doc() -> Value {
    servicekit::openapi::finish_value(json!({
        "openapi": "3.1.0",
        "info": {"title": "Voxanne test", "version": "1"},
        "paths": {
            "/api/things/{id}": {"get": {
                "operationId": "get_thing",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "security": [{"bearer": []}],
                "responses": {"200": {"description": "the thing", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                              "404": {"description": "no such thing"}}
            }},
            "/api/things/mine": {"get": {
                "operationId": "my_things",
                "responses": {"200": {"description": "mine", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}}}}}
            }},
            "/api/things": {"post": {
                "operationId": "make_thing",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"204": {"description": "made"}}
            }}
        },
        "components": {"schemas": {"Thing": {
            "type": "object", "required": ["id", "name"],
            "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "note": {"type": ["string", "null"]}}
        }}}
    }))
}

const THING: &[u8] = br#"{"id":"1","name":"a","note":null}"#;

fn violation(o: Outcome) -> String {
    match o {
        Outcome::Violation(v) => v,
        other => format!("NOT A VIOLATION: {other:?}"),
    }
}

#[test]
fn a_right_response_passes() {
    let spec = Spec::new(doc());
    let ct = Some("application/json");
    assert_eq!(
        spec.check("GET", "/api/things/1", 200, ct, THING),
        Outcome::Valid
    );
    assert_eq!(
        spec.check("GET", "/api/things/mine", 200, ct, b"[]"),
        Outcome::Valid
    );
    assert_eq!(
        spec.check("POST", "/api/things", 204, None, b""),
        Outcome::Valid
    );
    let problem = br#"{"type":"https://docs.voxanne.dev/problems/not_found","title":"Not Found","status":404,"code":"not_found","detail":"thing not found"}"#;
    let pj = Some("application/problem+json");
    assert_eq!(
        spec.check("GET", "/api/things/1", 404, pj, problem),
        Outcome::Valid
    );
    // Platform statuses the finishing added: 401 on a secured route, 415 on a JSON body.
    let p401 = br#"{"type":"t","title":"Unauthorized","status":401,"code":"missing_token","detail":"missing bearer token","trace_id":"abc"}"#;
    assert_eq!(
        spec.check("GET", "/api/things/1", 401, pj, p401),
        Outcome::Valid
    );
    let p415 = br#"{"type":"t","title":"Unsupported Media Type","status":415,"code":"unsupported_media_type","detail":"x"}"#;
    assert_eq!(
        spec.check("POST", "/api/things", 415, pj, p415),
        Outcome::Valid
    );
    // Ops routes are documented for every service.
    let ready = br#"{"database":false,"redis":true,"bus":true}"#;
    assert_eq!(spec.check("GET", "/ready", 503, ct, ready), Outcome::Valid);
    assert_eq!(
        spec.check(
            "GET",
            "/metrics",
            200,
            Some("text/plain; version=0.0.4"),
            b"x 1"
        ),
        Outcome::Valid
    );
    // Unknown routes answered 404 are only listed.
    assert_eq!(
        spec.check("GET", "/api/nope", 404, pj, problem),
        Outcome::Unmatched
    );
}

#[test]
fn an_undocumented_status_is_caught() {
    let spec = Spec::new(doc());
    let v = violation(spec.check(
        "GET",
        "/api/things/mine",
        409,
        Some("application/problem+json"),
        b"{}",
    ));
    assert!(v.contains("undocumented status 409"), "{v}");
    // 401 is not documented where no security is declared.
    let v = violation(spec.check(
        "GET",
        "/api/things/mine",
        401,
        Some("application/problem+json"),
        b"{}",
    ));
    assert!(v.contains("undocumented status 401"), "{v}");
}

#[test]
fn a_wrong_body_type_is_caught() {
    let spec = Spec::new(doc());
    let v = violation(spec.check(
        "GET",
        "/api/things/mine",
        200,
        Some("application/json"),
        br#"{"items":[],"next_cursor":null}"#,
    ));
    assert!(v.contains("does not match the schema"), "{v}");
    let v = violation(spec.check(
        "GET",
        "/api/things/1",
        200,
        Some("application/json"),
        br#"{"id":1,"name":"a"}"#,
    ));
    assert!(v.contains("/id"), "{v}");
}

#[test]
fn a_missing_required_field_is_caught() {
    let spec = Spec::new(doc());
    let v = violation(spec.check(
        "GET",
        "/api/things/1",
        200,
        Some("application/json"),
        br#"{"id":"1"}"#,
    ));
    assert!(v.contains("name"), "{v}");
    // A problem without `code` is not a Problem.
    let v = violation(spec.check(
        "GET",
        "/api/things/1",
        404,
        Some("application/problem+json"),
        br#"{"type":"t","title":"Not Found","status":404}"#,
    ));
    assert!(v.contains("code"), "{v}");
}

#[test]
fn a_wrong_content_type_is_caught() {
    let spec = Spec::new(doc());
    let v = violation(spec.check("GET", "/api/things/1", 200, Some("text/html"), THING));
    assert!(v.contains("text/html is not documented"), "{v}");
    let v = violation(spec.check(
        "GET",
        "/api/things/1",
        404,
        Some("application/json"),
        br#"{"error":"x"}"#,
    ));
    assert!(v.contains("application/json is not documented"), "{v}");
    let v = violation(spec.check("POST", "/api/things", 204, Some("application/json"), b"{}"));
    assert!(v.contains("documents no body"), "{v}");
    let v = violation(spec.check(
        "GET",
        "/api/things/1",
        200,
        Some("application/json"),
        b"not json",
    ));
    assert!(v.contains("not JSON"), "{v}");
}

#[test]
fn an_undocumented_operation_answering_is_caught() {
    let spec = Spec::new(doc());
    let v = violation(spec.check("DELETE", "/api/things/1", 204, None, b""));
    assert!(v.contains("undocumented operation"), "{v}");
    assert_eq!(
        spec.check("DELETE", "/api/things/1", 405, None, b""),
        Outcome::Unmatched
    );
}

#[test]
fn the_most_literal_template_wins() {
    let spec = Spec::new(doc());
    assert_eq!(
        spec.operation("GET", "/api/things/mine"),
        Some("/api/things/mine")
    );
    assert_eq!(
        spec.operation("GET", "/api/things/abc"),
        Some("/api/things/{id}")
    );
    assert_eq!(spec.operation("GET", "/api/things/"), None);
}

#[test]
fn a_finished_document_has_no_schema_errors() {
    assert_eq!(lint(&doc()), Vec::<String>::new());
    // What messaging and lead-scoring serve today: no routes of their own.
    let empty = servicekit::openapi::finish_value(json!({
        "openapi": "3.1.0", "info": {"title": "Voxanne messaging", "version": "0.1.0"}, "paths": {}
    }));
    assert_eq!(lint(&empty), Vec::<String>::new());
}

#[test]
fn schema_errors_in_a_document_are_caught() {
    let bad = json!({
        "openapi": "3.0.3",
        "info": {"title": "t"},
        "paths": {
            "/a/{id}": {"get": {"operationId": "x", "nullable": true, "security": [{"nope": []}],
                "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Missing"}}}},
                              "20x": {"description": "?"}}}},
            "/b": {"get": {"operationId": "x", "parameters": [{"name": "q", "in": "body", "schema": {"type": 7}}], "responses": {}}},
        },
        "components": {"schemas": {"Page<Thing>": {"type": "object"}}}
    });
    let errors = lint(&bad).join("\n");
    for expected in [
        "`openapi` must be 3.1.x",
        "`info.version` is required",
        "does not resolve",
        "path parameter `id` is not declared",
        "operationId `x` is also used",
        "unknown member `nullable`",
        "security scheme `nope` is not declared",
        "a response needs `description`",
        "`20x` is not a status",
        "`in` must be query/header/path/cookie",
        "not a valid JSON Schema 2020-12 schema",
        "`responses` is missing or empty",
        "must match ^[a-zA-Z0-9._-]+$",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
}

async fn wrong_app(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    match req.path() {
        // Echoes what reached the app, so forwarding can be checked.
        "/api/things/1" => HttpResponse::Ok()
            .insert_header((
                "x-seen-forwarded-for",
                req.headers()
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string(),
            ))
            .insert_header((
                "x-seen-cookie",
                req.headers()
                    .get("cookie")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string(),
            ))
            .insert_header(("x-seen-query", req.query_string().to_string()))
            .content_type("application/json")
            .body(THING),
        "/api/things/mine" => HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"items":[],"next_cursor":null}"#),
        "/api/things" => HttpResponse::Found()
            .insert_header(("location", "/elsewhere"))
            .insert_header(("x-body-len", body.len().to_string()))
            .finish(),
        _ => HttpResponse::NotFound()
            .content_type("application/problem+json")
            .body("{}"),
    }
}

#[tokio::test]
async fn the_proxy_forwards_unchanged_and_records_violations() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app_port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(|| {
        App::new()
            .app_data(web::PayloadConfig::new(64 << 20))
            .default_service(web::to(wrong_app))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let text = doc().to_string();
    let proxy = ConformanceProxy::start("test", app_port, checked(&text)).unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{}", proxy.port);

    let r = client
        .get(format!("{base}/api/things/1?a=1&b=%20"))
        .header("x-forwarded-for", "203.0.113.9")
        .header("cookie", "session=s1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-seen-forwarded-for"], "203.0.113.9");
    assert_eq!(r.headers()["x-seen-cookie"], "session=s1");
    assert_eq!(r.headers()["x-seen-query"], "a=1&b=%20");
    assert_eq!(r.bytes().await.unwrap().as_ref(), THING);

    // 16 MiB body, a redirect not followed.
    let r = client
        .post(format!("{base}/api/things"))
        .header("content-type", "application/json")
        .body(vec![b' '; 16 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/elsewhere");
    assert_eq!(r.headers()["x-body-len"], (16usize << 20).to_string());

    let r = client
        .get(format!("{base}/api/things/mine"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .get(format!("{base}/api/unknown"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let report = proxy.report.lock().unwrap().clone();
    proxy.stop();
    drop(handle.stop(false));
    assert_eq!(report.validated, 3, "{}", report.describe());
    assert_eq!(report.unmatched, ["GET /api/unknown -> 404"]);
    let problems: Vec<&str> = report
        .violations
        .iter()
        .map(|v| v.problem.as_str())
        .collect();
    assert_eq!(report.violations.len(), 2, "{}", report.describe());
    assert!(
        problems[0].contains("undocumented status 302"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("does not match the schema"),
        "{problems:?}"
    );
    assert_eq!(report.violations[1].path, "/api/things/mine");
    assert_eq!(
        report.violations[1].operation.as_deref(),
        Some("/api/things/mine")
    );
    assert!(report.describe().contains("GET /api/things/mine -> 200"));
    let _ = Arc::clone(&checked(&text));
}

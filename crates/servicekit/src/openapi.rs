//! The parts of every service's OpenAPI document the platform owns: the one `Problem` schema,
//! the security schemes, the ops routes, and the error statuses servicekit and tenancy answer
//! around a handler. `ops::openapi_json` passes every document through [`finish`], so a service
//! only documents its own routes and what its own handlers answer.
//!
//! What a service writes in `#[utoipa::path(...)]`:
//! * `security(("bearer" = []))` on tenant routes (`Tenant`/`Aal1Tenant`),
//!   `security(("service" = []))` on `/internal/...` routes (`ServiceCaller`); the Vapi webhook
//!   declares `security(("vapi_secret" = []), ("vapi_signature" = [], "vapi_timestamp" = []))`.
//! * its own error statuses, e.g. `(status = 404, description = "no such appointment", body =
//!   Problem)` or just `(status = 409, description = "the slot is taken")`: an error response
//!   (4xx/5xx) without content, or whose `application/json` content is the `Problem` schema, is
//!   documented as `application/problem+json` referencing `Problem` — which is what `ApiError`
//!   sends. A problem with extra members (e.g. `alternatives`) can use its own schema with
//!   `content_type = "application/problem+json"`.
//!
//! What [`finish`] adds to every operation that does not document the status itself (only where
//! it can occur):
//! * request body (`servicekit::Json` / actix extractors): 400 `malformed_json`/`bad_body`,
//!   413 `payload_too_large`; with a JSON body also 415 `unsupported_media_type` and
//!   422 `invalid_field`;
//! * query parameters: 400 `invalid_query`; `limit`/`cursor` (`servicekit::page`): 422
//!   `invalid_query`;
//! * path parameters: 404 `invalid_path`, 400 `non_canonical_path` (a `.`/`..` segment);
//! * security `bearer`/`service`: 401 (`missing_token`, `invalid_token`, `token_expired`,
//!   `session_revoked`, …), 403 (`service_token_not_allowed`, `no_org`, `mfa_required`,
//!   `service_token_required`; handlers add `insufficient_role` themselves under the same status);
//!   any other security: 401;
//! * every service operation: 500 `internal_error` and 503 (`database_unavailable`,
//!   `auth_unavailable`, …).
//!
//! 405 is not added: it answers a method no operation documents, so it belongs to no operation.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{PartialSchema, ToSchema};

use crate::error::PROBLEM_JSON;

/// Security scheme of tenant routes: the user's access token (`Authorization: Bearer <JWT>`).
pub const BEARER: &str = "bearer";
/// Security scheme of `/internal/...` routes: a service token (`Authorization: Bearer <JWT>`).
pub const SERVICE: &str = "service";
/// Vapi webhook shared secret (header `x-vapi-secret` unless configured otherwise).
pub const VAPI_SECRET: &str = "vapi_secret";
/// Vapi webhook HMAC-SHA256 signature of `{x-timestamp}.{raw body}` (header `x-signature`).
pub const VAPI_SIGNATURE: &str = "vapi_signature";
/// The timestamp signed with the body (header `x-timestamp`); used together with the signature.
pub const VAPI_TIMESTAMP: &str = "vapi_timestamp";

/// An RFC 9457 problem, as every error leaves a service (`ApiError`, `bare_problem`).
/// Members beyond these may be present (e.g. `limit_bytes` on 413, `alternatives` on a booking
/// conflict).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(
    example = json!({"type": "https://docs.voxanne.dev/problems/invalid_field", "title": "Unprocessable Entity", "status": 422, "code": "invalid_field", "detail": "field `name`: invalid type: integer `1`, expected a string", "field": "name"})
)]
pub struct Problem {
    /// `https://docs.voxanne.dev/problems/<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// Stable machine-readable code (`invalid_field`, `not_found`, `token_expired`, …).
    pub code: String,
    /// What was wrong; only on 4xx (a 5xx never carries internal detail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub detail: Option<String>,
    /// The offending field (path such as `inner.minutes`), on some 422s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
    /// The W3C trace id of the request, when it was traced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub trace_id: Option<String>,
}

const PROBLEM_REF: &str = "#/components/schemas/Problem";
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The paths every service serves itself (`ops::configure`): not given the service statuses.
pub const OPS_PATHS: [&str; 4] = ["/health", "/ready", "/metrics", "/openapi.json"];

/// The service's document with the platform's parts added (see the module docs).
pub fn finish(doc: utoipa::openapi::OpenApi) -> Value {
    let doc = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    finish_value(doc)
}

/// [`finish`] on a document already serialised (what `finish` does after serialising).
pub fn finish_value(mut doc: Value) -> Value {
    let Some(root) = doc.as_object_mut() else {
        return doc;
    };
    root.entry("openapi").or_insert_with(|| json!("3.1.0"));
    add_components(root);
    let paths = root
        .entry("paths")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(paths) = paths {
        add_ops_paths(paths);
        for (path, item) in paths.iter_mut() {
            if OPS_PATHS.contains(&path.as_str()) {
                continue;
            }
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            let shared_params = item.get("parameters").cloned();
            for method in METHODS {
                if let Some(Value::Object(op)) = item.get_mut(method) {
                    add_platform_responses(path, op, shared_params.as_ref());
                }
            }
        }
    }
    doc
}

fn add_components(root: &mut Map<String, Value>) {
    let components = root
        .entry("components")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(components) = components else {
        return;
    };
    let problem = serde_json::to_value(<Problem as PartialSchema>::schema())
        .unwrap_or_else(|_| json!({"type": "object"}));
    if let Some(schemas) = components
        .entry("schemas")
        .or_insert_with(|| json!({}))
        .as_object_mut()
    {
        schemas.insert("Problem".into(), problem);
    }
    if let Some(schemes) = components
        .entry("securitySchemes")
        .or_insert_with(|| json!({}))
        .as_object_mut()
    {
        schemes.entry(BEARER).or_insert_with(|| {
            json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "A user's access token from the auth service (tenant routes)."})
        });
        schemes.entry(SERVICE).or_insert_with(|| {
            json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "A service token (`role: service`, audience `voxanne-internal`) for `/internal/...` routes."})
        });
        schemes.entry(VAPI_SECRET).or_insert_with(|| {
            json!({"type": "apiKey", "in": "header", "name": "x-vapi-secret",
                   "description": "The Vapi webhook's shared secret (header name configurable, default `x-vapi-secret`)."})
        });
        schemes.entry(VAPI_SIGNATURE).or_insert_with(|| {
            json!({"type": "apiKey", "in": "header", "name": "x-signature",
                   "description": "Hex HMAC-SHA256 of `{x-timestamp}.{raw body}` with the webhook key; each signature is accepted once."})
        });
        schemes.entry(VAPI_TIMESTAMP).or_insert_with(|| {
            json!({"type": "apiKey", "in": "header", "name": "x-timestamp",
                   "description": "Unix seconds the signature was made at (within the replay window); sent with `x-signature`."})
        });
    }
}

fn problem_content() -> Value {
    json!({ PROBLEM_JSON: { "schema": { "$ref": PROBLEM_REF } } })
}

fn ops_operation(id: &str, summary: &str, responses: Value) -> Value {
    json!({ "tags": ["ops"], "summary": summary, "operationId": id, "responses": responses })
}

/// `/health`, `/ready`, `/metrics`, `/openapi.json` as `ops::configure` serves them.
fn add_ops_paths(paths: &mut Map<String, Value>) {
    let ready_map = json!({
        "type": "object",
        "description": "Each dependency (`database`, `redis`, `bus`, …) and whether it is reachable.",
        "additionalProperties": {"type": "boolean"}
    });
    paths.insert(
        "/health".into(),
        json!({"get": ops_operation("ops_health", "Liveness: the process is up.", json!({
            "200": {"description": "the process is up", "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["status", "service"],
                "properties": {"status": {"type": "string", "const": "ok"}, "service": {"type": "string"}}
            }}}}
        }))}),
    );
    paths.insert(
        "/ready".into(),
        json!({"get": ops_operation("ops_ready", "Readiness: each dependency true/false; 503 when one the pod cannot serve without (database, redis) is down. The broker (`bus`) is reported but never makes the pod unready: the outbox buffers events.", json!({
            "200": {"description": "every required dependency is reachable (the broker may be down)", "content": {"application/json": {
                "schema": ready_map, "example": {"database": true, "redis": true, "bus": true}}}},
            "503": {"description": "a required dependency is down", "content": {"application/json": {
                "schema": ready_map, "example": {"database": false, "redis": true, "bus": true}}}}
        }))}),
    );
    paths.insert(
        "/metrics".into(),
        json!({"get": ops_operation("ops_metrics", "Prometheus metrics.", json!({
            "200": {"description": "Prometheus text exposition format 0.0.4",
                    "content": {"text/plain": {"schema": {"type": "string"}}}}
        }))}),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({"get": ops_operation("ops_openapi", "OpenAPI: this document.", json!({
            "200": {"description": "this OpenAPI 3.1 document",
                    "content": {"application/json": {"schema": {"type": "object"}}}}
        }))}),
    );
}

fn params_of<'a>(
    op: &'a Map<String, Value>,
    shared: Option<&'a Value>,
) -> impl Iterator<Item = &'a Map<String, Value>> {
    op.get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .chain(shared.and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_object)
}

fn add_platform_responses(path: &str, op: &mut Map<String, Value>, shared: Option<&Value>) {
    let has_path_params =
        path.contains('{') || params_of(op, shared).any(|p| p.get("in") == Some(&json!("path")));
    let query: Vec<String> = params_of(op, shared)
        .filter(|p| p.get("in") == Some(&json!("query")))
        .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let body_types: Vec<String> = op
        .get("requestBody")
        .and_then(|b| b.get("content"))
        .and_then(Value::as_object)
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default();
    let has_body = op.get("requestBody").is_some();
    let json_body = body_types.iter().any(|t| is_json(t));
    let schemes: Vec<String> = op
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|req| req.keys().cloned())
        .collect();
    let token = schemes.iter().any(|s| s == BEARER || s == SERVICE);

    let mut add: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    let mut push =
        |status: &'static str, why: &'static str| add.entry(status).or_default().push(why);
    if has_body {
        push(
            "400",
            "the body could not be read or is not valid JSON (`malformed_json`, `bad_body`)",
        );
        push(
            "413",
            "the body exceeds the service's limit (`payload_too_large`)",
        );
    }
    if json_body {
        push(
            "415",
            "the body is not `application/json` (`unsupported_media_type`)",
        );
        push(
            "422",
            "a field has the wrong type or is missing (`invalid_field`, naming `field`)",
        );
    }
    if !query.is_empty() {
        push("400", "the query string does not parse (`invalid_query`)");
    }
    if query.iter().any(|q| q == "limit" || q == "cursor") {
        push(
            "422",
            "`limit` is outside 1-200 or `cursor` is not one this service issued (`invalid_query`, naming `field`)",
        );
    }
    if has_path_params {
        push("404", "a path parameter does not parse (`invalid_path`)");
        push(
            "400",
            "the path contains a `.`/`..` segment (`non_canonical_path`)",
        );
    }
    if !schemes.is_empty() {
        push(
            "401",
            "missing, malformed, expired or revoked credentials (`missing_token`, `invalid_token`, `token_expired`, `session_revoked`, …)",
        );
    }
    if token {
        push(
            "403",
            "the token may not call this route (`service_token_not_allowed`, `service_token_required`, `no_org`, `mfa_required`, `insufficient_role`)",
        );
    }
    push("500", "an unexpected error (`internal_error`); no detail");
    push(
        "503",
        "a dependency is unavailable (`database_unavailable`, `auth_unavailable`, …); `Retry-After` is set",
    );

    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(responses) = responses else {
        return;
    };
    for (status, why) in add {
        let description = why.join("; ");
        match responses.get_mut(status) {
            Some(Value::Object(existing)) if !existing.contains_key("$ref") => {
                let content = existing
                    .entry("content")
                    .or_insert_with(|| json!({}))
                    .as_object_mut();
                if let Some(content) = content {
                    content
                        .entry(PROBLEM_JSON)
                        .or_insert_with(|| json!({ "schema": { "$ref": PROBLEM_REF } }));
                }
            }
            Some(_) => {}
            None => {
                responses.insert(
                    status.into(),
                    json!({ "description": description, "content": problem_content() }),
                );
            }
        }
    }
    // The service's own error responses: problem+json, whatever the annotation spelled.
    for (status, response) in responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        if !is_error || response.contains_key("$ref") {
            continue;
        }
        let content = response
            .entry("content")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        let Some(content) = content else { continue };
        if content.is_empty() {
            content.insert(
                PROBLEM_JSON.into(),
                json!({ "schema": { "$ref": PROBLEM_REF } }),
            );
            continue;
        }
        let json_is_problem = content
            .get("application/json")
            .and_then(|m| m.get("schema"))
            .and_then(|s| s.get("$ref"))
            .and_then(Value::as_str)
            == Some(PROBLEM_REF);
        if json_is_problem && let Some(media) = content.remove("application/json") {
            content.entry(PROBLEM_JSON).or_insert(media);
        }
    }
}

fn is_json(media: &str) -> bool {
    let m = media.split(';').next().unwrap_or_default().trim();
    m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
        &doc["paths"][path][method]
    }

    #[test]
    fn problem_schema_matches_what_api_error_renders() {
        let doc = finish_value(json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}}));
        let p = &doc["components"]["schemas"]["Problem"];
        let mut required: Vec<&str> = p["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        required.sort_unstable();
        assert_eq!(required, ["code", "status", "title", "type"]);
        for optional in ["detail", "field", "trace_id"] {
            assert_eq!(p["properties"][optional]["type"], "string", "{p}");
        }
        // Real renderings deserialize as Problem (4xx with field, 5xx without detail).
        let e = crate::ApiError::invalid("invalid_field", Some("x"), "bad");
        let _: Problem = serde_json::from_value(Value::Object(e.problem())).unwrap_or_else(|e| {
            unreachable!("{e}");
        });
    }

    #[test]
    fn platform_statuses_are_added_where_they_can_occur() {
        let doc = finish_value(json!({
            "openapi": "3.1.0", "info": {"title": "t", "version": "1"},
            "paths": {
                "/api/things/{id}": {
                    "get": {"parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                            "security": [{"bearer": []}],
                            "responses": {"200": {"description": "ok"}, "404": {"description": "no such thing"}}},
                    "post": {"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                             "responses": {"201": {"description": "made"},
                                           "409": {"description": "taken", "content": {"application/json": {"schema": {"$ref": PROBLEM_REF}}}}}}
                },
                "/api/list": {"get": {"parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                                      "responses": {"200": {"description": "ok"}}}}
            }
        }));
        let get = op(&doc, "/api/things/{id}", "get");
        let mut statuses: Vec<&String> = get["responses"]
            .as_object()
            .map(|r| r.keys().collect())
            .unwrap_or_default();
        statuses.sort();
        assert_eq!(statuses, ["200", "400", "401", "403", "404", "500", "503"]);
        assert_eq!(get["responses"]["404"]["description"], "no such thing");
        assert_eq!(
            get["responses"]["404"]["content"][PROBLEM_JSON]["schema"]["$ref"],
            PROBLEM_REF
        );
        let post = op(&doc, "/api/things/{id}", "post");
        for s in ["400", "413", "415", "422", "500", "503"] {
            assert!(post["responses"][s].is_object(), "{s}: {post}");
        }
        assert!(post["responses"]["401"].is_null());
        assert!(post["responses"]["409"]["content"]["application/json"].is_null());
        assert!(post["responses"]["409"]["content"][PROBLEM_JSON].is_object());
        let list = op(&doc, "/api/list", "get");
        assert!(list["responses"]["422"].is_object());
        assert!(list["responses"]["404"].is_null());
        // The ops routes are documented, without service statuses.
        assert!(op(&doc, "/ready", "get")["responses"]["503"].is_object());
        assert!(op(&doc, "/health", "get")["responses"]["500"].is_null());
        assert!(doc["components"]["securitySchemes"]["vapi_signature"].is_object());
    }
}

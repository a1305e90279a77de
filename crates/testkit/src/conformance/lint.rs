//! Schema errors in an OpenAPI 3.1 document itself: the structure the OpenAPI 3.1 schema
//! requires (required members, no unknown members, status keys, parameter shape, component
//! names) plus what it cannot express (every `$ref` resolves, every `{param}` is declared and
//! vice versa, operationIds are unique, security requirements name declared schemes), and every
//! schema object is a valid JSON Schema 2020-12 schema (checked against the draft's meta-schema).

use std::collections::HashMap;

use serde_json::{Map, Value};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
const PATH_ITEM_KEYS: [&str; 5] = ["summary", "description", "servers", "parameters", "$ref"];
const OPERATION_KEYS: [&str; 12] = [
    "tags",
    "summary",
    "description",
    "externalDocs",
    "operationId",
    "parameters",
    "requestBody",
    "responses",
    "callbacks",
    "deprecated",
    "security",
    "servers",
];
const RESPONSE_KEYS: [&str; 4] = ["description", "headers", "content", "links"];
const MEDIA_KEYS: [&str; 4] = ["schema", "example", "examples", "encoding"];
const PARAMETER_KEYS: [&str; 13] = [
    "name",
    "in",
    "description",
    "required",
    "deprecated",
    "allowEmptyValue",
    "style",
    "explode",
    "allowReserved",
    "schema",
    "example",
    "examples",
    "content",
];

/// Every schema error found, as readable lines (empty: the document is well-formed).
pub fn lint(doc: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let mut err = |e: String| errors.push(e);
    let Some(root) = doc.as_object() else {
        return vec!["the document is not a JSON object".into()];
    };
    match root.get("openapi").and_then(Value::as_str) {
        Some(v) if is_31(v) => {}
        other => err(format!("`openapi` must be 3.1.x, is {other:?}")),
    }
    for key in ["title", "version"] {
        if !doc["info"][key].is_string() {
            err(format!("`info.{key}` is required (a string)"));
        }
    }
    refs_resolve(doc, doc, "#", &mut err);

    let schemes = doc["components"]["securitySchemes"].as_object();
    if let Some(components) = root.get("components").and_then(Value::as_object) {
        for (kind, entries) in components {
            for name in entries.as_object().into_iter().flatten().map(|(k, _)| k) {
                if !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                {
                    err(format!(
                        "components.{kind}: name `{name}` must match ^[a-zA-Z0-9._-]+$"
                    ));
                }
            }
        }
        for (name, schema) in doc["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
        {
            meta_valid(schema, &format!("components.schemas.{name}"), &mut err);
        }
        for (name, scheme) in schemes.into_iter().flatten() {
            match scheme["type"].as_str() {
                Some("apiKey") => {
                    if !scheme["name"].is_string()
                        || !matches!(scheme["in"].as_str(), Some("query" | "header" | "cookie"))
                    {
                        err(format!(
                            "securitySchemes.{name}: apiKey needs `name` and `in` (query/header/cookie)"
                        ));
                    }
                }
                Some("http") => {
                    if !scheme["scheme"].is_string() {
                        err(format!("securitySchemes.{name}: http needs `scheme`"));
                    }
                }
                Some("mutualTLS" | "oauth2" | "openIdConnect") => {}
                other => err(format!("securitySchemes.{name}: unknown type {other:?}")),
            }
        }
    }

    let mut operation_ids: HashMap<String, String> = HashMap::new();
    let paths = doc["paths"].as_object();
    for (path, item) in paths.into_iter().flatten() {
        if !path.starts_with('/') {
            err(format!("path `{path}` must start with `/`"));
        }
        let Some(item) = item.as_object() else {
            err(format!("{path}: the path item is not an object"));
            continue;
        };
        unknown_keys(item, &[&METHODS, &PATH_ITEM_KEYS], path, &mut err);
        let shared = item.get("parameters");
        let template_params: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let at = format!("{} {path}", method.to_ascii_uppercase());
            let Some(op) = op.as_object() else {
                err(format!("{at}: the operation is not an object"));
                continue;
            };
            unknown_keys(op, &[&OPERATION_KEYS], &at, &mut err);
            if let Some(id) = op.get("operationId").and_then(Value::as_str)
                && let Some(prev) = operation_ids.insert(id.to_string(), at.clone())
            {
                err(format!("{at}: operationId `{id}` is also used by {prev}"));
            }
            let params: Vec<&Value> = op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .chain(shared.and_then(Value::as_array).into_iter().flatten())
                .map(|p| resolve(doc, p))
                .collect();
            for p in &params {
                parameter(p, &at, &mut err);
            }
            let declared: Vec<&str> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            for t in &template_params {
                if !declared.contains(t) {
                    err(format!("{at}: path parameter `{t}` is not declared"));
                }
            }
            for d in &declared {
                if !template_params.contains(d) {
                    err(format!(
                        "{at}: parameter `{d}` is `in: path` but not in the template"
                    ));
                }
            }
            if let Some(body) = op.get("requestBody").map(|b| resolve(doc, b)) {
                match body.get("content").and_then(Value::as_object) {
                    Some(content) => content_ok(content, &format!("{at} requestBody"), &mut err),
                    None => err(format!("{at}: requestBody needs `content`")),
                }
            }
            match op.get("responses").and_then(Value::as_object) {
                Some(r) if !r.is_empty() => {
                    for (status, response) in r {
                        if !is_status_key(status) {
                            err(format!("{at}: response key `{status}` is not a status"));
                        }
                        let response = resolve(doc, response);
                        let Some(response) = response.as_object() else {
                            err(format!("{at} {status}: the response is not an object"));
                            continue;
                        };
                        if response.contains_key("$ref") {
                            continue;
                        }
                        unknown_keys(
                            response,
                            &[&RESPONSE_KEYS],
                            &format!("{at} {status}"),
                            &mut err,
                        );
                        if !response.get("description").is_some_and(Value::is_string) {
                            err(format!("{at} {status}: a response needs `description`"));
                        }
                        if let Some(content) = response.get("content") {
                            match content.as_object() {
                                Some(c) => content_ok(c, &format!("{at} {status}"), &mut err),
                                None => err(format!("{at} {status}: `content` is not an object")),
                            }
                        }
                    }
                }
                _ => err(format!("{at}: `responses` is missing or empty")),
            }
            for requirement in op
                .get("security")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for name in requirement
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k)
                {
                    if !schemes.is_some_and(|s| s.contains_key(name)) {
                        err(format!(
                            "{at}: security scheme `{name}` is not declared in components"
                        ));
                    }
                }
            }
        }
    }
    errors
}

fn is_31(v: &str) -> bool {
    v.strip_prefix("3.1.").is_some_and(|rest| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        !digits.is_empty() && (rest.len() == digits.len() || rest[digits.len()..].starts_with('-'))
    })
}

fn is_status_key(k: &str) -> bool {
    k == "default"
        || (k.len() == 3
            && k.starts_with(['1', '2', '3', '4', '5'])
            && (k[1..].chars().all(|c| c.is_ascii_digit()) || &k[1..] == "XX"))
}

fn unknown_keys(
    obj: &Map<String, Value>,
    allowed: &[&[&str]],
    at: &str,
    err: &mut impl FnMut(String),
) {
    for k in obj.keys() {
        if !k.starts_with("x-") && !allowed.iter().any(|a| a.contains(&k.as_str())) {
            err(format!("{at}: unknown member `{k}`"));
        }
    }
}

fn parameter(p: &Value, at: &str, err: &mut impl FnMut(String)) {
    let Some(obj) = p.as_object() else {
        err(format!("{at}: a parameter is not an object"));
        return;
    };
    let name = p["name"].as_str().unwrap_or("?");
    let at = format!("{at} parameter `{name}`");
    if !p["name"].is_string() {
        err(format!("{at}: `name` is required"));
    }
    unknown_keys(obj, &[&PARAMETER_KEYS], &at, err);
    match p["in"].as_str() {
        Some("path") => {
            if p["required"] != Value::Bool(true) {
                err(format!("{at}: a path parameter must be `required: true`"));
            }
        }
        Some("query" | "header" | "cookie") => {}
        other => err(format!(
            "{at}: `in` must be query/header/path/cookie, is {other:?}"
        )),
    }
    match (obj.get("schema"), obj.get("content")) {
        (Some(schema), None) => meta_valid(schema, &at, err),
        (None, Some(_)) => {}
        _ => err(format!("{at}: exactly one of `schema` and `content`")),
    }
}

fn content_ok(content: &Map<String, Value>, at: &str, err: &mut impl FnMut(String)) {
    for (media, m) in content {
        if !media.contains('/') {
            err(format!("{at}: `{media}` is not a media type"));
        }
        let at = format!("{at} {media}");
        match m.as_object() {
            Some(obj) => {
                unknown_keys(obj, &[&MEDIA_KEYS], &at, err);
                if let Some(schema) = obj.get("schema") {
                    meta_valid(schema, &at, err);
                }
            }
            None => err(format!("{at}: the media type object is not an object")),
        }
    }
}

/// The schema is valid JSON Schema 2020-12 (the dialect OpenAPI 3.1 schemas default to).
fn meta_valid(schema: &Value, at: &str, err: &mut impl FnMut(String)) {
    if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
        err(format!("{at}: not a valid JSON Schema 2020-12 schema: {e}"));
    }
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) if r.starts_with("#/") => doc.pointer(&r[1..]).unwrap_or(v),
        _ => v,
    }
}

/// Every local `$ref` points at something; other refs are refused (the document is standalone).
fn refs_resolve(doc: &Value, v: &Value, at: &str, err: &mut impl FnMut(String)) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref") {
                match r.as_str() {
                    Some(r) if r.starts_with('#') => {
                        let pointer = &r[1..];
                        if !pointer.is_empty() && doc.pointer(pointer).is_none() {
                            err(format!("{at}: `$ref` {r} does not resolve"));
                        }
                    }
                    Some(r) => err(format!("{at}: `$ref` {r} is not local to the document")),
                    None => {}
                }
            }
            for (k, child) in m {
                // `example(s)` are data, not document structure.
                if k == "example" || k == "examples" {
                    continue;
                }
                refs_resolve(doc, child, &format!("{at}/{}", super::spec::escape(k)), err);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                refs_resolve(doc, child, &format!("{at}/{i}"), err);
            }
        }
        _ => {}
    }
}

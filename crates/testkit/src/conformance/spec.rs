//! A service's OpenAPI document, ready to check responses against: operations by method and path
//! template, and a JSON Schema (2020-12) validator per documented body, compiled on first use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// What checking one response found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The operation exists and the response matches what it documents.
    Valid,
    /// The operation exists (or the app answered an undocumented one) and something differs.
    Violation(String),
    /// No documented operation matches, and the app answered 404/405 (nothing to validate).
    Unmatched,
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

struct Template {
    path: String,
    /// `None` for a `{param}` segment.
    segments: Vec<Option<String>>,
    literals: usize,
}

pub struct Spec {
    doc: Value,
    templates: Vec<Template>,
    validators: Mutex<HashMap<String, Arc<Result<jsonschema::Validator, String>>>>,
}

impl Spec {
    pub fn new(doc: Value) -> Self {
        let mut templates: Vec<Template> = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, _)| {
                let segments: Vec<Option<String>> = path
                    .split('/')
                    .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_string()))
                    .collect();
                let literals = segments.iter().filter(|s| s.is_some()).count();
                Template {
                    path: path.clone(),
                    segments,
                    literals,
                }
            })
            .collect();
        // The most literal template wins (`/things/mine` before `/things/{id}`).
        templates.sort_by(|a, b| b.literals.cmp(&a.literals).then(a.path.cmp(&b.path)));
        Spec {
            doc,
            templates,
            validators: Mutex::default(),
        }
    }

    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// The documented path template `path` matches for `method`, if any.
    pub fn operation(&self, method: &str, path: &str) -> Option<&str> {
        let method = method.to_ascii_lowercase();
        let segs: Vec<&str> = path.split('/').collect();
        self.templates
            .iter()
            .filter(|t| {
                t.segments.len() == segs.len()
                    && t.segments.iter().zip(&segs).all(|(t, s)| match t {
                        Some(lit) => lit == s,
                        None => !s.is_empty(),
                    })
            })
            .find(|t| self.doc["paths"][&t.path][&method].is_object())
            .map(|t| t.path.as_str())
    }

    /// Checks one response: the operation exists, the status is documented, the Content-Type is
    /// a documented media type, and a JSON body validates against the documented schema.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Outcome {
        let path = path.split('?').next().unwrap_or(path);
        let Some(template) = self.operation(method, path) else {
            return if status == 404 || status == 405 {
                Outcome::Unmatched
            } else {
                Outcome::Violation(format!(
                    "undocumented operation: no `{} <path>` in the document matches {path}, yet the app answered {status}",
                    method.to_ascii_uppercase()
                ))
            };
        };
        let method_key = method.to_ascii_lowercase();
        let responses = &self.doc["paths"][template][&method_key]["responses"];
        let status_key = status.to_string();
        let range_key = format!("{}XX", status / 100);
        let (key, response) = [status_key.as_str(), range_key.as_str(), "default"]
            .into_iter()
            .find_map(|k| responses.get(k).map(|r| (k, r)))
            .map_or((None, &Value::Null), |(k, r)| (Some(k), r));
        let Some(key) = key else {
            let documented: Vec<&String> = responses
                .as_object()
                .map(|r| r.keys().collect())
                .unwrap_or_default();
            return Outcome::Violation(format!(
                "undocumented status {status} for {} {template} (documented: {documented:?})",
                method.to_ascii_uppercase()
            ));
        };
        let response = self.resolve(response);
        let content = response.get("content").and_then(Value::as_object);
        let mime = content_type.map(|c| {
            c.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
        let Some(content) = content.filter(|c| !c.is_empty()) else {
            return if body.is_empty() {
                Outcome::Valid
            } else {
                Outcome::Violation(format!(
                    "status {status} ({key}) documents no body, but one of {} bytes came ({})",
                    body.len(),
                    mime.as_deref().unwrap_or("no Content-Type")
                ))
            };
        };
        let Some(mime) = mime else {
            return if body.is_empty() {
                Outcome::Violation(format!(
                    "status {status} ({key}) documents a body ({:?}), the response has none",
                    content.keys().collect::<Vec<_>>()
                ))
            } else {
                Outcome::Violation(format!(
                    "status {status} ({key}): a body without Content-Type"
                ))
            };
        };
        let Some((media_key, media)) = content.iter().find(|(k, _)| media_matches(k, &mime)) else {
            return Outcome::Violation(format!(
                "status {status} ({key}): Content-Type {mime} is not documented (documented: {:?})",
                content.keys().collect::<Vec<_>>()
            ));
        };
        let Some(schema) = media.get("schema") else {
            return Outcome::Valid;
        };
        if !is_json(&mime) {
            return Outcome::Valid;
        }
        let instance: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return Outcome::Violation(format!(
                    "status {status} ({key}) {media_key}: the body is not JSON: {e}"
                ));
            }
        };
        let pointer = format!(
            "/paths/{}/{method_key}/responses/{key}/content/{}/schema",
            escape(template),
            escape(media_key)
        );
        let validator = self.validator(&pointer, schema);
        match validator.as_ref() {
            Err(e) => Outcome::Violation(format!(
                "status {status} ({key}) {media_key}: the documented schema does not compile: {e}"
            )),
            Ok(v) => {
                let errors: Vec<String> = v
                    .iter_errors(&instance)
                    .take(5)
                    .map(|e| {
                        let at = e.instance_path().to_string();
                        format!("at `{}`: {e}", if at.is_empty() { "/" } else { &at })
                    })
                    .collect();
                if errors.is_empty() {
                    Outcome::Valid
                } else {
                    Outcome::Violation(format!(
                        "status {status} ({key}) {media_key}: the body does not match the schema: {}",
                        errors.join("; ")
                    ))
                }
            }
        }
    }

    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        let mut v = v;
        for _ in 0..8 {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) if r.starts_with("#/") => {
                    v = self.doc.pointer(&r[1..]).unwrap_or(&Value::Null);
                }
                _ => break,
            }
        }
        v
    }

    fn validator(&self, key: &str, schema: &Value) -> Arc<Result<jsonschema::Validator, String>> {
        if let Some(v) = self
            .validators
            .lock()
            .ok()
            .and_then(|m| m.get(key).cloned())
        {
            return v;
        }
        // `#/components/...` refs resolve against the document's components, carried alongside.
        let wrapped = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [schema],
            "components": self.doc.get("components").cloned().unwrap_or_else(|| json!({})),
        });
        let compiled = Arc::new(
            jsonschema::draft202012::options()
                .build(&wrapped)
                .map_err(|e| e.to_string()),
        );
        if let Ok(mut m) = self.validators.lock() {
            m.insert(key.to_string(), compiled.clone());
        }
        compiled
    }

    /// Every operation as `(METHOD, template)`.
    pub fn operations(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (path, item) in self.doc["paths"].as_object().into_iter().flatten() {
            for m in METHODS {
                if item.get(m).is_some() {
                    out.push((m.to_ascii_uppercase(), path.clone()));
                }
            }
        }
        out
    }
}

fn media_matches(documented: &str, actual: &str) -> bool {
    let documented = documented
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    documented == actual
        || documented == "*/*"
        || documented
            .strip_suffix("/*")
            .is_some_and(|ty| actual.split('/').next() == Some(ty))
}

fn is_json(mime: &str) -> bool {
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// JSON pointer escaping of one reference token.
pub(crate) fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

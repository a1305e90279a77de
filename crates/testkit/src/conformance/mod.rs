//! The OpenAPI conformance check of `make test`: `spawn_app` puts a validating reverse proxy in
//! front of every app, so every response an API test receives through `app.address`/`app.url()`
//! is checked against the service's own `/openapi.json` (operation documented, status
//! documented, Content-Type documented, JSON body valid against the documented schema), and the
//! document itself is linted for schema errors.
//!
//! * Mode: env `OPENAPI_CONFORMANCE` = `enforce` (default) | `report` | `off`. Enforced, a
//!   `TestApp` with violations fails its test when dropped (unless the test already panics);
//!   `app.conformance()` gives the counts and violations for explicit checks.
//! * Every app appends one JSON line to `<target>/openapi-conformance/<service>.jsonl`:
//!   `{"service", "test", "mode", "validated", "violations", "unmatched",
//!   "violation_details": [{method, path, operation, status, problem, body}],
//!   "unmatched_requests": ["METHOD path -> status", ...]}`;
//!   `deploy/conformance-summary.sh` totals them.
//! * `app.port` is the app's own port: raw-TCP tests that use it bypass the check.

pub mod lint;
mod proxy;
pub mod spec;

use std::io::Write as _;
use std::sync::{Arc, LazyLock, Mutex};

use serde::Serialize;
use serde_json::{Value, json};

pub use proxy::ConformanceProxy;
pub use spec::{Outcome, Spec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Report,
    Off,
}

impl Mode {
    /// From `OPENAPI_CONFORMANCE` (the same for every service).
    pub fn for_service(_service: &str) -> Mode {
        match crate::config::conformance_mode().as_str() {
            "off" => Mode::Off,
            "report" => Mode::Report,
            _ => Mode::Enforce,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Report => "report",
            Mode::Off => "off",
        }
    }
}

/// One response (or the document itself, method `DOC`) that differs from the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub method: String,
    pub path: String,
    /// The documented path template the request matched (`None`: no operation matched).
    pub operation: Option<String>,
    pub status: u16,
    pub problem: String,
    /// The first 300 characters of the body.
    pub body: String,
}

/// What the check saw for one app.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Conformance {
    pub service: String,
    /// Responses checked against a documented operation (valid or not).
    pub validated: u64,
    pub violations: Vec<Violation>,
    /// `METHOD path -> status` of requests no documented operation matches (404/405 answers).
    pub unmatched: Vec<String>,
}

impl Conformance {
    /// Records the outcome of checking one response.
    pub fn record(
        &mut self,
        method: &str,
        path: &str,
        operation: Option<&str>,
        status: u16,
        body: &[u8],
        outcome: Outcome,
    ) {
        match outcome {
            Outcome::Valid => self.validated += 1,
            Outcome::Violation(problem) => {
                self.validated += 1;
                self.violations.push(Violation {
                    method: method.to_string(),
                    path: path.to_string(),
                    operation: operation.map(str::to_string),
                    status,
                    problem,
                    body: excerpt(body),
                });
            }
            Outcome::Unmatched => {
                let line = format!("{method} {path} -> {status}");
                if !self.unmatched.contains(&line) {
                    self.unmatched.push(line);
                }
            }
        }
    }

    /// A readable list of the violations.
    pub fn describe(&self) -> String {
        let doc_errors = self.violations.iter().filter(|v| v.method == "DOC").count();
        let mut out = format!(
            "OpenAPI conformance of `{}`: {} of {} validated responses differ from its \
             /openapi.json, and the document has {doc_errors} schema errors \
             (OPENAPI_CONFORMANCE=report to only report; see testkit::conformance)\n",
            self.service,
            self.violations.len() - doc_errors,
            self.validated,
        );
        for v in &self.violations {
            out.push_str(&format!(
                "  {} {} -> {}: {}\n      body: {}\n",
                v.method, v.path, v.status, v.problem, v.body
            ));
        }
        out
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(300).collect();
    if text.chars().count() > 300 {
        s.push('…');
    }
    s
}

/// The parsed document and its schema errors, shared by every app of a service whose document
/// is the same text (validators compile once per test binary).
pub struct Checked {
    pub spec: Spec,
    pub lint: Vec<String>,
}

type Cache = Mutex<Vec<(String, Arc<Checked>)>>;
static DOCS: LazyLock<Cache> = LazyLock::new(Mutex::default);

/// Parses and lints `text` (cached by its exact text).
pub fn checked(text: &str) -> Arc<Checked> {
    if let Ok(cache) = DOCS.lock()
        && let Some((_, c)) = cache.iter().find(|(t, _)| t == text)
    {
        return c.clone();
    }
    let (spec, lint) = match serde_json::from_str::<Value>(text) {
        Ok(doc) => {
            let lint = lint::lint(&doc);
            (Spec::new(doc), lint)
        }
        Err(e) => (
            Spec::new(json!({})),
            vec![format!("/openapi.json is not JSON: {e}")],
        ),
    };
    let c = Arc::new(Checked { spec, lint });
    if let Ok(mut cache) = DOCS.lock() {
        cache.push((text.to_string(), c.clone()));
    }
    c
}

/// Appends the app's line to `<target>/openapi-conformance/<service>.jsonl`.
pub fn write_report(report: &Conformance, mode: Mode) {
    let dir = crate::config::target_dir().join("openapi-conformance");
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let line = json!({
        "service": report.service,
        "test": std::thread::current().name().unwrap_or("?"),
        "mode": mode.as_str(),
        "validated": report.validated,
        "violations": report.violations.len(),
        "unmatched": report.unmatched.len(),
        "violation_details": report.violations,
        "unmatched_requests": report.unmatched,
    });
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{}.jsonl", report.service)))
    {
        // One write per line: concurrent tests append whole lines.
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)] // tests: a failure should stop the test loudly
mod tests;

//! The validating reverse proxy `spawn_app` puts in front of an app: forwards method,
//! path+query, headers and body unchanged (redirects are not followed, bodies up to 64 MiB,
//! keep-alive on both sides), returns the app's response unchanged, and checks it against the
//! app's document on the way back.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use super::{Checked, Conformance, Violation};

/// Request bodies the proxy forwards (well above any service's own limit).
const MAX_BODY: usize = 64 << 20;

/// Connection-level headers a proxy does not forward (RFC 9110 §7.6.1), plus the length, which
/// the forwarding side sets itself.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub struct ConformanceProxy {
    pub port: u16,
    pub report: Arc<Mutex<Conformance>>,
    server: actix_web::dev::ServerHandle,
}

struct State {
    app_port: u16,
    client: reqwest::Client,
    checked: Arc<Checked>,
    report: Arc<Mutex<Conformance>>,
}

impl ConformanceProxy {
    /// Listens on a free loopback port and forwards to `127.0.0.1:app_port`; the document's
    /// schema errors are recorded as violations at once.
    pub fn start(service: &str, app_port: u16, checked: Arc<Checked>) -> anyhow::Result<Self> {
        let mut report = Conformance {
            service: service.to_string(),
            ..Conformance::default()
        };
        for problem in &checked.lint {
            report.violations.push(Violation {
                method: "DOC".into(),
                path: "/openapi.json".into(),
                operation: None,
                status: 200,
                problem: format!("schema error in the document: {problem}"),
                body: String::new(),
            });
        }
        let report = Arc::new(Mutex::new(report));
        let state = web::Data::new(State {
            app_port,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            checked,
            report: report.clone(),
        });
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .default_service(web::to(forward))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(ConformanceProxy {
            port,
            report,
            server: handle,
        })
    }

    pub fn stop(&self) {
        // `stop` sends the command eagerly; the returned future only waits for completion.
        drop(self.server.stop(false));
    }
}

fn forwarded(name: &str) -> bool {
    !HOP_BY_HOP.contains(&name) && name != "content-length"
}

async fn forward(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let Ok(method) = reqwest::Method::from_bytes(req.method().as_str().as_bytes()) else {
        return HttpResponse::BadRequest().body("conformance proxy: unknown method");
    };
    let mut out = state.client.request(
        method,
        format!("http://127.0.0.1:{}{path_and_query}", state.app_port),
    );
    for (name, value) in req.headers() {
        if forwarded(name.as_str()) {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    let had_body = req.headers().contains_key("content-length")
        || req.headers().contains_key("transfer-encoding");
    if had_body {
        out = out.body(body.to_vec());
    }
    let response = match out.send().await {
        Ok(r) => r,
        Err(e) => {
            return HttpResponse::BadGateway()
                .body(format!("conformance proxy: the app did not answer: {e}"));
        }
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = match response.bytes().await {
        Ok(b) => b,
        Err(e) => {
            return HttpResponse::BadGateway()
                .body(format!("conformance proxy: reading the app's body: {e}"));
        }
    };
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let outcome = state.checked.spec.check(
        req.method().as_str(),
        req.path(),
        status,
        content_type,
        &bytes,
    );
    let operation = state
        .checked
        .spec
        .operation(req.method().as_str(), req.path());
    if let Ok(mut report) = state.report.lock() {
        report.record(
            req.method().as_str(),
            req.path(),
            operation,
            status,
            &bytes,
            outcome,
        );
    }
    let mut back = HttpResponse::build(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    for (name, value) in &headers {
        if !forwarded(name.as_str()) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            back.append_header((n, v));
        }
    }
    back.body(bytes.to_vec())
}

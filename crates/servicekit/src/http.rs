//! The HTTP server every service runs: ops endpoints, `x-served-by`, request metrics, tracing
//! with `traceparent`, problem+json for extractor errors, bare errors and unknown routes.

use std::net::TcpListener;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::config::CommonSettings;
use crate::error::{ApiError, bare_problem};
use crate::json::{BodyLimit, extractor_configs};
use crate::ops::{self, Ops};
use crate::telemetry::TraceparentRoot;

pub struct HttpServerHandle {
    pub port: u16,
    pub server: Server,
    /// Run, in order, after the server has stopped (SIGTERM: actix drains the requests in flight
    /// first): the bus stops its consumers and flushes its relay here.
    pub after_stop: Vec<futures_util::future::BoxFuture<'static, ()>>,
}

/// Binds `host:port` (port 0 picks a free one) and builds the server; `configure` adds the
/// service's own routes and app data. The server runs when the returned `Server` is awaited.
pub fn build<F>(
    settings: &CommonSettings,
    ops: Ops,
    configure: F,
) -> anyhow::Result<HttpServerHandle>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let listener = TcpListener::bind((settings.host.as_str(), settings.port))?;
    let port = listener.local_addr()?.port();
    let ops = web::Data::new(ops);
    let limit = settings.body_limit;
    let service = settings.service.name;
    let server = HttpServer::new(move || {
        let (json, path, query, payload) = extractor_configs(limit);
        App::new()
            .app_data(ops.clone())
            .app_data(BodyLimit(limit))
            .app_data(json)
            .app_data(path)
            .app_data(query)
            .app_data(payload)
            .wrap(from_fn(observe))
            .wrap(TracingLogger::<TraceparentRoot>::new())
            .wrap(DefaultHeaders::new().add(("x-served-by", service)))
            .configure(ops::configure)
            .configure(configure.clone())
            .default_service(web::to(route_not_found))
    })
    .workers(settings.http_workers)
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    tracing::info!(service, port, "http server listening");
    Ok(HttpServerHandle {
        port,
        server,
        after_stop: Vec::new(),
    })
}

fn is_canonical(path: &str) -> bool {
    path.split('/').all(|seg| {
        let lower = seg.to_ascii_lowercase().replace("%2e", ".");
        lower != "." && lower != ".."
    })
}

async fn route_not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        code: "route_not_found",
        detail: "no such route".into(),
    })
}

/// Request metrics by route pattern and status, and a problem+json body for any error response
/// that left a handler without one.
async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    // Gateways route on the normalised path but forward the raw one: `/api/x/../../internal/..`
    // must never reach a route the gateway would not have sent here.
    if !is_canonical(req.path()) {
        let (http_req, _) = req.into_parts();
        let err = ApiError::BadRequest {
            code: "non_canonical_path",
            detail: "the path contains dot segments".into(),
        };
        return Ok(ServiceResponse::new(
            http_req,
            actix_web::ResponseError::error_response(&err),
        ));
    }
    let method = req.method().to_string();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    let res = if (status.is_client_error() || status.is_server_error())
        && !res.headers().contains_key(header::CONTENT_TYPE)
    {
        let (req, _) = res.into_parts();
        ServiceResponse::new(req, bare_problem(status))
    } else {
        res
    };
    let labels = [
        ("method", method),
        ("route", route),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::is_canonical;

    #[test]
    fn dot_segments_in_any_spelling_are_refused() {
        assert!(is_canonical("/api/calendar/services/1.5"));
        for p in [
            "/internal/../api",
            "/api/./x",
            "/api/%2e%2e/internal",
            "/api/%2E/x",
            "/..",
        ] {
            assert!(!is_canonical(p), "{p}");
        }
    }
}

//! The operational endpoints every service serves: `/health` (liveness: the process is up),
//! `/ready` (JSON map of dependencies; 503 only when one the pod cannot serve without is down),
//! `/metrics` (Prometheus) and `/openapi.json`.

use std::sync::Arc;
#[cfg(feature = "http")]
use std::time::Duration;

#[cfg(feature = "http")]
use actix_web::{HttpResponse, web};
use futures_util::future::BoxFuture;
#[cfg(feature = "http")]
use futures_util::future::join_all;
use metrics_exporter_prometheus::PrometheusHandle;
#[cfg(feature = "http")]
use serde_json::{Map, Value};

pub trait ReadinessCheck: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Whether the pod can serve without this dependency. A required one that is down makes
    /// `/ready` answer 503 (the pod leaves the load balancer); an optional one (the broker: the
    /// outbox buffers events) is reported in the body and in `dependency_up` only.
    fn required(&self) -> bool {
        true
    }
    fn check(&self) -> BoxFuture<'_, bool>;
}

pub struct Ops {
    pub service: &'static str,
    pub checks: Vec<Arc<dyn ReadinessCheck>>,
    pub metrics: PrometheusHandle,
    pub openapi: String,
}

#[cfg(feature = "http")]
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[cfg(feature = "http")]
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics))
        .route("/openapi.json", web::get().to(openapi));
}

/// Builds a service's OpenAPI document: its own paths plus what the platform adds (the ops
/// paths, `Problem`, security schemes, the statuses answered around handlers; see
/// `crate::openapi`).
pub fn openapi_json(doc: utoipa::openapi::OpenApi) -> String {
    crate::openapi::finish(doc).to_string()
}

#[cfg(feature = "http")]
/// Liveness: the process is up.
async fn health(ops: web::Data<Ops>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok", "service": ops.service }))
}

#[cfg(feature = "http")]
/// Readiness: each dependency true/false; 503 when a required one is down.
async fn ready(ops: web::Data<Ops>) -> HttpResponse {
    let results = join_all(ops.checks.iter().map(|c| async move {
        let ok = tokio::time::timeout(CHECK_TIMEOUT, c.check())
            .await
            .unwrap_or(false);
        (c.name(), ok, c.required())
    }))
    .await;
    let all_ok = results.iter().all(|(_, ok, required)| *ok || !*required);
    let body: Map<String, Value> = results
        .into_iter()
        .map(|(k, ok, _)| (k.to_string(), Value::Bool(ok)))
        .collect();
    for (name, ok) in &body {
        metrics::gauge!("dependency_up", "dependency" => name.clone())
            .set(if ok.as_bool() == Some(true) { 1.0 } else { 0.0 });
    }
    if all_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

#[cfg(feature = "http")]
/// Prometheus metrics.
async fn metrics(ops: web::Data<Ops>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(ops.metrics.render())
}

#[cfg(feature = "http")]
async fn openapi(ops: web::Data<Ops>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(ops.openapi.clone())
}

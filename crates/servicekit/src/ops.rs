//! The operational endpoints every service serves: `/health` (process up), `/ready` (JSON map of
//! dependencies, 503 when one is down), `/metrics` (Prometheus) and `/openapi.json`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use futures_util::future::{BoxFuture, join_all};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Map, Value};

pub trait ReadinessCheck: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn check(&self) -> BoxFuture<'_, bool>;
}

pub struct Ops {
    pub service: &'static str,
    pub checks: Vec<Arc<dyn ReadinessCheck>>,
    pub metrics: PrometheusHandle,
    pub openapi: String,
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics))
        .route("/openapi.json", web::get().to(openapi));
}

/// The operational endpoints, documented for every service's OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(health, ready, metrics))]
pub struct OpsApi;

/// Builds a service's OpenAPI document: its own paths plus the operational ones.
pub fn openapi_json(mut doc: utoipa::openapi::OpenApi) -> String {
    use utoipa::OpenApi as _;
    doc.merge(OpsApi::openapi());
    doc.to_json().unwrap_or_else(|_| "{}".into())
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200, description = "process is up")))]
async fn health(ops: web::Data<Ops>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok", "service": ops.service }))
}

/// Readiness: each dependency true/false; 503 when one is down.
#[utoipa::path(get, path = "/ready", tag = "ops", responses(
    (status = 200, description = "every dependency is reachable", body = Object, example = json!({"database": true, "redis": true, "bus": true})),
    (status = 503, description = "a dependency is down", body = Object, example = json!({"database": false, "redis": true, "bus": true}))
))]
async fn ready(ops: web::Data<Ops>) -> HttpResponse {
    let results = join_all(ops.checks.iter().map(|c| async move {
        let ok = tokio::time::timeout(CHECK_TIMEOUT, c.check())
            .await
            .unwrap_or(false);
        (c.name(), ok)
    }))
    .await;
    let all_ok = results.iter().all(|(_, ok)| *ok);
    let body: Map<String, Value> = results
        .into_iter()
        .map(|(k, ok)| (k.to_string(), Value::Bool(ok)))
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

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(ops: web::Data<Ops>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(ops.metrics.render())
}

async fn openapi(ops: web::Data<Ops>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(ops.openapi.clone())
}

//! The standard wiring of a tenant-serving service: platform pools, the `AuthState` for the
//! extractors and the tenant `Db`, registered as app data around the service's own routes.

use actix_web::web;
use servicekit::http::HttpServerHandle;
use std::sync::Arc;

use servicekit::ops::{Ops, ReadinessCheck};
use servicekit::{CommonSettings, Platform};

use tenancy::{AuthState, Db};

/// Builds the HTTP server of a service. `extra_checks` join `/ready` (e.g. the bus); `openapi`
/// is the service's generated document (JSON); `routes` registers its handlers, which can extract
/// `web::Data<Db>`, `Tenant`, `ServiceCaller`.
pub fn build<F>(
    settings: &CommonSettings,
    platform: &Platform,
    extra_checks: Vec<Arc<dyn ReadinessCheck>>,
    openapi: String,
    routes: F,
) -> anyhow::Result<HttpServerHandle>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let auth = AuthState::from_settings(settings, platform.redis.clone());
    build_with_auth(settings, platform, extra_checks, openapi, auth, routes)
}

/// `build` with the caller's own `AuthState` (the auth service verifies with its own keys).
pub fn build_with_auth<F>(
    settings: &CommonSettings,
    platform: &Platform,
    extra_checks: Vec<Arc<dyn ReadinessCheck>>,
    openapi: String,
    auth: AuthState,
    routes: F,
) -> anyhow::Result<HttpServerHandle>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let auth = web::Data::new(auth);
    let db = web::Data::new(Db::new(platform.pg.clone()));
    let ops = Ops {
        service: settings.service.name,
        checks: platform
            .readiness_checks()
            .into_iter()
            .chain(extra_checks)
            .collect(),
        metrics: servicekit::telemetry::metrics_handle(),
        openapi,
    };
    servicekit::http::build(settings, ops, move |cfg| {
        cfg.app_data(auth.clone()).app_data(db.clone());
        routes(cfg);
    })
}

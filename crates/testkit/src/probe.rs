//! "Another service" for the auth service's tests: a bare HTTP server whose one route needs a
//! `tenancy::Tenant`, so it verifies tokens exactly as every service does — auth's JWKS, the
//! Redis revocation set under auth's prefix, the `mfa_required` rule. It replaces the calendar
//! service in auth's tests, so no service crate depends on another (deploy/lint/deps.py).

use std::collections::HashMap;

use actix_web::{App, HttpResponse, HttpServer, web};
use servicekit::config::{CommonSettings, ServiceInfo};
use tenancy::{AuthState, Tenant};

use crate::auth::{AUDIENCE, ISSUER, SERVICE_AUDIENCE};
use crate::config::redis_url;

const INFO: ServiceInfo = ServiceInfo {
    name: "probe",
    schema: "probe",
    default_port: 0,
};

/// The probe's protected route: 200 with the caller's org for a token every service would
/// accept, the tenancy problem+json (401 `session_revoked`, 403 `mfa_required` …) otherwise.
pub const PROTECTED_PATH: &str = "/api/probe/whoami";

pub struct ProbeService {
    pub address: String,
    client: reqwest::Client,
    server: actix_web::dev::ServerHandle,
}

impl ProbeService {
    /// Starts a probe trusting the JWKS at `jwks_url` and the revocation marks under
    /// `redis_prefix` (the auth app's).
    pub async fn start(jwks_url: &str, redis_prefix: &str) -> Self {
        let env: HashMap<&str, String> = HashMap::from([
            ("VOXANNE_ENV", "test".to_string()),
            (
                "DATABASE_URL",
                "postgres://unused@127.0.0.1:5432/unused".to_string(),
            ),
            ("REDIS_URL", redis_url()),
            ("REDIS_PREFIX", redis_prefix.to_string()),
            ("JWKS_URL", jwks_url.to_string()),
            ("JWT_ISSUER", ISSUER.to_string()),
            ("JWT_AUDIENCE", AUDIENCE.to_string()),
            ("SERVICE_JWT_AUDIENCE", SERVICE_AUDIENCE.to_string()),
        ]);
        let settings = CommonSettings::from_lookup(INFO, &|k| env.get(k).cloned())
            .expect("probe settings are valid");
        let redis = servicekit::db::redis_pool(&settings.redis_url, 4).expect("redis pool");
        let auth = web::Data::new(AuthState::from_settings(&settings, redis));
        let server = HttpServer::new(move || {
            App::new().app_data(auth.clone()).route(
                PROTECTED_PATH,
                web::get().to(|t: Tenant| async move {
                    HttpResponse::Ok().json(serde_json::json!({ "org_id": t.org_id() }))
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind the probe");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        ProbeService {
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            server: handle,
        }
    }

    /// The status the probe answers `token` with.
    pub async fn status(&self, token: &str) -> u16 {
        self.client
            .get(format!("{}{PROTECTED_PATH}", self.address))
            .bearer_auth(token)
            .send()
            .await
            .expect("probe answers")
            .status()
            .as_u16()
    }
}

impl Drop for ProbeService {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

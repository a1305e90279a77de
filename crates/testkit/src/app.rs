//! `spawn_app::<S>()`: any service on port 0 against its own fresh database, a unique Redis
//! prefix, and the test JWKS server; the server stops and the database is dropped with the app.
//! `address`/`url()` reach the app through the OpenAPI conformance proxy (`crate::conformance`);
//! `port` is the app's own.

use std::collections::HashMap;
use std::sync::Arc;

use runtime::Service;

use crate::auth::{AUDIENCE, ISSUER, SERVICE_AUDIENCE, TestAuth};
use crate::config::{amqp_url, redis_url};
use crate::conformance::{self, Conformance, ConformanceProxy, Mode};
use crate::db::TestDb;

pub struct TestApp<S: Service> {
    /// `http://127.0.0.1:<port>` of the conformance proxy in front of the app (of the app itself
    /// when `OPENAPI_CONFORMANCE=off`).
    pub address: String,
    /// The app's own port (raw-TCP tests bypass the conformance check through it).
    pub port: u16,
    pub client: reqwest::Client,
    pub auth: Arc<TestAuth>,
    pub settings: S::Settings,
    pub redis_prefix: String,
    /// Prefix of this app's exchange and queues on the shared broker.
    pub bus_prefix: String,
    /// `BUS_RETRY_DELAYS_MS` of the app: its retry queues are named by these delays.
    retry_delays_ms: Vec<u64>,
    server: actix_web::dev::ServerHandle,
    proxy: Option<ConformanceProxy>,
    mode: Mode,
    // Declared last: dropped after the server is told to stop.
    pub db: TestDb,
}

impl<S: Service> TestApp<S> {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// What the conformance check saw so far: responses validated, violations (including schema
    /// errors of the document), requests no operation matches.
    pub fn conformance(&self) -> Conformance {
        self.proxy
            .as_ref()
            .and_then(|p| p.report.lock().ok().map(|r| r.clone()))
            .unwrap_or_else(|| Conformance {
                service: S::INFO.name.to_string(),
                ..Conformance::default()
            })
    }
}

impl<S: Service> Drop for TestApp<S> {
    fn drop(&mut self) {
        // `stop` sends the command eagerly; the returned future only waits for completion.
        drop(self.server.stop(false));
        crate::bus_cleanup::delete_prefixed(&self.bus_prefix, &self.retry_delays_ms);
        let Some(proxy) = &self.proxy else { return };
        proxy.stop();
        let report = self.conformance();
        conformance::write_report(&report, self.mode);
        if self.mode == Mode::Enforce && !report.violations.is_empty() && !std::thread::panicking()
        {
            #[allow(clippy::panic)] // failing the test is the point of the check
            {
                panic!("{}", report.describe());
            }
        }
    }
}

/// Spawns service `S` with test defaults.
pub async fn spawn_app<S: Service>() -> TestApp<S> {
    spawn_app_with::<S>(Arc::new(TestAuth::start().await), &[]).await
}

/// Spawns service `S` with the given auth fixture and extra settings (`("KEY", "value")`).
pub async fn spawn_app_with<S: Service>(
    auth: Arc<TestAuth>,
    overrides: &[(&str, &str)],
) -> TestApp<S> {
    // The same telemetry pipeline as the binary (spans, trace ids, redaction); the first call
    // in a process wins, so a test that installs its own capture first keeps it.
    let _ = if crate::config::show_logs() {
        servicekit::telemetry::init_with_writer(S::INFO.name, "info", None, std::io::stderr)
    } else {
        servicekit::telemetry::init_with_writer(S::INFO.name, "info", None, std::io::sink)
    };
    let db = TestDb::new(S::INFO, S::MIGRATIONS)
        .await
        .expect("create test database");
    let redis_prefix = crate::unique_prefix();
    let bus_prefix = format!("{}.", crate::unique_name("app"));
    let mut env: HashMap<String, String> = HashMap::from([
        ("VOXANNE_ENV".into(), "test".into()),
        ("APP_PORT".into(), "0".into()),
        ("HTTP_WORKERS".into(), "1".into()),
        ("DB_POOL_SIZE".into(), "4".into()),
        ("DATABASE_URL".into(), db.service_url()),
        ("MIGRATION_DATABASE_URL".into(), db.owner_url()),
        ("REDIS_URL".into(), redis_url()),
        ("REDIS_PREFIX".into(), redis_prefix.clone()),
        ("AMQP_URL".into(), amqp_url()),
        ("JWKS_URL".into(), auth.jwks_url()),
        ("JWT_ISSUER".into(), ISSUER.into()),
        ("JWT_AUDIENCE".into(), AUDIENCE.into()),
        ("SERVICE_JWT_AUDIENCE".into(), SERVICE_AUDIENCE.into()),
        ("RUST_LOG".into(), "info".into()),
        ("BUS_PREFIX".into(), bus_prefix.clone()),
    ]);
    for (k, v) in overrides {
        env.insert((*k).to_string(), (*v).to_string());
    }
    // A test that shares one exchange between apps (`BUS_PREFIX` override) has them clean up
    // that prefix: the first app dropped deletes the shared queues, the others find none.
    let bus_prefix = env.get("BUS_PREFIX").cloned().unwrap_or(bus_prefix);
    let settings = S::settings(&|k| env.get(k).cloned()).expect("test settings are valid");
    let retry_delays_ms = env
        .get("BUS_RETRY_DELAYS_MS")
        .map_or("1000,10000,60000", String::as_str)
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    let handle = S::build(settings.clone()).await.expect("build app");
    let server = handle.server.handle();
    tokio::spawn(handle.server);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mode = Mode::for_service(S::INFO.name);
    let proxy = if mode == Mode::Off {
        None
    } else {
        let doc = client
            .get(format!("http://127.0.0.1:{}/openapi.json", handle.port))
            .send()
            .await
            .expect("GET /openapi.json")
            .text()
            .await
            .expect("read /openapi.json");
        Some(
            ConformanceProxy::start(S::INFO.name, handle.port, conformance::checked(&doc))
                .expect("start the conformance proxy"),
        )
    };
    TestApp {
        address: format!(
            "http://127.0.0.1:{}",
            proxy.as_ref().map_or(handle.port, |p| p.port)
        ),
        port: handle.port,
        client,
        auth,
        settings,
        redis_prefix,
        bus_prefix,
        retry_delays_ms,
        server,
        proxy,
        mode,
        db,
    }
}

#![allow(clippy::expect_used, clippy::unwrap_used)] // test support: a failed fixture should stop the test loudly
//! Test-only helpers (a dev-dependency of every service): a migrated template database per
//! service built once per test process and a fresh clone per test, a signing key with a JWKS
//! server so tests mint real tokens, unique Redis prefixes and queue names, `spawn_app` for any
//! service on port 0, and wiremock for external providers.
//!
//! Every app `spawn_app` starts is reached through the OpenAPI conformance proxy: each response
//! a test receives is checked against the service's own `/openapi.json` and an app with
//! violations fails its test when dropped (`conformance`, env `OPENAPI_CONFORMANCE`).

pub mod app;
pub mod auth;
pub mod bus_cleanup;
pub mod config;
pub mod conformance;
pub mod db;
pub mod gateway;
pub mod logs;
pub mod probe;
pub mod proxy;

pub use logs::LogCapture;
pub use probe::ProbeService;
pub use proxy::TcpProxy;

pub use app::{TestApp, spawn_app, spawn_app_with};
pub use auth::TestAuth;
pub use db::TestDb;
pub use gateway::Gateway;
pub use wiremock;

/// A Redis key prefix no other test (or test run) uses.
pub fn unique_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

/// An exchange or queue name no other test (or test run) uses.
pub fn unique_name(base: &str) -> String {
    format!(
        "test.{base}.{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// Runs `work` (async cleanup from a `Drop`, which runs inside the test's runtime) on a thread
/// of its own with a current-thread runtime, and waits for it at most `limit`. A cleanup that
/// hangs (a broker or database that stopped answering, a client library blocking in its own
/// channel) is abandoned with a message on stderr instead of hanging the test binary: the
/// leftover database or queue is named by a unique prefix and swept by `make clean-test-dbs`.
pub fn cleanup_bounded<F, Fut>(what: &str, limit: std::time::Duration, work: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("testkit-cleanup".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let _ = tokio::time::timeout(limit, work()).await;
            });
            // Drop the runtime without waiting for tasks a client library left behind.
            rt.shutdown_background();
            let _ = done_tx.send(());
        });
    if spawned.is_ok()
        && done_rx
            .recv_timeout(limit + std::time::Duration::from_secs(2))
            .is_err()
    {
        eprintln!("testkit: cleanup of {what} did not finish within {limit:?}; left behind");
    }
}

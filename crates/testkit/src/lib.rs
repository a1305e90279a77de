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

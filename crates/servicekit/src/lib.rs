//! What every Voxanne service needs to run: typed config from env, telemetry, problem+json
//! errors, /health /ready /metrics /openapi.json, Postgres + Redis pools, AES-256-GCM field
//! encryption and log redaction.

pub mod config;
pub mod crypto;
pub mod cursor;
pub mod db;
pub mod error;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "http")]
pub mod json;
pub mod migrate;
pub mod openapi;
pub mod ops;
pub mod page;
pub mod redact;
pub mod telemetry;

use std::sync::Arc;

pub use secrecy::{ExposeSecret, SecretString};

pub use config::{CommonSettings, ServiceInfo};
pub use error::ApiError;
#[cfg(feature = "http")]
pub use json::Json;

/// The shared infrastructure handles of one service process.
#[derive(Clone)]
pub struct Platform {
    pub pg: db::PgPool,
    pub redis: db::RedisPool,
}

impl Platform {
    /// Builds the pools. Nothing here waits for a dependency: the process starts and `/ready`
    /// reports what is missing.
    pub fn connect(settings: &CommonSettings) -> anyhow::Result<Self> {
        Ok(Platform {
            pg: db::pg_pool(&settings.database_url, settings.db_pool_size)?,
            redis: db::redis_pool(&settings.redis_url, settings.db_pool_size)?,
        })
    }

    pub fn readiness_checks(&self) -> Vec<Arc<dyn ops::ReadinessCheck>> {
        vec![
            Arc::new(db::PgReady(self.pg.clone())),
            Arc::new(db::RedisReady(self.redis.clone())),
        ]
    }
}

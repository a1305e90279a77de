//! Postgres (diesel-async over deadpool) and Redis (deadpool-redis) pools, with the readiness
//! checks for `/ready`. A pool that cannot hand out a connection is `PoolUnavailable` → 503.

use std::time::Duration;

use deadpool::Runtime;
use diesel_async::AsyncPgConnection;
use diesel_async::RunQueryDsl as _;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};

use crate::ops::ReadinessCheck;

pub type PgPool = Pool<AsyncPgConnection>;
pub type PgConn = Object<AsyncPgConnection>;
pub type RedisPool = deadpool_redis::Pool;

#[derive(Debug, thiserror::Error)]
#[error("database pool unavailable: {0}")]
pub struct PoolUnavailable(pub String);

/// Builds the Postgres pool. Connections are made lazily, so a service starts (and reports
/// not-ready) while the database is away.
pub fn pg_pool(url: &SecretString, max_size: usize) -> anyhow::Result<PgPool> {
    let mut cfg = ManagerConfig::default();
    // `Fast`: no test query per checkout (a round trip on every request). A connection returned
    // mid-transaction is still discarded: the pool checks `is_broken()` before any ping.
    cfg.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        url.expose_secret(),
        cfg,
    );
    Ok(Pool::builder(manager)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()?)
}

pub async fn checkout(pool: &PgPool) -> Result<PgConn, PoolUnavailable> {
    pool.get().await.map_err(|e| PoolUnavailable(e.to_string()))
}

pub fn redis_pool(url: &SecretString, max_size: usize) -> anyhow::Result<RedisPool> {
    let mut cfg = deadpool_redis::Config::from_url(url.expose_secret());
    let mut pool_cfg = deadpool_redis::PoolConfig::new(max_size);
    pool_cfg.timeouts.wait = Some(Duration::from_secs(2));
    pool_cfg.timeouts.create = Some(Duration::from_secs(2));
    pool_cfg.timeouts.recycle = Some(Duration::from_secs(2));
    cfg.pool = Some(pool_cfg);
    Ok(cfg.create_pool(Some(Runtime::Tokio1))?)
}

pub struct PgReady(pub PgPool);

impl ReadinessCheck for PgReady {
    fn name(&self) -> &'static str {
        "database"
    }
    fn check(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let Ok(mut conn) = self.0.get().await else {
                return false;
            };
            diesel::sql_query("SELECT 1")
                .execute(&mut conn)
                .await
                .is_ok()
        })
    }
}

pub struct RedisReady(pub RedisPool);

impl ReadinessCheck for RedisReady {
    fn name(&self) -> &'static str {
        "redis"
    }
    fn check(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let Ok(mut conn) = self.0.get().await else {
                return false;
            };
            let pong: Result<String, _> = deadpool_redis::redis::cmd("PING")
                .query_async(&mut conn)
                .await;
            pong.is_ok()
        })
    }
}

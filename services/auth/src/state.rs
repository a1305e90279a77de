//! What every auth handler and use case shares: pools, caches, keys, settings and the SSO
//! providers, built once per process.

use std::sync::Arc;

use servicekit::config::{CommonSettings, JwtSettings};
use servicekit::crypto::KeyRing;
use servicekit::db::{PgPool, RedisPool};
use tenancy::{Db, Revocations};

use crate::clients::oidc::Providers;
use crate::config::AuthSettings;
use crate::core::keys::KeyStore;
use crate::domain::password::{Capacity, Hasher};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub pool: PgPool,
    pub redis: RedisPool,
    pub redis_prefix: String,
    pub keys: Arc<KeyStore>,
    pub ring: KeyRing,
    pub hasher: Hasher,
    pub settings: AuthSettings,
    pub jwt: JwtSettings,
    pub revocations: Revocations,
    pub flags: tenancy::flags::Flags,
    /// SSO providers (Google) with their discovery and JWKS caches.
    pub sso: Providers,
}

impl AppState {
    /// The state of one process from its settings and pools.
    pub fn new(
        db: Db,
        pg: PgPool,
        redis: RedisPool,
        common: &CommonSettings,
        settings: &AuthSettings,
    ) -> anyhow::Result<Self> {
        let hasher = Hasher::new(
            settings.argon2_m_kib,
            settings.argon2_t,
            settings.argon2_p,
            Capacity {
                concurrent: settings.hash_concurrency,
                queue: settings.hash_queue,
                wait: settings.hash_queue_wait,
                reserved: settings.hash_reserved,
            },
        )?;
        Ok(AppState {
            db,
            keys: KeyStore::new(
                pg.clone(),
                common.keys.clone(),
                settings.key_reload,
                settings.access_ttl,
            ),
            pool: pg,
            redis_prefix: common.redis_prefix.clone(),
            ring: common.keys.clone(),
            hasher,
            jwt: common.jwt.clone(),
            revocations: Revocations::new(redis.clone(), common.redis_prefix.clone()),
            flags: tenancy::flags::Flags::new(redis.clone(), common.redis_prefix.clone()),
            sso: Providers::from_settings(settings)?,
            redis,
            settings: settings.clone(),
        })
    }
}

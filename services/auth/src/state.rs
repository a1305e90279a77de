//! What every auth handler shares.

use std::sync::Arc;

use servicekit::config::JwtSettings;
use servicekit::crypto::KeyRing;
use servicekit::db::{PgPool, RedisPool};
use tenancy::{Db, Revocations};

use crate::config::AuthSettings;
use crate::domain::password::Hasher;
use crate::keys::KeyStore;

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
    pub sso: crate::sso::Providers,
}

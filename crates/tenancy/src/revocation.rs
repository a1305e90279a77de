//! Session revocation: the auth service marks a revoked session in Redis, every service checks
//! the mark on each request. Fails closed: when Redis cannot answer, the request is refused.

use std::time::Duration;

use deadpool_redis::redis::AsyncCommands as _;
use servicekit::db::RedisPool;

use crate::ids::SessionId;
use crate::verifier::AuthError;

#[derive(Clone)]
pub struct Revocations {
    pool: RedisPool,
    prefix: String,
}

impl Revocations {
    pub fn new(pool: RedisPool, prefix: impl Into<String>) -> Self {
        Self {
            pool,
            prefix: prefix.into(),
        }
    }

    fn key(&self, session: SessionId) -> String {
        format!("{}revoked:session:{}", self.prefix, session)
    }

    pub async fn is_revoked(&self, session: SessionId) -> Result<bool, AuthError> {
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|e| AuthError::Unavailable(format!("redis: {e}")))?;
        let found: bool = conn
            .exists(self.key(session))
            .await
            .map_err(|e| AuthError::Unavailable(format!("redis: {e}")))?;
        Ok(found)
    }

    /// Marks a session revoked for `ttl` — at least the lifetime of its longest access token.
    pub async fn revoke(&self, session: SessionId, ttl: Duration) -> Result<(), AuthError> {
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|e| AuthError::Unavailable(format!("redis: {e}")))?;
        let () = conn
            .set_ex(self.key(session), 1u8, ttl.as_secs().max(1))
            .await
            .map_err(|e| AuthError::Unavailable(format!("redis: {e}")))?;
        Ok(())
    }
}

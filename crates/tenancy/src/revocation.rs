//! Session revocation: the auth service marks a revoked session in Redis, every service checks
//! the mark on each request. Fails closed: when Redis cannot answer, the request is refused.
//!
//! A "not revoked" answer is remembered for `NOT_REVOKED_TTL` (250 ms) per process, so a busy
//! session costs one Redis round trip per quarter second instead of one per request, while a
//! revocation still takes effect everywhere well within the one second ARCHITECTURE §4 allows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_redis::redis::AsyncCommands as _;
use servicekit::db::RedisPool;

use crate::ids::SessionId;
use crate::verifier::AuthError;

/// How long a "not revoked" answer is trusted without asking Redis again.
pub const NOT_REVOKED_TTL: Duration = Duration::from_millis(250);
/// Remembered sessions per process; past this the memory is simply cleared.
const MAX_REMEMBERED: usize = 100_000;

#[derive(Clone)]
pub struct Revocations {
    pool: RedisPool,
    prefix: String,
    not_revoked: Arc<Mutex<HashMap<SessionId, Instant>>>,
}

impl Revocations {
    pub fn new(pool: RedisPool, prefix: impl Into<String>) -> Self {
        Self {
            pool,
            prefix: prefix.into(),
            not_revoked: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn key(&self, session: SessionId) -> String {
        format!("{}revoked:session:{}", self.prefix, session)
    }

    pub async fn is_revoked(&self, session: SessionId) -> Result<bool, AuthError> {
        if let Ok(seen) = self.not_revoked.lock()
            && seen
                .get(&session)
                .is_some_and(|t| t.elapsed() < NOT_REVOKED_TTL)
        {
            return Ok(false);
        }
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|e| AuthError::Unavailable(format!("redis: {e}")))?;
        let found: bool = conn
            .exists(self.key(session))
            .await
            .map_err(|e| AuthError::Unavailable(format!("redis: {e}")))?;
        if let Ok(mut seen) = self.not_revoked.lock() {
            if found {
                seen.remove(&session);
            } else {
                if seen.len() >= MAX_REMEMBERED {
                    seen.clear();
                }
                seen.insert(session, Instant::now());
            }
        }
        Ok(found)
    }

    /// Marks a session revoked for `ttl` — at least the lifetime of its longest access token.
    pub async fn revoke(&self, session: SessionId, ttl: Duration) -> Result<(), AuthError> {
        if let Ok(mut seen) = self.not_revoked.lock() {
            seen.remove(&session);
        }
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

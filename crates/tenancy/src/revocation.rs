//! Session revocation: the auth service marks a revoked session in Redis, every service checks
//! the mark on each request. Fails closed: when Redis cannot answer, the request is refused.
//!
//! The marks are a cache: the auth service keeps the truth (its sessions table) and rewrites any
//! mark that went missing (`ensure_marked`, ADR 0011), so a Redis restart, an eviction or a
//! mark write that failed after the revocation committed is repaired within a second.
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

    /// Rewrites the marks that are missing among `marks` (sessions revoked recently, each with
    /// how long its mark must still live): after a Redis restart, an eviction or a lost write.
    /// Returns how many marks were written.
    pub async fn ensure_marked(&self, marks: &[(SessionId, Duration)]) -> Result<usize, AuthError> {
        if marks.is_empty() {
            return Ok(0);
        }
        let unavailable =
            |e: deadpool_redis::redis::RedisError| AuthError::Unavailable(format!("redis: {e}"));
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|e| AuthError::Unavailable(format!("redis: {e}")))?;
        let mut written = 0;
        for chunk in marks.chunks(500) {
            let mut check = deadpool_redis::redis::pipe();
            for (session, _) in chunk {
                check.exists(self.key(*session));
            }
            let present: Vec<bool> = check.query_async(&mut conn).await.map_err(unavailable)?;
            let mut write = deadpool_redis::redis::pipe();
            let mut missing = Vec::new();
            for ((session, ttl), found) in chunk.iter().zip(present) {
                if !found {
                    write
                        .set_ex(self.key(*session), 1u8, ttl.as_secs().max(1))
                        .ignore();
                    missing.push(*session);
                }
            }
            if missing.is_empty() {
                continue;
            }
            let () = write.query_async(&mut conn).await.map_err(unavailable)?;
            if let Ok(mut seen) = self.not_revoked.lock() {
                for s in &missing {
                    seen.remove(s);
                }
            }
            written += missing.len();
        }
        Ok(written)
    }
}

//! Abuse limits counted in Redis: fixed windows keyed by what is limited (an account, an IP,
//! an MFA factor). A key's TTL is the window; `Retry-After` is what is left of it.

use deadpool_redis::redis::AsyncCommands as _;
use servicekit::ApiError;
use std::time::Duration;

use crate::state::AppState;

pub struct Limit<'a> {
    pub scope: &'static str,
    pub subject: &'a str,
    pub max: u32,
    pub window: Duration,
}

impl AppState {
    fn limit_key(&self, scope: &str, subject: &str) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, subject.as_bytes());
        let short: String = digest.as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{}limit:{scope}:{short}", self.redis_prefix)
    }

    /// `Some(retry_after)` when the limit is already reached.
    pub async fn limit_reached(&self, l: &Limit<'_>) -> Result<Option<u64>, ApiError> {
        let mut conn = self
            .redis
            .get()
            .await
            .map_err(|e| ApiError::unavailable("redis_unavailable", e))?;
        let key = self.limit_key(l.scope, l.subject);
        let count: Option<u32> = conn
            .get(&key)
            .await
            .map_err(|e| ApiError::unavailable("redis_unavailable", e))?;
        if count.unwrap_or(0) >= l.max {
            let ttl: i64 = conn
                .ttl(&key)
                .await
                .map_err(|e| ApiError::unavailable("redis_unavailable", e))?;
            return Ok(Some(ttl.max(1) as u64));
        }
        Ok(None)
    }

    /// Counts one event against the limit.
    pub async fn limit_hit(&self, l: &Limit<'_>) -> Result<u32, ApiError> {
        let mut conn = self
            .redis
            .get()
            .await
            .map_err(|e| ApiError::unavailable("redis_unavailable", e))?;
        let key = self.limit_key(l.scope, l.subject);
        let (count,): (u32,) = deadpool_redis::redis::pipe()
            .atomic()
            .incr(&key, 1u32)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(l.window.as_secs().max(1))
            .arg("NX")
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(|e| ApiError::unavailable("redis_unavailable", e))?;
        Ok(count)
    }

    pub async fn limit_reset(&self, l: &Limit<'_>) -> Result<(), ApiError> {
        let mut conn = self
            .redis
            .get()
            .await
            .map_err(|e| ApiError::unavailable("redis_unavailable", e))?;
        let () = conn
            .del(self.limit_key(l.scope, l.subject))
            .await
            .map_err(|e| ApiError::unavailable("redis_unavailable", e))?;
        Ok(())
    }
}

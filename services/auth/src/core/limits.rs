//! Abuse limits counted in Redis: fixed windows keyed by what is limited (an account, an IP,
//! an MFA factor). A key's TTL is the window; `Retry-After` is what is left of it.
//! `limit_take` counts an attempt atomically *before* the work it guards (argon2, a TOTP
//! check), so parallel requests cannot all pass a check made before any of them counted;
//! `limit_refund` gives the attempt back when it turned out not to be a failure.

use std::time::Duration;

use deadpool_redis::redis::AsyncCommands as _;

use crate::core::infra::Infra;
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
        let short: String = digest
            .as_ref()
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{}limit:{scope}:{short}", self.redis_prefix)
    }

    /// Counts one attempt and answers whether it may go ahead: `Ok(Taken { refused: Some(..) })`
    /// when this attempt is over the limit (it stays counted). Atomic (one Lua script): of N
    /// parallel attempts at most `max` go ahead.
    pub async fn limit_take(&self, l: &Limit<'_>) -> Result<Taken, Infra> {
        let mut conn = self.redis.get().await.map_err(Infra::redis)?;
        let key = self.limit_key(l.scope, l.subject);
        let (count, ttl): (u32, i64) = deadpool_redis::redis::cmd("EVAL")
            .arg(TAKE)
            .arg(1)
            .arg(&key)
            .arg(l.window.as_secs().max(1))
            .query_async(&mut conn)
            .await
            .map_err(Infra::redis)?;
        let refused = (count > l.max).then(|| u64::try_from(ttl.max(1)).unwrap_or(1));
        Ok(Taken {
            refused,
            first_refusal: count == l.max.saturating_add(1),
        })
    }

    /// Gives back one attempt `limit_take` counted (it was not a failure after all).
    pub async fn limit_refund(&self, l: &Limit<'_>) -> Result<(), Infra> {
        let mut conn = self.redis.get().await.map_err(Infra::redis)?;
        let key = self.limit_key(l.scope, l.subject);
        let _: i64 = deadpool_redis::redis::cmd("EVAL")
            .arg(REFUND)
            .arg(1)
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(Infra::redis)?;
        Ok(())
    }

    pub async fn limit_reset(&self, l: &Limit<'_>) -> Result<(), Infra> {
        let mut conn = self.redis.get().await.map_err(Infra::redis)?;
        let () = conn
            .del(self.limit_key(l.scope, l.subject))
            .await
            .map_err(Infra::redis)?;
        Ok(())
    }
}

/// What `limit_take` decided.
#[derive(Debug, Clone, Copy)]
pub struct Taken {
    /// `Some(retry_after_secs)`: over the limit, do not go ahead.
    pub refused: Option<u64>,
    /// This attempt is the first one over the limit (audit the lockout once, not per attempt).
    pub first_refusal: bool,
}

/// INCR, start the window on the first attempt, and answer the count with the window's rest.
const TAKE: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return {n, redis.call('TTL', KEYS[1])}
";

/// DECR, never below zero, and never creating the key.
const REFUND: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0
";

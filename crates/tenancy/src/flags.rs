//! Feature flags as every service reads them: the auth service evaluates an org's effective
//! flags and caches them in Redis (`{prefix}flags:{org}`, tagged with the global generation
//! `{prefix}flags:gen` so a change to a global flag invalidates every org at once). A service
//! reads the cache; a miss (`None`) means "ask auth or use your default".

use std::collections::BTreeMap;

use deadpool_redis::redis::AsyncCommands as _;
use serde::{Deserialize, Serialize};
use servicekit::db::RedisPool;
use uuid::Uuid;

use crate::ids::OrgId;

/// How long an org's evaluated flags stay cached.
pub const CACHE_TTL_SECS: u64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cached {
    pub generation: i64,
    pub flags: BTreeMap<String, bool>,
}

/// The deterministic rollout bucket (0..100) of `org` for `key`: the same org always lands in
/// the same bucket, and raising the percentage only ever adds orgs.
pub fn bucket(key: &str, org: Uuid) -> u8 {
    let mut input = key.as_bytes().to_vec();
    input.push(b':');
    input.extend_from_slice(org.as_bytes());
    let d = ring::digest::digest(&ring::digest::SHA256, &input);
    let n = u32::from_be_bytes([d.as_ref()[0], d.as_ref()[1], d.as_ref()[2], d.as_ref()[3]]);
    u8::try_from(n % 100).unwrap_or(u8::MAX) // n % 100 < 100 always fits
}

/// Effective value: the org's override, else on for orgs inside the rollout, else the default.
pub fn evaluate(
    key: &str,
    org: Uuid,
    default_enabled: bool,
    rollout_percent: u8,
    over: Option<bool>,
) -> bool {
    over.unwrap_or_else(|| default_enabled || bucket(key, org) < rollout_percent)
}

#[derive(Clone)]
pub struct Flags {
    redis: RedisPool,
    prefix: String,
}

impl Flags {
    pub fn new(redis: RedisPool, prefix: impl Into<String>) -> Self {
        Flags {
            redis,
            prefix: prefix.into(),
        }
    }

    fn org_key(&self, org: OrgId) -> String {
        format!("{}flags:{}", self.prefix, org)
    }

    fn gen_key(&self) -> String {
        format!("{}flags:gen", self.prefix)
    }

    pub async fn generation(&self) -> anyhow::Result<i64> {
        let mut c = self.redis.get().await?;
        let g: Option<i64> = c.get(self.gen_key()).await?;
        Ok(g.unwrap_or(0))
    }

    /// Marks every cached org stale (after a global flag changed).
    pub async fn bump_generation(&self) -> anyhow::Result<i64> {
        let mut c = self.redis.get().await?;
        Ok(c.incr(self.gen_key(), 1i64).await?)
    }

    pub async fn store(&self, org: OrgId, cached: &Cached) -> anyhow::Result<()> {
        let mut c = self.redis.get().await?;
        let () = c
            .set_ex(
                self.org_key(org),
                serde_json::to_string(cached)?,
                CACHE_TTL_SECS,
            )
            .await?;
        Ok(())
    }

    /// The org's effective flags, when cached and current.
    pub async fn effective(&self, org: OrgId) -> anyhow::Result<Option<BTreeMap<String, bool>>> {
        let mut c = self.redis.get().await?;
        let (raw, generation): (Option<String>, Option<i64>) = deadpool_redis::redis::pipe()
            .get(self.org_key(org))
            .get(self.gen_key())
            .query_async(&mut c)
            .await?;
        let Some(raw) = raw else { return Ok(None) };
        let cached: Cached = serde_json::from_str(&raw)?;
        Ok((cached.generation == generation.unwrap_or(0)).then_some(cached.flags))
    }

    /// One flag: `Some(value)` when the org's flags are cached and current.
    pub async fn is_enabled(&self, org: OrgId, key: &str) -> anyhow::Result<Option<bool>> {
        Ok(self
            .effective(org)
            .await?
            .map(|f| f.get(key).copied().unwrap_or(false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_is_deterministic_and_monotonic() {
        let orgs: Vec<Uuid> = (0..2000u128)
            .map(|i| Uuid::from_u128(i * 7919 + 1))
            .collect();
        let on = |p: u8| {
            orgs.iter()
                .filter(|o| evaluate("new_dashboard", **o, false, p, None))
                .count()
        };
        assert_eq!(on(0), 0);
        assert_eq!(on(100), orgs.len());
        let half = on(50);
        assert!((800..=1200).contains(&half), "{half} of 2000 at 50%");
        for o in &orgs {
            assert_eq!(bucket("new_dashboard", *o), bucket("new_dashboard", *o));
            if evaluate("new_dashboard", *o, false, 20, None) {
                assert!(
                    evaluate("new_dashboard", *o, false, 40, None),
                    "raising the rollout keeps orgs in"
                );
            }
        }
        assert!(
            !evaluate("k", orgs[0], true, 100, Some(false)),
            "an override wins"
        );
        assert!(evaluate("k", orgs[0], false, 0, Some(true)));
    }
}

//! Feature flags: an org's effective values (written to the Redis cache other services read,
//! `tenancy::flags`), overrides by its admins (audited), and the operator's global definitions.

use std::collections::BTreeMap;

use chrono::Utc;
use serde_json::json;
use servicekit::db::{PgPool, checkout};
use tenancy::flags::{Cached, Flags, evaluate};
use tenancy::{OrgId, UserId};

use crate::core::infra::{Infra, infra_from};
use crate::state::AppState;
use crate::store::audit::{self, Origin};
use crate::store::flags::{self, Flag};

#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    #[error("flag not found")]
    NotFound,
    #[error(transparent)]
    Infra(#[from] Infra),
}
infra_from!(FlagError);

/// Evaluates `org`'s flags from the database and refreshes the cache.
pub async fn evaluate_and_cache(
    st: &AppState,
    org: OrgId,
) -> Result<BTreeMap<String, bool>, Infra> {
    // Read the generation first: a global change after this point makes the entry stale, never wrong.
    let generation = st.flags.generation().await.map_err(Infra::Redis)?;
    let (defs, overrides) = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                Ok::<_, Infra>((flags::all(c).await?, flags::overrides(c, org).await?))
            })
        })
        .await?;
    let effective: BTreeMap<String, bool> = defs
        .iter()
        .map(|f| {
            (
                f.key.clone(),
                evaluate(
                    &f.key,
                    org.0,
                    f.default_enabled,
                    u8::try_from(f.rollout_percent.clamp(0, 100)).unwrap_or(0),
                    overrides.get(&f.key).copied(),
                ),
            )
        })
        .collect();
    st.flags
        .store(
            org,
            &Cached {
                generation,
                flags: effective.clone(),
            },
        )
        .await
        .map_err(Infra::Redis)?;
    Ok(effective)
}

/// Pins `key` for `org` (`Some`) or returns it to the global rule (`None`); returns the org's
/// effective flags.
pub async fn set_override(
    st: &AppState,
    org: OrgId,
    actor: UserId,
    key: String,
    enabled: Option<bool>,
    origin: &Origin,
) -> Result<BTreeMap<String, bool>, FlagError> {
    let origin = origin.clone();
    st.db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                if !flags::exists(c, &key).await? {
                    return Err(FlagError::NotFound);
                }
                flags::set_override(c, org, &key, enabled, actor).await?;
                audit::record(
                    c,
                    org,
                    Some(actor),
                    "flag.override_changed",
                    Some(key.clone()),
                    json!({"enabled": enabled}),
                    &origin,
                )
                .await?;
                Ok::<_, FlagError>(())
            })
        })
        .await?;
    Ok(evaluate_and_cache(st, org).await?)
}

/// Every global flag definition (the `auth flags list` command).
pub async fn definitions(pool: &PgPool) -> anyhow::Result<Vec<Flag>> {
    let mut conn = checkout(pool).await?;
    Ok(flags::all(&mut conn).await?)
}

/// A change to a global definition (`None`: unchanged).
#[derive(Debug, Default)]
pub struct Definition {
    pub default_enabled: Option<bool>,
    pub rollout_percent: Option<i16>,
    pub description: Option<String>,
}

/// Creates or changes the global definition of `key` (the `auth flags set` command); every
/// org's cached flags become stale.
pub async fn define(
    pool: &PgPool,
    cache: &Flags,
    key: &str,
    change: Definition,
) -> anyhow::Result<Flag> {
    let mut conn = checkout(pool).await?;
    let existing = flags::all(&mut conn)
        .await?
        .into_iter()
        .find(|f| f.key == key);
    let mut flag = existing.unwrap_or(Flag {
        key: key.to_string(),
        description: String::new(),
        default_enabled: false,
        rollout_percent: 0,
        updated_at: Utc::now(),
    });
    if let Some(d) = change.default_enabled {
        flag.default_enabled = d;
    }
    if let Some(p) = change.rollout_percent {
        anyhow::ensure!((0..=100).contains(&p), "--rollout takes 0 to 100");
        flag.rollout_percent = p;
    }
    if let Some(d) = change.description {
        flag.description = d;
    }
    flag.updated_at = Utc::now();
    flags::upsert(&mut conn, &flag).await?;
    cache.bump_generation().await?;
    tracing::info!(key = %flag.key, default = flag.default_enabled, rollout = flag.rollout_percent, "feature flag set");
    Ok(flag)
}

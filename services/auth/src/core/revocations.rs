//! Durable revocation (ADR 0011): the sessions table is the truth about revoked sessions; the
//! Redis marks every service checks are a cache of it. `sync` rewrites every mark that should
//! exist and does not (Redis restarted, evicted a key, or a mark write failed after the
//! revocation committed); the `revocation_sync` worker runs it every
//! `AUTH_REVOCATION_SYNC_MS`. `republish_of_user` is the retry path: a revocation retried
//! after its database part committed writes its marks again.

use std::time::Duration;

use chrono::Utc;
use tenancy::UserId;

use crate::core::infra::Infra;
use crate::state::AppState;
use crate::store::sessions::{self, Which};

impl AppState {
    /// How long a revocation mark must live: an access token's lifetime plus the verifier's
    /// leeway. A session revoked longer ago than this has no live token left.
    pub fn mark_ttl(&self) -> Duration {
        self.settings.access_ttl + Duration::from_secs(120)
    }

    /// The start of the window in which revocations (and org switches) still matter.
    pub fn mark_window_start(&self) -> chrono::DateTime<Utc> {
        Utc::now()
            - chrono::Duration::from_std(self.mark_ttl()).unwrap_or(chrono::Duration::hours(1))
    }
}

/// Rewrites the missing marks of every session revoked within the mark window; returns how
/// many were missing.
pub async fn sync(st: &AppState) -> Result<usize, Infra> {
    let since = st.mark_window_start();
    let revoked = st
        .db
        .system_tx(|c| {
            Box::pin(async move { Ok::<_, Infra>(sessions::revoked_since(c, since).await?) })
        })
        .await?;
    let ttl = chrono::Duration::from_std(st.mark_ttl()).unwrap_or(chrono::Duration::hours(1));
    let now = Utc::now();
    let marks: Vec<_> = revoked
        .into_iter()
        .map(|(id, at)| {
            let left = (at + ttl - now).to_std().unwrap_or(Duration::from_secs(1));
            (id.into(), left)
        })
        .collect();
    Ok(st.revocations.ensure_marked(&marks).await?)
}

/// Writes the marks of `user`'s sessions matching `which` that were revoked within the mark
/// window (a retried logout or revocation whose database part had already committed).
pub async fn republish_of_user(st: &AppState, user: UserId, which: Which) -> Result<(), Infra> {
    let since = st.mark_window_start();
    let ids = st
        .db
        .system_tx(|c| {
            Box::pin(async move {
                Ok::<_, Infra>(sessions::revoked_of_user_since(c, user, which, since).await?)
            })
        })
        .await?;
    st.publish_revocations(&ids).await
}

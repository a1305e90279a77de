//! The caller's own sessions (one per device): listing, revoking one, and logging out of this
//! device, the others or all; revoked sessions go to the shared revocation set (again on a
//! retry, see ADR 0011).

use serde_json::json;
use tenancy::{OrgId, UserId};
use uuid::Uuid;

use crate::core::infra::{Infra, infra_from};
use crate::core::revocations;
use crate::state::AppState;
use crate::store::audit::{self, Origin};
use crate::store::sessions::{self, Session, Which};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Not a live session of the caller (another user's id looks unknown too).
    #[error("session not found")]
    NotFound,
    #[error(transparent)]
    Infra(#[from] Infra),
}
infra_from!(SessionError);

/// Which sessions a logout ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutScope {
    /// This device's session.
    Local,
    /// Every other session of the user.
    Others,
    /// Every session of the user.
    Global,
}

impl LogoutScope {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "local" => Some(LogoutScope::Local),
            "others" => Some(LogoutScope::Others),
            "global" => Some(LogoutScope::Global),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogoutScope::Local => "local",
            LogoutScope::Others => "others",
            LogoutScope::Global => "global",
        }
    }
}

/// The user's live sessions, newest first.
pub async fn list(st: &AppState, user: UserId) -> Result<Vec<Session>, Infra> {
    st.db
        .system_tx(|c| {
            Box::pin(async move { Ok::<_, Infra>(sessions::live_of_user(c, user).await?) })
        })
        .await
}

/// Revokes one of the user's own sessions (audited in `org`). An id already revoked is still
/// `NotFound`, but its mark is written again first: the retry of a revocation whose database
/// part committed while Redis failed must not leave the token working.
pub async fn revoke(
    st: &AppState,
    org: OrgId,
    user: UserId,
    id: Uuid,
    origin: &Origin,
) -> Result<(), SessionError> {
    let origin = origin.clone();
    let ids = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                // Only the caller's own sessions: another user's id looks unknown.
                let ids = sessions::revoke(c, user, Which::One(id), "revoked_by_user").await?;
                if ids.is_empty() {
                    return Ok(ids);
                }
                audit::record(
                    c,
                    org,
                    Some(user),
                    "session.revoked",
                    Some(id.to_string()),
                    json!({}),
                    &origin,
                )
                .await?;
                Ok::<_, SessionError>(ids)
            })
        })
        .await?;
    if ids.is_empty() {
        revocations::republish_of_user(st, user, Which::One(id)).await?;
        return Err(SessionError::NotFound);
    }
    st.publish_revocations(&ids).await?;
    Ok(())
}

/// Ends the sessions `scope` names, from the session `current`.
pub async fn logout(
    st: &AppState,
    org: OrgId,
    user: UserId,
    current: Uuid,
    scope: LogoutScope,
    origin: &Origin,
) -> Result<(), Infra> {
    let which = match scope {
        LogoutScope::Local => Which::One(current),
        LogoutScope::Others => Which::AllBut(current),
        LogoutScope::Global => Which::All,
    };
    let origin = origin.clone();
    let ids = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                let ids = sessions::revoke(c, user, which, "logout").await?;
                audit::record(
                    c,
                    org,
                    Some(user),
                    "logout",
                    Some(current.to_string()),
                    json!({"scope": scope.as_str(), "sessions": ids.len()}),
                    &origin,
                )
                .await?;
                Ok::<_, Infra>(ids)
            })
        })
        .await?;
    st.publish_revocations(&ids).await?;
    // A retried logout finds its sessions already revoked: their marks are written again.
    revocations::republish_of_user(st, user, which).await
}

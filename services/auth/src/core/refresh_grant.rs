//! The `refresh_token` grant: the presented token rotates (a reuse outside the grace interval
//! ends the session, audited), the org's inactivity timeout ends an idle session, and the
//! session may switch to another org the user belongs to.

use chrono::Utc;
use serde_json::json;
use tenancy::OrgId;
use uuid::Uuid;

use crate::core::infra::{Infra, infra_from};
use crate::core::tokens::org_claim;
use crate::domain::refresh::{Presented, RefreshToken, classify};
use crate::domain::tokens::{OrgClaim, TokenResponse};
use crate::state::AppState;
use crate::store::accounts::{self, User};
use crate::store::audit::{self, Origin};
use crate::store::sessions::{self, Session, Which};

#[derive(Debug, thiserror::Error)]
pub enum RefreshGrantError {
    #[error("refresh token is invalid")]
    InvalidToken,
    #[error("the session has ended; log in again")]
    SessionRevoked,
    #[error("the session has expired; log in again")]
    SessionExpired,
    /// The org's inactivity timeout ended the session just now.
    #[error("the session was inactive for too long; log in again")]
    Inactive,
    /// A rotated token was presented again: the session has been ended.
    #[error("this refresh token was already used; the session has been ended")]
    AlreadyUsed,
    #[error("you are not an active member of that organization")]
    NotAMember,
    #[error(transparent)]
    Infra(#[from] Infra),
}
infra_from!(RefreshGrantError);

#[derive(Debug)]
pub struct RefreshGrant {
    pub refresh_token: String,
    /// Switch the session to another org the user belongs to.
    pub org_id: Option<OrgId>,
}

enum Outcome {
    Issue(Box<(User, Session)>, i64, Option<OrgClaim>),
    Reused(Vec<Uuid>),
    Idle(Vec<Uuid>),
}

pub async fn refresh_grant(
    st: &AppState,
    g: RefreshGrant,
    origin: &Origin,
) -> Result<TokenResponse, RefreshGrantError> {
    use RefreshGrantError as E;
    let (presented, raw) = RefreshToken::parse(&g.refresh_token).ok_or(E::InvalidToken)?;
    let grace = chrono::Duration::from_std(st.settings.refresh_grace).unwrap_or_default();
    let st2 = st.clone();
    let origin2 = origin.clone();
    let outcome = st
        .db
        .system_tx(|c| Box::pin(async move {
            let st = st2;
            let Some(session) = sessions::lock(c, presented.session_id).await? else {
                return Err(E::InvalidToken);
            };
            let key = st.session_key(&session)?;
            if !RefreshToken::verify(&raw, &key) {
                return Err(E::InvalidToken);
            }
            if session.revoked_at.is_some() {
                return Err(E::SessionRevoked);
            }
            let now = Utc::now();
            if session.not_after.is_some_and(|t| t <= now) {
                return Err(E::SessionExpired);
            }
            let Some(user) = accounts::user_by_id(c, session.user_id).await? else {
                return Err(E::InvalidToken);
            };
            let within = now - session.refreshed_at <= grace;
            let counter = match classify(presented.counter, session.refresh_counter, within) {
                Presented::Forged => return Err(E::InvalidToken),
                Presented::Reused => {
                    let ids = sessions::revoke(c, session.user_id, Which::One(session.id), "refresh_token_reused").await?;
                    if let Some(org) = session.org_id {
                        tenancy::set_tenant(c, org).await?;
                        audit::record(c, org, Some(user.id), "refresh.reuse_detected", Some(session.id.to_string()), json!({"presented": presented.counter, "current": session.refresh_counter}), &origin2).await?;
                    }
                    return Ok(Outcome::Reused(ids));
                }
                Presented::JustRotated => session.refresh_counter,
                Presented::Current => session.refresh_counter + 1,
            };
            // Org: the requested one (org switch), else the session's, checked against live memberships.
            crate::store::set_user(c, user.id).await?;
            let memberships = accounts::memberships_of(c, user.id).await?;
            // The org's inactivity timeout: a session idle longer than that ends.
            let idle_limit = memberships
                .iter()
                .find(|(m, _)| Some(m.org_id) == session.org_id)
                .and_then(|(_, o)| o.inactivity_timeout_secs);
            if let Some(limit) = idle_limit
                && now - session.refreshed_at > chrono::Duration::seconds(limit.into())
            {
                let ids = sessions::revoke(c, user.id, Which::One(session.id), "inactivity_timeout").await?;
                if let Some(org) = session.org_id {
                    tenancy::set_tenant(c, org).await?;
                    audit::record(c, org, Some(user.id), "session.revoked", Some(session.id.to_string()), json!({"reason": "inactivity_timeout", "limit_secs": limit}), &origin2).await?;
                }
                return Ok(Outcome::Idle(ids));
            }
            let wanted = if counter == session.refresh_counter { session.org_id } else { g.org_id.or(session.org_id) };
            let org = match wanted {
                Some(id) => match memberships.iter().find(|(m, _)| m.org_id == id) {
                    Some((m, o)) => Some(org_claim(m, o)),
                    None if g.org_id == Some(id) => return Err(E::NotAMember),
                    None => None,
                },
                None => None,
            };
            if counter != session.refresh_counter {
                sessions::rotated(c, session.id, counter, org.map(|o| o.id)).await?;
            }
            Ok(Outcome::Issue(Box::new((user, session)), counter, org))
        }))
        .await?;
    match outcome {
        Outcome::Issue(found, counter, org) => {
            Ok(st.token_pair(&found.0, &found.1, counter, org).await?)
        }
        Outcome::Idle(ids) => {
            st.publish_revocations(&ids).await?;
            Err(E::Inactive)
        }
        Outcome::Reused(ids) => {
            st.publish_revocations(&ids).await?;
            metrics::counter!("auth_refresh_reuse_total").increment(1);
            tracing::warn!(sessions = ?ids, "refresh token reuse: session revoked");
            Err(E::AlreadyUsed)
        }
    }
}

//! The caller's own profile: reading it with their orgs, changing the display name, changing
//! the password (which needs the current one and ends every other session), and stepping up
//! by password. The current-password check is limited and audited like a login.

use serde_json::json;
use tenancy::{OrgId, UserId};
use uuid::Uuid;

use crate::core::audit::record_in;
use crate::core::infra::{Infra, infra_from};
use crate::core::limits::Limit;
use crate::core::reauth::{self, ReauthError};
use crate::domain::tokens::TokenResponse;
use crate::domain::{org, password};
use crate::state::AppState;
use crate::store::accounts::{self, Membership, Org, User};
use crate::store::audit::{self, Origin};
use crate::store::sessions::{self, Which};

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("user not found")]
    NotFound,
    #[error("changing the password requires the current password")]
    CurrentPasswordMissing,
    #[error("{0}")]
    WeakPassword(&'static str),
    #[error("the current password is incorrect")]
    WrongCurrentPassword,
    #[error("too many requests")]
    RateLimited { retry_after: u64 },
    /// GoTrue's reauthentication nonce was wrong, used or expired (`core::reauth`).
    #[error("the reauthentication nonce is invalid, already used or expired; request a new one")]
    InvalidNonce,
    #[error(transparent)]
    Infra(#[from] Infra),
}
infra_from!(ProfileError);

/// The user and their active memberships.
pub async fn get(
    st: &AppState,
    user: UserId,
) -> Result<(User, Vec<(Membership, Org)>), ProfileError> {
    crate::store::user_tx(&st.pool, user, |c| {
        Box::pin(async move {
            let found = accounts::user_by_id(c, user)
                .await?
                .ok_or(ProfileError::NotFound)?;
            let ms = accounts::memberships_of(c, user).await?;
            Ok::<_, ProfileError>((found, ms))
        })
    })
    .await
}

/// Checks the caller's current password like a login: the same per-account limit, counted
/// before argon2; a wrong one is audited as `failed_action` in `org`.
async fn check_current_password(
    st: &AppState,
    user: UserId,
    org: OrgId,
    given: String,
    failed_action: &'static str,
    origin: &Origin,
) -> Result<(), ProfileError> {
    let found = st
        .db
        .system_tx(|c| {
            Box::pin(async move { Ok::<_, Infra>(accounts::user_by_id(c, user).await?) })
        })
        .await?
        .ok_or(ProfileError::NotFound)?;
    let per_account = Limit {
        scope: "login_account",
        subject: &found.email_normalized,
        max: st.settings.login_max_failures,
        window: st.settings.login_window,
    };
    if let Some(retry_after) = st.limit_take(&per_account).await?.refused {
        return Err(ProfileError::RateLimited { retry_after });
    }
    let ok = match st
        .hasher
        .verify(
            crate::domain::password::Class::Other,
            given,
            found.password_hash,
        )
        .await
    {
        Ok(ok) => ok,
        Err(e) => {
            st.limit_refund(&per_account).await?;
            return Err(Infra::from(e).into());
        }
    };
    if !ok {
        metrics::counter!("auth_password_check_failures_total").increment(1);
        record_in(
            st,
            org,
            user,
            failed_action,
            user.to_string(),
            json!({}),
            origin,
        )
        .await?;
        return Err(ProfileError::WrongCurrentPassword);
    }
    st.limit_reset(&per_account).await?;
    Ok(())
}

/// Step-up by password: the caller proves the password again and session `current` records a
/// fresh `password` authentication; returns the session's new tokens. (A user with a factor
/// steps up by verifying it: `mfa::verify`.)
pub async fn reauthenticate(
    st: &AppState,
    user: UserId,
    org: OrgId,
    current: Uuid,
    password: String,
    origin: &Origin,
) -> Result<TokenResponse, ProfileError> {
    check_current_password(st, user, org, password, "reauthentication.failed", origin).await?;
    let session = st
        .db
        .system_tx(|c| {
            Box::pin(async move {
                Ok::<_, Infra>(sessions::record_authentication(c, current, "password").await?)
            })
        })
        .await?;
    record_in(
        st,
        org,
        user,
        "reauthenticated",
        current.to_string(),
        json!({"method": "password"}),
        origin,
    )
    .await?;
    Ok(st.session_pair(&session).await?)
}

/// A profile change (`display_name`: `None` unchanged, `Some(None)` cleared).
#[derive(Debug, Default)]
pub struct Change {
    pub display_name: Option<Option<String>>,
    pub password: Option<String>,
    pub current_password: Option<String>,
    /// GoTrue's `data`: merged into `user_metadata` (`null` removes a key).
    pub user_metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// GoTrue's reauthentication nonce (`GET /api/auth/reauthenticate`): stands in for the
    /// current password of a password change.
    pub nonce: Option<String>,
}

/// Applies `change` for the user of session `current` acting in `org`.
pub async fn update(
    st: &AppState,
    user: UserId,
    org: OrgId,
    current: Uuid,
    change: Change,
    origin: &Origin,
) -> Result<(), ProfileError> {
    let mut new_hash = None;
    if let Some(pw) = change.password {
        if change.nonce.is_none() && change.current_password.is_none() {
            return Err(ProfileError::CurrentPasswordMissing);
        }
        password::check_policy(&pw).map_err(ProfileError::WeakPassword)?;
        match (change.nonce, change.current_password) {
            (Some(nonce), _) => reauth::use_nonce(st, user, &nonce)
                .await
                .map_err(|e| match e {
                    ReauthError::InvalidNonce => ProfileError::InvalidNonce,
                    ReauthError::RateLimited { retry_after } => {
                        ProfileError::RateLimited { retry_after }
                    }
                    ReauthError::Infra(i) => ProfileError::Infra(i),
                })?,
            (None, Some(given)) => {
                check_current_password(st, user, org, given, "password.change_failed", origin)
                    .await?;
            }
            (None, None) => return Err(ProfileError::CurrentPasswordMissing),
        }
        new_hash = Some(st.hasher.hash(pw).await.map_err(Infra::from)?);
    }
    let display_name = change
        .display_name
        .map(|o| o.map(|d| org::display_name(&d)));
    let changed_password = new_hash.is_some();
    let metadata = change.user_metadata;
    let origin = origin.clone();
    let revoked = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                accounts::update_profile(c, user, display_name, new_hash).await?;
                if let Some(patch) = &metadata {
                    accounts::merge_user_metadata(c, user, patch).await?;
                }
                let mut revoked = Vec::new();
                if changed_password {
                    revoked = sessions::revoke(c, user, Which::AllBut(current), "password_changed")
                        .await?;
                    audit::record(
                        c,
                        org,
                        Some(user),
                        "password.changed",
                        Some(user.to_string()),
                        json!({"sessions_revoked": revoked.len()}),
                        &origin,
                    )
                    .await?;
                }
                Ok::<_, Infra>(revoked)
            })
        })
        .await?;
    st.publish_revocations(&revoked).await?;
    Ok(())
}

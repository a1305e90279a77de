//! The `password` grant: email and password, limited per account and per IP (every attempt is
//! counted before argon2 runs, a success gives it back; failures are audited), a hash made with
//! weaker argon2 settings is redone, then a new session in the requested org or the user's
//! first.

use serde_json::json;
use tenancy::OrgId;

use crate::core::audit;
use crate::core::infra::{Infra, infra_from};
use crate::core::limits::Limit;
use crate::core::tokens::org_claim;
use crate::domain::password::Class;
use crate::domain::tokens::TokenResponse;
use crate::state::AppState;
use crate::store::accounts;
use crate::store::audit::Origin;
use crate::store::sessions;

#[derive(Debug, thiserror::Error)]
pub enum PasswordGrantError {
    #[error("too many requests")]
    RateLimited { retry_after: u64 },
    #[error("email or password is incorrect")]
    InvalidCredentials,
    #[error("you are not an active member of that organization")]
    NotAMember,
    #[error(transparent)]
    Infra(#[from] Infra),
}
infra_from!(PasswordGrantError);

#[derive(Debug)]
pub struct PasswordGrant {
    pub email: String,
    pub password: String,
    pub org_id: Option<OrgId>,
}

pub async fn password_grant(
    st: &AppState,
    g: PasswordGrant,
    origin: &Origin,
) -> Result<TokenResponse, PasswordGrantError> {
    // Under a flood, shed before the database, Redis or argon2 do anything for this request.
    if st.hasher.saturated(Class::Login) {
        return Err(Infra::HashingBusy.into());
    }
    let normalized = g.email.trim().to_lowercase();
    let ip = origin.ip.clone().unwrap_or_default();
    let per_account = Limit {
        scope: "login_account",
        subject: &normalized,
        max: st.settings.login_max_failures,
        window: st.settings.login_window,
    };
    let per_ip = Limit {
        scope: "login_ip",
        subject: &ip,
        max: st.settings.ip_max_failures,
        window: st.settings.login_window,
    };
    let user = {
        let n = normalized.clone();
        st.db
            .system_tx(|c| {
                Box::pin(async move { Ok::<_, Infra>(accounts::user_by_email(c, &n).await?) })
            })
            .await?
    };
    // Count before the work (argon2): parallel attempts cannot all pass a check that none of
    // them had counted yet. A success gives its attempts back.
    let account = st.limit_take(&per_account).await?;
    let taken = match account.refused {
        Some(retry_after) => Some((&per_account, account, retry_after)),
        None => {
            let ip_taken = st.limit_take(&per_ip).await?;
            match ip_taken.refused {
                Some(retry_after) => {
                    st.limit_refund(&per_account).await?;
                    Some((&per_ip, ip_taken, retry_after))
                }
                None => None,
            }
        }
    };
    if let Some((limit, taken, retry_after)) = taken {
        metrics::counter!("auth_login_rate_limited_total", "scope" => limit.scope).increment(1);
        // Audited when the lock starts, not for every refused attempt of a flood.
        if let (Some(u), true) = (&user, taken.first_refusal) {
            audit::record_for_user(
                st,
                u.id,
                "login.rate_limited",
                json!({"scope": limit.scope}),
                origin,
            )
            .await?;
        }
        return Err(PasswordGrantError::RateLimited { retry_after });
    }
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let ok = match st
        .hasher
        .verify(Class::Login, g.password.clone(), stored.clone())
        .await
    {
        Ok(ok) => ok,
        Err(e) => {
            // Shed (or failed) before any password was checked: not an attempt.
            st.limit_refund(&per_account).await?;
            st.limit_refund(&per_ip).await?;
            return Err(Infra::from(e).into());
        }
    };
    let known = user.as_ref().map(|u| u.id);
    // With signup confirmation on, an account whose email was never confirmed cannot log in,
    // and says so exactly like a wrong password: otherwise "sign up as victim@, then log in
    // with my password" would tell whether the signup created the account (the confirmation
    // link, a password reset or Google sign-in confirm it).
    let unconfirmed = st.settings.signup_confirm_email
        && user.as_ref().is_some_and(|u| u.email_verified_at.is_none());
    if ok && unconfirmed {
        metrics::counter!("auth_login_unconfirmed_total").increment(1);
    }
    let Some(user) = user.filter(|_| ok && !unconfirmed) else {
        metrics::counter!("auth_login_failures_total").increment(1);
        if let Some(id) = known {
            audit::record_for_user(st, id, "login.failed", json!({}), origin).await?;
        }
        return Err(PasswordGrantError::InvalidCredentials);
    };
    st.limit_reset(&per_account).await?;
    st.limit_refund(&per_ip).await?;
    if stored.as_deref().is_some_and(|h| st.hasher.needs_rehash(h)) {
        rehash(st, &user, g.password).await;
    }
    let memberships = {
        let uid = user.id;
        crate::store::user_tx(&st.pool, uid, |c| {
            Box::pin(async move { Ok::<_, Infra>(accounts::memberships_of(c, uid).await?) })
        })
        .await?
    };
    let chosen = match g.org_id {
        Some(id) => Some(
            memberships
                .iter()
                .find(|(m, _)| m.org_id == id)
                .ok_or(PasswordGrantError::NotAMember)?,
        ),
        None => memberships.first(),
    };
    let lifetime = chosen.and_then(|(_, o)| o.session_lifetime_secs);
    let org = chosen.map(|(m, o)| org_claim(m, o));
    let session = st.new_session(user.id, org.map(|o| o.id), "password", origin, lifetime)?;
    {
        let session = session.clone();
        let origin = origin.clone();
        let uid = user.id;
        st.db
            .system_tx(|c| {
                Box::pin(async move {
                    sessions::insert(c, &session).await?;
                    if let Some(org) = org {
                        tenancy::set_tenant(c, org.id).await?;
                        crate::store::audit::record(
                            c,
                            org.id,
                            Some(uid),
                            "login",
                            Some(session.id.to_string()),
                            json!({"method": "password"}),
                            &origin,
                        )
                        .await?;
                    }
                    Ok::<_, Infra>(())
                })
            })
            .await?;
    }
    Ok(st.token_pair(&user, &session, 0, org).await?)
}

/// Stores the password again with today's argon2 settings (the stored hash was made with
/// weaker ones). Best effort: the login goes on even when this fails or is shed.
async fn rehash(st: &AppState, user: &accounts::User, password: String) {
    let uid = user.id;
    let old = user.password_hash.clone();
    let new = match st.hasher.hash(password).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "password rehash skipped");
            return;
        }
    };
    let done = st
        .db
        .system_tx(|c| {
            Box::pin(async move {
                Ok::<_, Infra>(accounts::replace_password_hash(c, uid, old.as_deref(), &new).await?)
            })
        })
        .await;
    match done {
        Ok(n) => {
            metrics::counter!("auth_password_rehashed_total").increment(1);
            tracing::info!(user = %uid, rows = n, "password rehashed with the current argon2 settings");
        }
        Err(e) => tracing::warn!(error = %e, "password rehash not stored"),
    }
}

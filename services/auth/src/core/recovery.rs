//! Password reset and email verification: single-use, expiring tokens, stored hashed, mailed
//! through the mail outbox. Asking for a reset never tells whether the email is registered.

use chrono::Utc;
use diesel_async::AsyncPgConnection;
use serde_json::json;
use tenancy::UserId;

use crate::core::audit;
use crate::core::infra::{Infra, infra_from};
use crate::core::limits::Limit;
use crate::core::tokens::org_claim;
use crate::domain::tokens::TokenResponse;
use crate::domain::{password, secret};
use crate::state::AppState;
use crate::store::accounts;
use crate::store::audit::Origin;
use crate::store::email_tokens::{self, Purpose};
use crate::store::mail_outbox;
use crate::store::sessions::{self, Which};

pub const VERIFY_EMAIL_TTL_HOURS: i64 = 24;

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("too many requests")]
    RateLimited { retry_after: u64 },
    #[error("a new password is required")]
    PasswordMissing,
    #[error("{0}")]
    WeakPassword(&'static str),
    /// Unknown, used or expired.
    #[error("the link is invalid, already used or expired")]
    InvalidToken,
    #[error(transparent)]
    Infra(#[from] Infra),
}
infra_from!(RecoveryError);

/// Queues a verification mail for `user`; call inside a transaction.
pub async fn queue_verification(
    c: &mut AsyncPgConnection,
    public_url: &str,
    user: UserId,
    email: &str,
) -> diesel::QueryResult<()> {
    let token = secret::new_token();
    email_tokens::insert_email_token(
        c,
        user,
        Purpose::VerifyEmail,
        &secret::token_hash(&token),
        chrono::Duration::hours(VERIFY_EMAIL_TTL_HOURS),
    )
    .await?;
    let link = format!("{public_url}/verify-email#token={token}");
    mail_outbox::queue_mail(c, email, "verify_email", "Confirm your email for Voxanne", &format!("Confirm your email address: {link}\n\nThe link expires in {VERIFY_EMAIL_TTL_HOURS} hours.")).await?;
    Ok(())
}

/// Mails a reset link when `email` is registered (limited per IP); says nothing either way.
pub async fn request_reset(
    st: &AppState,
    email: &str,
    origin: &Origin,
) -> Result<(), RecoveryError> {
    let ip = origin.ip.clone().unwrap_or_default();
    let per_ip = Limit {
        scope: "reset_ip",
        subject: &ip,
        max: st.settings.reset_per_ip_per_hour,
        window: std::time::Duration::from_secs(3600),
    };
    if let Some(retry_after) = st.limit_take(&per_ip).await?.refused {
        metrics::counter!("auth_rate_limited_total", "scope" => "reset_ip").increment(1);
        tracing::warn!(scope = "reset_ip", "password reset requests rate limited");
        return Err(RecoveryError::RateLimited { retry_after });
    }
    let normalized = email.trim().to_lowercase();
    let ttl =
        chrono::Duration::from_std(st.settings.reset_ttl).unwrap_or(chrono::Duration::hours(1));
    let public = st.settings.public_url.clone();
    let user = st
        .db
        .system_tx(|c| Box::pin(async move {
            let Some(user) = accounts::user_by_email(c, &normalized).await? else {
                return Ok::<_, Infra>(None);
            };
            let token = secret::new_token();
            email_tokens::insert_email_token(c, user.id, Purpose::Recovery, &secret::token_hash(&token), ttl).await?;
            let link = format!("{public}/reset-password#token={token}");
            mail_outbox::queue_mail(c, &user.email, "recovery", "Reset your Voxanne password", &format!("Someone asked to reset your password. If it was you: {link}\n\nThe link expires at {}. If it was not you, ignore this mail.", Utc::now() + ttl)).await?;
            Ok(Some(user.id))
        }))
        .await?;
    if let Some(uid) = user {
        audit::record_for_user(st, uid, "password.reset_requested", json!({}), origin).await?;
    }
    Ok(())
}

/// Sets a new password with a reset token; every session of the user ends, a login lockout is
/// lifted. Returns the user and how many sessions ended.
pub async fn reset_password(
    st: &AppState,
    token: &str,
    password: Option<String>,
    origin: &Origin,
) -> Result<(UserId, usize), RecoveryError> {
    let hash = secret::token_hash(token.trim());
    let pw = password.ok_or(RecoveryError::PasswordMissing)?;
    password::check_policy(&pw).map_err(RecoveryError::WeakPassword)?;
    let new_hash = st.hasher.hash(pw).await.map_err(Infra::from)?;
    let (uid, revoked) = st
        .db
        .system_tx(|c| {
            Box::pin(async move {
                let uid = email_tokens::use_email_token(c, Purpose::Recovery, &hash)
                    .await?
                    .ok_or(RecoveryError::InvalidToken)?;
                accounts::update_profile(c, uid, None, Some(new_hash)).await?;
                // The mail proved the address.
                accounts::mark_email_verified(c, uid).await?;
                let revoked = sessions::revoke(c, uid, Which::All, "password_reset").await?;
                Ok::<_, RecoveryError>((uid, revoked))
            })
        })
        .await?;
    st.publish_revocations(&revoked).await?;
    let normalized = st
        .db
        .system_tx(|c| Box::pin(async move { Ok::<_, Infra>(accounts::user_by_id(c, uid).await?) }))
        .await?
        .map(|u| u.email_normalized);
    if let Some(n) = normalized {
        // A successful reset lifts a login lockout.
        st.limit_reset(&Limit {
            scope: "login_account",
            subject: &n,
            max: 0,
            window: std::time::Duration::ZERO,
        })
        .await?;
    }
    audit::record_in_each_org(st, uid, "password.reset", json!({}), origin).await?;
    Ok((uid, revoked.len()))
}

/// Marks the email of the token's user verified; returns the user.
pub async fn verify_email(
    st: &AppState,
    token: &str,
    origin: &Origin,
) -> Result<UserId, RecoveryError> {
    let hash = secret::token_hash(token.trim());
    let uid = st
        .db
        .system_tx(|c| {
            Box::pin(async move {
                let uid = email_tokens::use_email_token(c, Purpose::VerifyEmail, &hash)
                    .await?
                    .ok_or(RecoveryError::InvalidToken)?;
                accounts::mark_email_verified(c, uid).await?;
                Ok::<_, RecoveryError>(uid)
            })
        })
        .await?;
    audit::record_in_each_org(st, uid, "email.verified", json!({}), origin).await?;
    Ok(uid)
}

/// A session for `uid` after a mailed link proved the address (GoTrue's `POST /verify` answers
/// one): in the user's first org, like a password login; `method` is its `amr` and the
/// audited login's method. A user with a factor gets an aal1 session, as after a password.
pub async fn link_session(
    st: &AppState,
    uid: UserId,
    method: &'static str,
    origin: &Origin,
) -> Result<TokenResponse, RecoveryError> {
    let (user, memberships) = crate::store::user_tx(&st.pool, uid, |c| {
        Box::pin(async move {
            let user = accounts::user_by_id(c, uid)
                .await?
                .ok_or(Infra::Gone("user"))?;
            let ms = accounts::memberships_of(c, uid).await?;
            Ok::<_, Infra>((user, ms))
        })
    })
    .await?;
    let chosen = memberships.first();
    let lifetime = chosen.and_then(|(_, o)| o.session_lifetime_secs);
    let org = chosen.map(|(m, o)| org_claim(m, o));
    let session = st.new_session(uid, org.map(|o| o.id), method, origin, lifetime)?;
    {
        let session = session.clone();
        let origin = origin.clone();
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
                            json!({"method": method}),
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

/// GoTrue's `POST /resend {type: signup, email}`: mails a new confirmation link when `email`
/// is registered and not yet verified (limited per IP like reset requests); says nothing
/// either way.
pub async fn resend_verification(
    st: &AppState,
    email: &str,
    origin: &Origin,
) -> Result<(), RecoveryError> {
    let ip = origin.ip.clone().unwrap_or_default();
    let per_ip = Limit {
        scope: "resend_ip",
        subject: &ip,
        max: st.settings.reset_per_ip_per_hour,
        window: std::time::Duration::from_secs(3600),
    };
    if let Some(retry_after) = st.limit_take(&per_ip).await?.refused {
        metrics::counter!("auth_rate_limited_total", "scope" => "resend_ip").increment(1);
        return Err(RecoveryError::RateLimited { retry_after });
    }
    let normalized = email.trim().to_lowercase();
    let public = st.settings.public_url.clone();
    let user = st
        .db
        .system_tx(|c| {
            Box::pin(async move {
                let Some(user) = accounts::user_by_email(c, &normalized).await? else {
                    return Ok::<_, Infra>(None);
                };
                if user.email_verified_at.is_some() {
                    return Ok(None);
                }
                queue_verification(c, &public, user.id, &user.email).await?;
                Ok(Some(user.id))
            })
        })
        .await?;
    if let Some(uid) = user {
        audit::record_for_user(st, uid, "email.verification_resent", json!({}), origin).await?;
    }
    Ok(())
}

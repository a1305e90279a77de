//! GoTrue's reauthentication (ADR 0018): `GET /api/auth/reauthenticate` mails the signed-in user
//! a six-digit nonce; `PUT /api/auth/user {password, nonce}` accepts it once, within
//! `NONCE_TTL_MINUTES`, instead of the current password and the recent sign-in a password change
//! otherwise needs (a user with a factor still needs an aal2 session). A wrong nonce spends the
//! live one, so each mail allows one guess; mails are limited per user.

use serde_json::json;
use tenancy::UserId;

use crate::core::audit;
use crate::core::infra::{Infra, infra_from};
use crate::core::limits::Limit;
use crate::domain::secret;
use crate::state::AppState;
use crate::store::accounts;
use crate::store::audit::Origin;
use crate::store::email_tokens::{self, Purpose};
use crate::store::mail_outbox;

/// How long a mailed nonce is good for.
pub const NONCE_TTL_MINUTES: i64 = 10;
/// Nonces mailed per user per hour.
pub const NONCES_PER_HOUR: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ReauthError {
    #[error("too many requests")]
    RateLimited { retry_after: u64 },
    /// Unknown, used, expired or another user's.
    #[error("the reauthentication nonce is invalid, already used or expired; request a new one")]
    InvalidNonce,
    #[error(transparent)]
    Infra(#[from] Infra),
}
infra_from!(ReauthError);

/// The stored hash: the nonce is short, so it is hashed with its user (no cross-user match).
fn nonce_hash(user: UserId, nonce: &str) -> Vec<u8> {
    secret::token_hash(&format!("{user}:{}", nonce.trim()))
}

/// Mails `user` a new nonce (replacing any earlier one).
pub async fn send_nonce(st: &AppState, user: UserId, origin: &Origin) -> Result<(), ReauthError> {
    let subject = user.to_string();
    let per_user = Limit {
        scope: "reauth_nonce",
        subject: &subject,
        max: NONCES_PER_HOUR,
        window: std::time::Duration::from_secs(3600),
    };
    if let Some(retry_after) = st.limit_take(&per_user).await?.refused {
        metrics::counter!("auth_rate_limited_total", "scope" => "reauth_nonce").increment(1);
        return Err(ReauthError::RateLimited { retry_after });
    }
    let nonce = format!("{:06}", rand::random::<u32>() % 1_000_000);
    let hash = nonce_hash(user, &nonce);
    st.db
        .system_tx(|c| {
            Box::pin(async move {
                let u = accounts::user_by_id(c, user)
                    .await?
                    .ok_or(Infra::Gone("user"))?;
                email_tokens::replace_user_token(
                    c,
                    user,
                    Purpose::Reauthentication,
                    &hash,
                    chrono::Duration::minutes(NONCE_TTL_MINUTES),
                )
                .await?;
                mail_outbox::queue_mail(
                    c,
                    &u.email,
                    "reauthentication",
                    "Your Voxanne confirmation code",
                    &format!(
                        "Your confirmation code: {nonce}\n\nEnter it to confirm the change to your account. It expires in {NONCE_TTL_MINUTES} minutes. If you did not ask for it, change your password."
                    ),
                )
                .await?;
                Ok::<_, Infra>(())
            })
        })
        .await?;
    audit::record_for_user(st, user, "reauthentication.requested", json!({}), origin).await?;
    Ok(())
}

/// Uses `user`'s live nonce; a wrong one spends it.
pub async fn use_nonce(st: &AppState, user: UserId, nonce: &str) -> Result<(), ReauthError> {
    let hash = nonce_hash(user, nonce);
    let ok = st
        .db
        .system_tx(|c| {
            Box::pin(async move {
                Ok::<_, Infra>(
                    email_tokens::use_user_token(c, user, Purpose::Reauthentication, &hash).await?,
                )
            })
        })
        .await?;
    if ok {
        Ok(())
    } else {
        metrics::counter!("auth_reauth_nonce_refused_total").increment(1);
        Err(ReauthError::InvalidNonce)
    }
}

//! Password reset and email verification: single-use, expiring tokens, stored hashed, mailed
//! through the mail outbox. Asking for a reset never tells whether the email is registered.

use actix_web::{HttpRequest, HttpResponse, post, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use servicekit::{ApiError, Json};
use uuid::Uuid;

use crate::domain::password;
use crate::limits::Limit;
use crate::routes::members::token_hash;
use crate::routes::origin;
use crate::state::AppState;
use crate::store::accounts;
use crate::store::audit::Origin;
use crate::store::members;
use crate::store::sessions::{self, Which};

pub const VERIFY_EMAIL_TTL_HOURS: i64 = 24;

fn new_token() -> String {
    B64.encode(rand::random::<[u8; 32]>())
}

/// Queues a verification mail for `user`; call inside a transaction.
pub async fn queue_verification(
    c: &mut diesel_async::AsyncPgConnection,
    st: &AppState,
    user: Uuid,
    email: &str,
) -> Result<(), ApiError> {
    let token = new_token();
    members::insert_email_token(
        c,
        user,
        "verify_email",
        &token_hash(&token),
        chrono::Duration::hours(VERIFY_EMAIL_TTL_HOURS),
    )
    .await?;
    let link = format!("{}/verify-email#token={token}", st.settings.public_url);
    members::queue_mail(c, email, "verify_email", "Confirm your email for Voxanne", &format!("Confirm your email address: {link}\n\nThe link expires in {VERIFY_EMAIL_TTL_HOURS} hours.")).await?;
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recover {
    pub email: String,
}

/// `POST /api/auth/recover`: always 202; a registered email gets a reset link.
#[utoipa::path(post, path = "/api/auth/recover", request_body = Recover, responses((status = 202), (status = 429)))]
#[post("/api/auth/recover")]
pub async fn recover(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: Json<Recover>,
) -> Result<HttpResponse, ApiError> {
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let ip = origin.ip.clone().unwrap_or_default();
    let per_ip = Limit {
        scope: "reset_ip",
        subject: &ip,
        max: st.settings.reset_per_ip_per_hour,
        window: std::time::Duration::from_secs(3600),
    };
    if let Some(retry) = st.limit_reached(&per_ip).await? {
        metrics::counter!("auth_rate_limited_total", "scope" => "reset_ip").increment(1);
        tracing::warn!(scope = "reset_ip", "password reset requests rate limited");
        return Err(ApiError::TooManyRequests {
            retry_after_secs: retry,
        });
    }
    st.limit_hit(&per_ip).await?;
    let normalized = body.email.trim().to_lowercase();
    let ttl =
        chrono::Duration::from_std(st.settings.reset_ttl).unwrap_or(chrono::Duration::hours(1));
    let public = st.settings.public_url.clone();
    let user = st
        .db
        .system_tx(|c| Box::pin(async move {
            let Some(user) = accounts::user_by_email(c, &normalized).await? else {
                return Ok::<_, ApiError>(None);
            };
            let token = new_token();
            members::insert_email_token(c, user.id, "recovery", &token_hash(&token), ttl).await?;
            let link = format!("{public}/reset-password#token={token}");
            members::queue_mail(c, &user.email, "recovery", "Reset your Voxanne password", &format!("Someone asked to reset your password. If it was you: {link}\n\nThe link expires at {}. If it was not you, ignore this mail.", Utc::now() + ttl)).await?;
            Ok(Some(user.id))
        }))
        .await?;
    if let Some(uid) = user {
        audit(&st, uid, "password.reset_requested", &origin).await?;
    }
    Ok(HttpResponse::Accepted()
        .json(json!({"message": "if the address is registered, a reset link is on its way"})))
}

async fn audit(
    st: &AppState,
    uid: Uuid,
    action: &'static str,
    origin: &Origin,
) -> Result<(), ApiError> {
    crate::routes::account::audit_user(st, uid, action, json!({}), origin).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyToken {
    /// `recovery` (with `password`) or `email`.
    #[serde(rename = "type")]
    pub kind: String,
    pub token: String,
    pub password: Option<String>,
}

/// `POST /api/auth/verify`: uses a mailed token. A password reset ends every session of the user.
#[utoipa::path(post, path = "/api/auth/verify", request_body = VerifyToken, responses((status = 200), (status = 400), (status = 422)))]
#[post("/api/auth/verify")]
pub async fn verify(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: Json<VerifyToken>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let hash = token_hash(body.token.trim());
    let invalid = || ApiError::BadRequest {
        code: "invalid_or_expired_token",
        detail: "the link is invalid, already used or expired".into(),
    };
    match body.kind.as_str() {
        "recovery" => {
            let pw = body.password.ok_or_else(|| {
                ApiError::invalid(
                    "missing_field",
                    Some("password"),
                    "a new password is required",
                )
            })?;
            password::check_policy(&pw)
                .map_err(|m| ApiError::invalid("weak_password", Some("password"), m))?;
            let new_hash = st.hasher.hash(pw).await.map_err(ApiError::internal)?;
            let (uid, revoked) = st
                .db
                .system_tx(|c| {
                    Box::pin(async move {
                        let uid = members::use_email_token(c, "recovery", &hash)
                            .await?
                            .ok_or_else(invalid)?;
                        accounts::update_profile(c, uid, None, Some(new_hash)).await?;
                        // The mail proved the address.
                        accounts::mark_email_verified(c, uid).await?;
                        let revoked =
                            sessions::revoke(c, uid, Which::All, "password_reset").await?;
                        Ok::<_, ApiError>((uid, revoked))
                    })
                })
                .await?;
            st.publish_revocations(&revoked).await?;
            let normalized = st
                .db
                .system_tx(|c| {
                    Box::pin(async move { Ok::<_, ApiError>(accounts::user_by_id(c, uid).await?) })
                })
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
            audit(&st, uid, "password.reset", &origin).await?;
            Ok(HttpResponse::Ok().json(json!({"message": "password changed; every session was ended, log in again", "sessions_ended": revoked.len()})))
        }
        "email" => {
            let uid = st
                .db
                .system_tx(|c| {
                    Box::pin(async move {
                        let uid = members::use_email_token(c, "verify_email", &hash)
                            .await?
                            .ok_or_else(invalid)?;
                        accounts::mark_email_verified(c, uid).await?;
                        Ok::<_, ApiError>(uid)
                    })
                })
                .await?;
            audit(&st, uid, "email.verified", &origin).await?;
            Ok(HttpResponse::Ok().json(json!({"email_verified": true})))
        }
        other => Err(ApiError::invalid(
            "invalid_field",
            Some("type"),
            format!("type {other:?} is not recovery or email"),
        )),
    }
}

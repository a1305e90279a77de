//! Password reset and email verification: `POST /api/auth/recover` (always 202; a registered
//! email gets a reset link) and `POST /api/auth/verify` (uses a mailed token).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use servicekit::{ApiError, Json};

use crate::core::recovery;
use crate::routes::problem::gotrue;
use crate::routes::problem::origin;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recover {
    pub email: String,
}

/// A message for the person, nothing else.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Message {
    pub message: &'static str,
}

/// What a used token did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Verified {
    /// `recovery`: the password changed and every session ended.
    PasswordReset {
        message: &'static str,
        sessions_ended: usize,
    },
    /// `email`: the address is verified.
    EmailVerified { email_verified: bool },
}

/// `POST /api/auth/recover`: always 202; a registered email gets a reset link.
#[utoipa::path(post, path = "/api/auth/recover", operation_id = "recover", request_body = Recover,
    responses((status = 202, description = "a reset link is mailed if the address is registered", body = Message),
              (status = 200, description = "GoTrue dialect (`X-Supabase-Api-Version`): `{}` — the same, as GoTrue answers it", body = Empty),
              (status = 429, description = "rate_limited: too many reset requests from this IP")))]
pub async fn recover(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let go = gotrue::requested(&req);
    let r = async {
        // GoTrue clients also send `gotrue_meta_security` and `code_challenge*`: ignored.
        let email = if go {
            gotrue::req_str(&gotrue::object(body.into_inner())?, "email")?
        } else {
            let raw = serde_json::to_vec(&body.into_inner()).map_err(ApiError::internal)?;
            servicekit::json::parse::<Recover>(&raw)?.email
        };
        let origin = origin(&req, st.settings.trust_forwarded_for);
        recovery::request_reset(&st, &email, &origin).await?;
        Ok(if go {
            HttpResponse::Ok().json(Empty {})
        } else {
            HttpResponse::Accepted().json(Message {
                message: "if the address is registered, a reset link is on its way",
            })
        })
    };
    gotrue::answer(go, r.await)
}

/// `{}` (GoTrue's answer to `/recover`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Empty {}

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
#[utoipa::path(post, path = "/api/auth/verify", operation_id = "verify_token", request_body = VerifyToken,
    responses((status = 200, description = "the token was used", body = Verified),
              (status = 400, description = "invalid_or_expired_token"),
              (status = 422, description = "invalid_field (type), missing_field (password) or weak_password")))]
pub async fn verify(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: Json<VerifyToken>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let origin = origin(&req, st.settings.trust_forwarded_for);
    match body.kind.as_str() {
        "recovery" => {
            let ended = recovery::reset_password(&st, &body.token, body.password, &origin).await?;
            Ok(HttpResponse::Ok().json(Verified::PasswordReset {
                message: "password changed; every session was ended, log in again",
                sessions_ended: ended,
            }))
        }
        "email" => {
            recovery::verify_email(&st, &body.token, &origin).await?;
            Ok(HttpResponse::Ok().json(Verified::EmailVerified {
                email_verified: true,
            }))
        }
        other => Err(ApiError::invalid(
            "invalid_field",
            Some("type"),
            format!("type {other:?} is not recovery or email"),
        )),
    }
}

//! Password reset and email verification: `POST /api/auth/recover` (always 202; a registered
//! email gets a reset link) and `POST /api/auth/verify` (uses a mailed token).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use servicekit::{ApiError, Json};

use crate::core::recovery;
use crate::domain::tokens::TokenResponse;
use crate::routes::problem::gotrue::{self, Empty};
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
    /// GoTrue dialect (`X-Supabase-Api-Version`): the session GoTrue answers.
    Session(Box<TokenResponse>),
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
///
/// GoTrue dialect (`X-Supabase-Api-Version`): `{type, token_hash}` (or `token`; `email` is
/// ignored: our mailed tokens name their user). `signup`/`email` verify the address and answer
/// a session (amr `otp`); `recovery` needs the new `password` in the same body (a recovery
/// session that changes the password later is not offered: 400 `validation_failed` without
/// it), ends every session and answers a new one (amr `password`); a bad token is 403
/// `otp_expired`; other types are 400 `validation_failed`.
#[utoipa::path(post, path = "/api/auth/verify", operation_id = "verify_token", request_body = VerifyToken,
    responses((status = 200, description = "the token was used (GoTrue dialect: a session)", body = Verified),
              (status = 400, description = "invalid_or_expired_token; GoTrue dialect: validation_failed (type, missing token or password)"),
              (status = 403, description = "GoTrue dialect: otp_expired (the token is unknown, used or expired)"),
              (status = 422, description = "invalid_field (type), missing_field (password) or weak_password"),
              (status = 429, description = "rate_limited")))]
pub async fn verify(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let go = gotrue::requested(&req);
    if go {
        return gotrue::answer(true, gotrue_verify(&st, &req, body.into_inner()).await);
    }
    let raw = serde_json::to_vec(&body.into_inner()).map_err(ApiError::internal)?;
    let body: VerifyToken = servicekit::json::parse(&raw)?;
    let origin = origin(&req, st.settings.trust_forwarded_for);
    match body.kind.as_str() {
        "recovery" => {
            let (_, ended) =
                recovery::reset_password(&st, &body.token, body.password, &origin).await?;
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

/// GoTrue's `POST /verify` body (unknown fields such as `gotrue_meta_security`, `options`,
/// `email`, `redirect_to` ignored).
async fn gotrue_verify(
    st: &AppState,
    req: &HttpRequest,
    body: serde_json::Value,
) -> Result<HttpResponse, ApiError> {
    let m = gotrue::object(body)?;
    let kind = gotrue::req_str(&m, "type")?;
    let token = match gotrue::opt_str(&m, "token_hash")? {
        Some(t) if !t.is_empty() => t,
        _ => gotrue::req_str(&m, "token")?,
    };
    let origin = origin(req, st.settings.trust_forwarded_for);
    let session = match kind.as_str() {
        "signup" | "email" => {
            let uid = recovery::verify_email(st, &token, &origin).await?;
            recovery::link_session(st, uid, "otp", &origin).await?
        }
        "recovery" => {
            let password = gotrue::opt_str(&m, "password")?.ok_or_else(|| {
                ApiError::invalid(
                    "missing_field",
                    Some("password"),
                    "type recovery needs the new `password` in the same request (a recovery session is not offered)",
                )
            })?;
            let (uid, _) = recovery::reset_password(st, &token, Some(password), &origin).await?;
            recovery::link_session(st, uid, "password", &origin).await?
        }
        other => {
            return Err(ApiError::invalid(
                "invalid_field",
                Some("type"),
                format!("type {other:?} is not offered; use signup, email or recovery"),
            ));
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(Verified::Session(Box::new(session))))
}

/// GoTrue's `POST /resend` body (documentation: the handler reads GoTrue's fields leniently).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Resend {
    /// `signup` (the only type offered).
    #[serde(rename = "type")]
    pub kind: String,
    pub email: String,
}

/// GoTrue's `POST /api/auth/resend {type: "signup", email}`: a new confirmation link for a
/// registered, unverified email; `{}` either way. Other types: 400 `validation_failed`.
#[utoipa::path(post, path = "/api/auth/resend", operation_id = "gotrue_resend", request_body = Resend,
    responses((status = 200, description = "`{}`: a confirmation link is mailed if the address is registered and unverified", body = Empty),
              (status = 400, description = "validation_failed: type is not signup, or email is missing"),
              (status = 429, description = "rate_limited: too many requests from this IP")))]
pub async fn resend(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let r = async {
        let m = gotrue::object(body.into_inner())?;
        let kind = gotrue::req_str(&m, "type")?;
        if kind != "signup" {
            return Err(ApiError::invalid(
                "invalid_field",
                Some("type"),
                format!("type {kind:?} is not offered; only signup"),
            ));
        }
        let email = gotrue::req_str(&m, "email")?;
        let origin = origin(&req, st.settings.trust_forwarded_for);
        recovery::resend_verification(&st, &email, &origin).await?;
        Ok(HttpResponse::Ok().json(Empty {}))
    };
    // The route exists only for GoTrue clients: GoTrue's errors with or without the header.
    gotrue::answer(true, r.await)
}

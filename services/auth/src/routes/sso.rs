//! Google SSO over HTTP: `GET /api/auth/authorize` sends the browser to the provider (setting
//! the browser-binding cookie); `GET /api/auth/callback` checks the state and returns to
//! `redirect_to` with the tokens, or the error, in the fragment, as GoTrue does.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use reqwest::Url;
use serde::Deserialize;
use servicekit::ApiError;

use crate::clients::oidc::SsoError;
use crate::core::sso_sign_in::{self, FLOW_TTL_SECS, PkceChallenge, SignInError};
use crate::domain::oidc::form_encode;
use crate::routes::problem::origin;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct AuthorizeQuery {
    pub provider: String,
    pub redirect_to: String,
    /// An invitation token (`POST /api/orgs/{id}/invitations`): the sign-in joins that org.
    pub invitation: Option<String>,
    /// A GoTrue client's PKCE sign-in (`flowType: "pkce"`): `redirect_to` gets `?code=`, which
    /// `POST /api/auth/token?grant_type=pkce` exchanges with the verifier.
    pub code_challenge: Option<String>,
    /// `s256` or `plain`.
    pub code_challenge_method: Option<String>,
}

/// The cookie binding a sign-in to the browser that started it.
const BINDING_COOKIE: &str = "voxanne_sso";

/// `Set-Cookie` for the binding (`max_age` 0 clears it): only sent to our callback, not to
/// scripts, and along with the provider's top-level redirect back (`SameSite=Lax`).
fn binding_cookie(st: &AppState, value: &str, max_age: u64) -> String {
    let ours = Url::parse(&st.settings.sso_callback_url).ok();
    let path = ours
        .as_ref()
        .map(|u| u.path().to_string())
        .unwrap_or_else(|| "/".into());
    let secure = if ours.is_some_and(|u| u.scheme() == "https") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{BINDING_COOKIE}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    )
}

/// The binding cookie the request carries, if any.
fn binding_of(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == BINDING_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// `GET /api/auth/authorize?provider=google&redirect_to=…` → 302 to the provider.
#[utoipa::path(get, path = "/api/auth/authorize", operation_id = "sso_authorize",
    params(("provider" = String, Query), ("redirect_to" = String, Query),
           ("invitation" = Option<String>, Query, description = "an invitation token: the sign-in joins its org"),
           ("code_challenge" = Option<String>, Query, description = "GoTrue PKCE: the client's challenge (43-128 characters); redirect_to then gets `?code=` for `POST /api/auth/token?grant_type=pkce`"),
           ("code_challenge_method" = Option<String>, Query, description = "`s256` or `plain` (with code_challenge)")),
    responses((status = 302, description = "to the provider's authorization endpoint"),
              (status = 400, description = "unknown_provider, provider_disabled, redirect_not_allowed or validation_failed (code_challenge / code_challenge_method)"),
              (status = 422, description = "invalid_field: invitation is not an invitation token"),
              (status = 429, description = "rate_limited: too many sign-ins started from this IP"),
              (status = 503, description = "the provider's discovery document is unavailable")))]
pub async fn authorize(
    st: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<AuthorizeQuery>,
) -> Result<HttpResponse, ApiError> {
    let ip = origin(&req, st.settings.trust_forwarded_for)
        .ip
        .unwrap_or_default();
    let pkce = PkceChallenge::parse(
        q.code_challenge.as_deref(),
        q.code_challenge_method.as_deref(),
    )
    .map_err(sso_sign_in::AuthorizeError::from)?;
    let started = sso_sign_in::authorize(
        &st,
        &q.provider,
        &q.redirect_to,
        q.invitation.as_deref(),
        pkce,
        &ip,
    )
    .await?;
    Ok(HttpResponse::Found()
        .insert_header((LOCATION, started.url.as_str()))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((
            SET_COOKIE,
            binding_cookie(&st, &started.binding, FLOW_TTL_SECS),
        ))
        .finish())
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// The provider's refusal (RFC 6749 §4.1.2.1), e.g. `access_denied`.
    pub error: Option<String>,
}

/// Why a sign-in failed after the state check, as the redirect's fragment says it.
#[derive(Debug)]
struct Failure {
    error: &'static str,
    code: &'static str,
    description: String,
}

fn failure(e: SignInError) -> Failure {
    match e {
        SignInError::Sso(SsoError::Provider(_)) => Failure {
            error: "server_error",
            code: "provider_unavailable",
            description: "the identity provider could not be reached".into(),
        },
        SignInError::Sso(e @ SsoError::Exchange(_)) => Failure {
            error: "access_denied",
            code: "code_exchange_failed",
            description: e.to_string(),
        },
        SignInError::Sso(SsoError::IdToken(t)) => Failure {
            error: "access_denied",
            code: t.code(),
            description: t.to_string(),
        },
        e @ SignInError::ProviderRefused(_) => Failure {
            error: "access_denied",
            code: "provider_refused",
            description: e.to_string(),
        },
        e @ SignInError::MissingCode => Failure {
            error: "invalid_request",
            code: "missing_code",
            description: e.to_string(),
        },
        other => {
            let e = ApiError::from(other);
            if e.status_code().is_client_error() {
                Failure {
                    error: "access_denied",
                    code: e.code(),
                    description: e.to_string(),
                }
            } else {
                tracing::error!(error = ?e, "sso sign-in failed");
                Failure {
                    error: "server_error",
                    code: "server_error",
                    description: "the sign-in could not be completed; try again".into(),
                }
            }
        }
    }
}

/// `redirect_to` with `pairs` as its fragment (and, for a PKCE sign-in, as its query too, as
/// GoTrue does); the binding cookie is cleared.
fn back_to(st: &AppState, mut to: Url, pairs: &[(&str, &str)], in_query: bool) -> HttpResponse {
    if in_query {
        to.query_pairs_mut().extend_pairs(pairs);
    }
    to.set_fragment(Some(&form_encode(pairs)));
    HttpResponse::build(StatusCode::FOUND)
        .insert_header((LOCATION, to.as_str()))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((SET_COOKIE, binding_cookie(st, "", 0)))
        .finish()
}

/// `GET /api/auth/callback?code&state` → 302 to `redirect_to` with
/// `#access_token=…&refresh_token=…&expires_in=…&token_type=bearer`, or `#error=…`.
#[utoipa::path(get, path = "/api/auth/callback", operation_id = "sso_callback",
    params(("code" = Option<String>, Query), ("state" = String, Query),
           ("error" = Option<String>, Query, description = "the provider's refusal")),
    responses((status = 302, description = "to redirect_to with the tokens, or the error, in the fragment"),
              (status = 400, description = "invalid_state: unknown, used or expired")))]
pub async fn callback(
    st: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    // Without a trustworthy place to return to, the answer is a problem+json.
    let (flow, redirect_to) =
        sso_sign_in::take_flow(&st, q.state.as_deref(), binding_of(&req).as_deref()).await?;
    let origin = origin(&req, st.settings.trust_forwarded_for);
    if flow.pkce().is_some() {
        // GoTrue's PKCE flow: the tokens are made when the client exchanges the code.
        return Ok(
            match sso_sign_in::finish_pkce(&st, &flow, q.code.as_deref(), q.error.as_deref()).await
            {
                Ok(auth_code) => {
                    let mut to = redirect_to;
                    to.query_pairs_mut().append_pair("code", &auth_code);
                    HttpResponse::build(StatusCode::FOUND)
                        .insert_header((LOCATION, to.as_str()))
                        .insert_header((CACHE_CONTROL, "no-store"))
                        .insert_header((SET_COOKIE, binding_cookie(&st, "", 0)))
                        .finish()
                }
                Err(e) => refused(&st, &flow, redirect_to, e, true),
            },
        );
    }
    match sso_sign_in::finish(&st, &flow, q.code.as_deref(), q.error.as_deref(), &origin).await {
        Ok(pair) => {
            metrics::counter!("auth_sso_logins_total", "provider" => flow.provider.clone())
                .increment(1);
            let expires_in = pair.expires_in.to_string();
            let expires_at = pair.expires_at.to_string();
            Ok(back_to(
                &st,
                redirect_to,
                &[
                    ("access_token", &pair.access_token),
                    ("refresh_token", pair.refresh_token.as_deref().unwrap_or("")),
                    ("expires_in", &expires_in),
                    ("expires_at", &expires_at),
                    ("token_type", "bearer"),
                ],
                false,
            ))
        }
        Err(e) => Ok(refused(&st, &flow, redirect_to, e, false)),
    }
}

/// The redirect telling `redirect_to` why the sign-in failed.
fn refused(
    st: &AppState,
    flow: &sso_sign_in::Flow,
    redirect_to: Url,
    e: SignInError,
    in_query: bool,
) -> HttpResponse {
    let f = failure(e);
    metrics::counter!("auth_sso_failures_total", "code" => f.code).increment(1);
    tracing::warn!(code = f.code, provider = %flow.provider, "sso sign-in refused");
    back_to(
        st,
        redirect_to,
        &[
            ("error", f.error),
            ("error_code", f.code),
            ("error_description", &f.description),
        ],
        in_query,
    )
}

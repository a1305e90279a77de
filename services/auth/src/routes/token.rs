//! `POST /api/auth/token?grant_type=password|refresh_token|pkce|client_credentials` (JSON body).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use servicekit::{ApiError, Json};
use tenancy::OrgId;

use crate::core::client_grant::client_grant;
use crate::core::password_grant::{PasswordGrant, password_grant};
use crate::core::refresh_grant::{RefreshGrant, refresh_grant};
use crate::core::sso_sign_in::pkce_grant;
use crate::domain::tokens::TokenResponse;
use crate::routes::problem::gotrue;
use crate::routes::problem::origin;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct GrantQuery {
    pub grant_type: String,
}

/// The body of each grant (documentation: the handler reads the one `grant_type` names).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum GrantBody {
    Password(PasswordBody),
    Refresh(RefreshBody),
    Pkce(PkceBody),
    Client(ClientBody),
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    email: String,
    password: String,
    #[schema(value_type = Option<uuid::Uuid>)]
    org_id: Option<OrgId>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
    /// Switch the session to another org the user belongs to.
    #[schema(value_type = Option<uuid::Uuid>)]
    org_id: Option<OrgId>,
}

/// GoTrue's PKCE exchange: the `code` a PKCE sign-in (`GET /api/auth/authorize` with
/// `code_challenge`) handed to `redirect_to`, and the verifier of that challenge.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PkceBody {
    auth_code: String,
    code_verifier: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ClientBody {
    client_id: String,
    client_secret: String,
}

#[utoipa::path(post, path = "/api/auth/token", operation_id = "token", request_body = GrantBody,
    params(("grant_type" = String, Query, description = "`password`, `refresh_token`, `pkce` (GoTrue's exchange after a PKCE sign-in) or `client_credentials`")),
    responses((status = 200, description = "a token pair (a service token for client_credentials)", body = TokenResponse),
              (status = 400, description = "unsupported_grant_type, bad_code_verifier (pkce); GoTrue dialect (`X-Supabase-Api-Version`): invalid_credentials, validation_failed, refresh_token_not_found, refresh_token_already_used, session_not_found, session_expired"),
              (status = 401, description = "invalid_credentials, invalid_refresh_token, session_revoked, session_expired, refresh_token_already_used or invalid_client"),
              (status = 403, description = "not_a_member: the requested org; pkce: the sign-in's refusals (account_exists_unverified, invitation_email_mismatch, …)"),
              (status = 404, description = "flow_state_not_found (pkce): the auth code is unknown or was already exchanged"),
              (status = 422, description = "invalid_field: the grant's body; flow_state_expired (pkce): the auth code is older than 300 s"),
              (status = 429, description = "rate_limited: too many failed logins")))]
pub async fn token(
    st: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<GrantQuery>,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let go = gotrue::requested(&req);
    gotrue::answer(
        go,
        run(&st, &req, go, &q.grant_type, body.into_inner()).await,
    )
}

/// GoTrue clients' fields: `email`/`password` or `refresh_token` (plus our `org_id`); the rest
/// (`gotrue_meta_security`, `data`, …) is ignored.
fn gotrue_body(grant: &str, body: serde_json::Value) -> Result<Vec<u8>, ApiError> {
    let m = gotrue::object(body)?;
    let keep: &[&str] = match grant {
        "password" => &["email", "password", "org_id"],
        "refresh_token" => &["refresh_token", "org_id"],
        "pkce" => &["auth_code", "code_verifier"],
        _ => &["client_id", "client_secret"],
    };
    let kept: serde_json::Map<String, serde_json::Value> = m
        .into_iter()
        .filter(|(k, v)| keep.contains(&k.as_str()) && !v.is_null())
        .collect();
    serde_json::to_vec(&kept).map_err(ApiError::internal)
}

async fn run(
    st: &AppState,
    req: &HttpRequest,
    go: bool,
    grant: &str,
    body: serde_json::Value,
) -> Result<HttpResponse, ApiError> {
    let raw = if go {
        gotrue_body(grant, body)?
    } else {
        serde_json::to_vec(&body).map_err(ApiError::internal)?
    };
    let origin = origin(req, st.settings.trust_forwarded_for);
    let pair = match grant {
        "password" => {
            let b: PasswordBody = servicekit::json::parse(&raw)?;
            password_grant(
                st,
                PasswordGrant {
                    email: b.email,
                    password: b.password,
                    org_id: b.org_id,
                },
                &origin,
            )
            .await?
        }
        "refresh_token" => {
            let b: RefreshBody = servicekit::json::parse(&raw)?;
            refresh_grant(
                st,
                RefreshGrant {
                    refresh_token: b.refresh_token,
                    org_id: b.org_id,
                },
                &origin,
            )
            .await?
        }
        "pkce" => {
            let b: PkceBody = servicekit::json::parse(&raw)?;
            pkce_grant(st, &b.auth_code, &b.code_verifier, &origin).await?
        }
        "client_credentials" => {
            let b: ClientBody = servicekit::json::parse(&raw)?;
            client_grant(st, &b.client_id, &b.client_secret).await?
        }
        other => {
            return Err(ApiError::BadRequest {
                code: "unsupported_grant_type",
                detail: format!(
                    "grant_type {other:?} is not one of password, refresh_token, pkce, client_credentials"
                ),
            });
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(pair))
}

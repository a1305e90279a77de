//! Google SSO: `GET /api/auth/authorize` sends the browser to the provider with state, nonce
//! and PKCE; `GET /api/auth/callback` checks the state, exchanges the code, verifies the ID
//! token, signs the user in (linked identity, else a verified email, else a new user; the org is
//! an invitation's or, for a new user, a new one) and returns to `redirect_to` with the tokens in
//! the fragment, as GoTrue does.

use actix_web::http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, get, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use deadpool_redis::redis;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::json;
use servicekit::ApiError;
use tenancy::OrgId;
use tenancy::claims::Role;
use uuid::Uuid;

use crate::domain::email;
use crate::domain::refresh::constant_time_eq;
use crate::limits::Limit;
use crate::routes::account::{check_org_name, create_org};
use crate::routes::members::token_hash;
use crate::routes::origin;
use crate::sso::{self, Lookup, OidcClient, SsoError, allowed_redirect, pkce_challenge};
use crate::state::AppState;
use crate::store::accounts::{self, Membership, User};
use crate::store::audit::{self, Origin};
use crate::store::identities::{self, Identity};
use crate::store::members;
use crate::store::sessions::{self, Session};
use crate::tokens::{OrgClaim, TokenResponse};

/// A sign-in started by `authorize` must finish within this time; its state is used once.
const FLOW_TTL_SECS: u64 = 600;

#[derive(Debug, Deserialize)]
pub struct AuthorizeQuery {
    pub provider: String,
    pub redirect_to: String,
    /// An invitation token (`POST /api/orgs/{id}/invitations`): the sign-in joins that org.
    pub invitation: Option<String>,
}

/// What `authorize` remembers for the callback, keyed by `state` in Redis.
#[derive(Debug, Serialize, Deserialize)]
struct Flow {
    provider: String,
    nonce: String,
    verifier: String,
    redirect_to: String,
    /// An invitation token carried through the sign-in (for when invitations decide the org).
    invitation: Option<String>,
    /// SHA-256 (base64url) of the browser-binding cookie set by `authorize`: the callback must
    /// come from the browser that started the sign-in (RFC 6749 §10.12, login CSRF).
    browser: String,
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
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == BINDING_COOKIE)
        .map(|(_, v)| v.to_string())
}

fn flow_key(st: &AppState, state: &str) -> String {
    format!("{}sso:flow:{state}", st.redis_prefix)
}

fn redis_err(e: impl Into<anyhow::Error>) -> ApiError {
    ApiError::unavailable("redis_unavailable", e)
}

fn provider<'a>(st: &'a AppState, name: &str) -> Result<&'a std::sync::Arc<OidcClient>, ApiError> {
    st.sso.get(name).map_err(|l| match l {
        Lookup::Unknown => ApiError::BadRequest {
            code: "unknown_provider",
            detail: format!("provider {name:?} is not supported; use google"),
        },
        Lookup::Disabled => ApiError::BadRequest {
            code: "provider_disabled",
            detail: format!("sign-in with {name} is not configured"),
        },
    })
}

fn redirect_not_allowed() -> ApiError {
    ApiError::BadRequest {
        code: "redirect_not_allowed",
        detail: "redirect_to is not on the allow-list".into(),
    }
}

/// `GET /api/auth/authorize?provider=google&redirect_to=…` → 302 to the provider.
#[utoipa::path(get, path = "/api/auth/authorize",
    params(("provider" = String, Query), ("redirect_to" = String, Query)),
    responses((status = 302, description = "to the provider's authorization endpoint"),
              (status = 400, description = "unknown_provider, provider_disabled or redirect_not_allowed"),
              (status = 429, description = "rate_limited: too many sign-ins started from this IP"),
              (status = 503, description = "the provider's discovery document is unavailable")))]
#[get("/api/auth/authorize")]
pub async fn authorize(
    st: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<AuthorizeQuery>,
) -> Result<HttpResponse, ApiError> {
    // Unauthenticated and each call writes a flow to Redis: limited per IP before any work.
    // No account is known here, so a refusal is counted and logged, not audited.
    let ip = origin(&req, st.settings.trust_forwarded_for)
        .ip
        .unwrap_or_default();
    let per_ip = Limit {
        scope: "authorize_ip",
        subject: &ip,
        max: st.settings.authorize_per_ip,
        window: st.settings.authorize_window,
    };
    if let Some(retry) = st.limit_reached(&per_ip).await? {
        metrics::counter!("auth_rate_limited_total", "scope" => "authorize_ip").increment(1);
        tracing::warn!(scope = "authorize_ip", "sso sign-ins rate limited");
        return Err(ApiError::TooManyRequests {
            retry_after_secs: retry,
        });
    }
    st.limit_hit(&per_ip).await?;
    let client = provider(&st, &q.provider)?;
    let redirect_to = allowed_redirect(&st.settings.redirect_allow_list, &q.redirect_to)
        .ok_or_else(redirect_not_allowed)?;
    let invitation = match q.invitation.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) if invitation_org(t).is_some() => Some(t.to_string()),
        Some(_) => {
            return Err(ApiError::invalid(
                "invalid_field",
                Some("invitation"),
                "not an invitation token",
            ));
        }
    };
    let state = sso::random_token();
    let binding = sso::random_token();
    let flow = Flow {
        provider: client.provider.to_string(),
        nonce: sso::random_token(),
        verifier: sso::random_token(),
        redirect_to: redirect_to.to_string(),
        invitation,
        browser: pkce_challenge(&binding),
    };
    let url = client
        .authorize_url(
            &st.settings.sso_callback_url,
            &state,
            &flow.nonce,
            &pkce_challenge(&flow.verifier),
        )
        .await
        .map_err(|e| ApiError::unavailable("provider_unavailable", e))?;
    let value = serde_json::to_string(&flow).map_err(ApiError::internal)?;
    let mut conn = st.redis.get().await.map_err(redis_err)?;
    let stored: Option<String> = redis::cmd("SET")
        .arg(flow_key(&st, &state))
        .arg(value)
        .arg("EX")
        .arg(FLOW_TTL_SECS)
        .arg("NX")
        .query_async(&mut conn)
        .await
        .map_err(redis_err)?;
    if stored.is_none() {
        return Err(ApiError::internal(anyhow::anyhow!("sso state collision")));
    }
    Ok(HttpResponse::Found()
        .insert_header((LOCATION, url.as_str()))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((SET_COOKIE, binding_cookie(&st, &binding, FLOW_TTL_SECS)))
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

impl From<SsoError> for Failure {
    fn from(e: SsoError) -> Self {
        match &e {
            SsoError::Provider(_) => Failure {
                error: "server_error",
                code: "provider_unavailable",
                description: "the identity provider could not be reached".into(),
            },
            SsoError::Exchange(_) => Failure {
                error: "access_denied",
                code: "code_exchange_failed",
                description: e.to_string(),
            },
            SsoError::IdToken(t) => Failure {
                error: "access_denied",
                code: t.code(),
                description: t.to_string(),
            },
        }
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
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

/// `redirect_to` with `pairs` as its fragment; the binding cookie is cleared.
fn back_to(st: &AppState, mut to: Url, pairs: &[(&str, &str)]) -> HttpResponse {
    to.set_fragment(Some(&sso::form_encode(pairs)));
    HttpResponse::Found()
        .insert_header((LOCATION, to.as_str()))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((SET_COOKIE, binding_cookie(st, "", 0)))
        .finish()
}

fn plausible_state(s: &str) -> bool {
    (16..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `GET /api/auth/callback?code&state` → 302 to `redirect_to` with
/// `#access_token=…&refresh_token=…&expires_in=…&token_type=bearer`, or `#error=…`.
#[utoipa::path(get, path = "/api/auth/callback",
    params(("code" = Option<String>, Query), ("state" = String, Query)),
    responses((status = 302, description = "to redirect_to with the tokens, or the error, in the fragment"),
              (status = 400, description = "invalid_state: unknown, used or expired")))]
#[get("/api/auth/callback")]
pub async fn callback(
    st: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let invalid_state = || ApiError::BadRequest {
        code: "invalid_state",
        detail: "the sign-in state is unknown, already used or expired; start the sign-in again"
            .into(),
    };
    let state = q
        .state
        .as_deref()
        .filter(|s| plausible_state(s))
        .ok_or_else(invalid_state)?;
    let raw: Option<String> = {
        let mut conn = st.redis.get().await.map_err(redis_err)?;
        redis::cmd("GETDEL")
            .arg(flow_key(&st, state))
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?
    };
    let flow: Flow = raw
        .and_then(|r| serde_json::from_str(&r).ok())
        .ok_or_else(invalid_state)?;
    let same_browser = binding_of(&req)
        .is_some_and(|b| constant_time_eq(pkce_challenge(&b).as_bytes(), flow.browser.as_bytes()));
    if !same_browser {
        return Err(ApiError::BadRequest {
            code: "invalid_state",
            detail: "this sign-in was started in another browser; start it again here".into(),
        });
    }
    // Checked at authorize; checked again in case the allow-list changed in between. Without a
    // trustworthy place to return to, the answer is a problem+json.
    let redirect_to = allowed_redirect(&st.settings.redirect_allow_list, &flow.redirect_to)
        .ok_or_else(redirect_not_allowed)?;
    let origin = origin(&req, st.settings.trust_forwarded_for);
    match finish(&st, &flow, &q, &origin).await {
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
            ))
        }
        Err(f) => {
            metrics::counter!("auth_sso_failures_total", "code" => f.code).increment(1);
            tracing::warn!(code = f.code, provider = %flow.provider, "sso sign-in refused");
            Ok(back_to(
                &st,
                redirect_to,
                &[
                    ("error", f.error),
                    ("error_code", f.code),
                    ("error_description", &f.description),
                ],
            ))
        }
    }
}

async fn finish(
    st: &AppState,
    flow: &Flow,
    q: &CallbackQuery,
    origin: &Origin,
) -> Result<TokenResponse, Failure> {
    let client = provider(st, &flow.provider)?;
    if let Some(e) = &q.error {
        let e: String = e
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(Failure {
            error: "access_denied",
            code: "provider_refused",
            description: format!("the identity provider answered {e}"),
        });
    }
    let code = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 4096)
        .ok_or_else(|| Failure {
            error: "invalid_request",
            code: "missing_code",
            description: "the provider returned no authorization code".into(),
        })?;
    let answer = client
        .exchange(code, &flow.verifier, &st.settings.sso_callback_url)
        .await?;
    let id_token = answer.id_token.ok_or_else(|| {
        Failure::from(SsoError::Provider(
            "the token answer has no id_token".into(),
        ))
    })?;
    let claims = client
        .verify(&id_token, &flow.nonce, answer.access_token.as_deref())
        .await?;
    Ok(sign_in(
        st,
        client.provider,
        &claims,
        flow.invitation.clone(),
        origin,
    )
    .await?)
}

/// How the provider account found its user.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum Found {
    Identity,
    VerifiedEmail,
    Created,
}

/// The org an invitation token names (its first 16 bytes, see `routes::members::invite`).
fn invitation_org(token: &str) -> Option<Uuid> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    (raw.len() == 48)
        .then(|| Uuid::from_slice(&raw[..16]).ok())
        .flatten()
}

/// Joins `user` to the org of a pending invitation for their email (or, when they already are
/// a member, just picks that org); call inside the sign-in transaction.
async fn join_invited_org(
    c: &mut diesel_async::AsyncPgConnection,
    token: &str,
    user: &User,
    origin: &Origin,
) -> Result<(OrgClaim, Option<i32>), ApiError> {
    let invalid = || {
        ApiError::forbidden(
            "invitation_not_pending",
            "the invitation is unknown, already used, revoked or expired",
        )
    };
    let org_id = invitation_org(token).ok_or_else(invalid)?;
    tenancy::set_tenant(c, OrgId(org_id)).await?;
    let inv = members::invitation_by_hash(c, &token_hash(token))
        .await?
        .filter(|i| i.org_id == org_id)
        .ok_or_else(invalid)?;
    if inv.accepted_at.is_some() || inv.revoked_at.is_some() || inv.expires_at <= Utc::now() {
        return Err(invalid());
    }
    if inv.email_normalized != user.email_normalized {
        return Err(ApiError::forbidden(
            "invitation_email_mismatch",
            "the invitation is for another email address",
        ));
    }
    let org = accounts::org_by_id(c, org_id).await?.ok_or_else(invalid)?;
    if members::member_role(c, org_id, user.id).await?.is_none() {
        let now = Utc::now();
        accounts::insert_membership(
            c,
            &Membership {
                org_id,
                user_id: user.id,
                role: inv.role.clone(),
                status: "active".into(),
                created_at: now,
                updated_at: now,
            },
        )
        .await?;
        members::mark_accepted(c, inv.id, user.id).await?;
        audit::record(
            c,
            org_id,
            Some(user.id),
            "invitation.accepted",
            Some(inv.id.to_string()),
            json!({"role": inv.role, "method": "oauth"}),
            origin,
        )
        .await?;
    }
    let memberships = accounts::memberships_of(c, user.id).await?;
    memberships
        .iter()
        .find(|(m, _)| m.org_id == org.id)
        .and_then(|(m, o)| OrgClaim::of(m, o).map(|claim| (claim, o.session_lifetime_secs)))
        .ok_or_else(|| {
            ApiError::forbidden(
                "not_a_member",
                "you are not an active member of that organization",
            )
        })
}

/// Logs in the user of `(provider, sub)`, else links the verified email's user, else creates a
/// user (no password). The org: an invitation's when the sign-in carries one, else for a new
/// user a new org named after the email's domain, else the user's first. One transaction.
async fn sign_in(
    st: &AppState,
    provider: &'static str,
    claims: &sso::IdClaims,
    invitation: Option<String>,
    origin: &Origin,
) -> Result<TokenResponse, ApiError> {
    let verified =
        match claims.verified_email() {
            Some(e) => Some(email::parse(e).map_err(|m| {
                ApiError::forbidden("invalid_email", format!("provider email: {m}"))
            })?),
            None => None,
        };
    let sub = claims.sub.clone();
    let reported_email = claims.email.clone();
    let name: Option<String> = claims
        .name
        .as_deref()
        .map(|n| n.trim().chars().take(200).collect::<String>())
        .filter(|n| !n.is_empty());
    let st2 = st.clone();
    let origin2 = origin.clone();
    let (user, session, org): (User, Session, Option<OrgClaim>) = st
        .db
        .system_tx(|c| {
            Box::pin(async move {
                let st = st2;
                let origin = origin2;
                let now = Utc::now();
                let (user, found) = match identities::find_by_sub(c, provider, &sub).await? {
                    Some(idn) => {
                        identities::update_login(c, idn.id, reported_email).await?;
                        let user =
                            accounts::user_by_id(c, idn.user_id).await?.ok_or_else(|| {
                                ApiError::internal(anyhow::anyhow!("identity without user"))
                            })?;
                        (user, Found::Identity)
                    }
                    None => {
                        // Never link or create on an email the provider has not verified.
                        let Some((email, normalized)) = verified else {
                            return Err(ApiError::forbidden(
                                "email_not_verified",
                                "the provider has not verified this account's email",
                            ));
                        };
                        let (user, found) = match accounts::user_by_email(c, &normalized).await? {
                            Some(u) => (u, Found::VerifiedEmail),
                            None => {
                                let user = User {
                                    id: Uuid::new_v4(),
                                    email: email.clone(),
                                    email_normalized: normalized,
                                    password_hash: None,
                                    display_name: name,
                                    email_verified_at: Some(now),
                                    created_at: now,
                                    updated_at: now,
                                };
                                accounts::insert_user(c, &user).await?;
                                (user, Found::Created)
                            }
                        };
                        identities::insert(
                            c,
                            &Identity {
                                id: Uuid::new_v4(),
                                user_id: user.id,
                                provider: provider.to_string(),
                                provider_sub: sub.clone(),
                                email: Some(email),
                                created_at: now,
                                last_login_at: Some(now),
                            },
                        )
                        .await?;
                        (user, found)
                    }
                };
                let (org, lifetime) = if let Some(token) = invitation {
                    let (claim, lifetime) = join_invited_org(c, &token, &user, &origin).await?;
                    if matches!(found, Found::Created) {
                        audit::record(
                            c,
                            claim.id,
                            Some(user.id),
                            "user.signup",
                            Some(user.id.to_string()),
                            json!({"method": "oauth", "provider": provider, "invited": true}),
                            &origin,
                        )
                        .await?;
                    }
                    (Some(claim), lifetime)
                } else if matches!(found, Found::Created) {
                    let domain = user
                        .email_normalized
                        .rsplit_once('@')
                        .map(|(_, d)| d.to_string())
                        .unwrap_or_default();
                    let org =
                        create_org(c, user.id, check_org_name(&domain)?, "UTC".into(), &origin)
                            .await?;
                    audit::record(
                        c,
                        org.id,
                        Some(user.id),
                        "user.signup",
                        Some(user.id.to_string()),
                        json!({"method": "oauth", "provider": provider}),
                        &origin,
                    )
                    .await?;
                    let claim = OrgClaim {
                        id: org.id,
                        role: Role::Owner,
                        mfa_required: false,
                    };
                    (Some(claim), None)
                } else {
                    crate::store::set_user(c, user.id).await?;
                    let memberships = accounts::memberships_of(c, user.id).await?;
                    let first = memberships.first();
                    (
                        first.and_then(|(m, o)| OrgClaim::of(m, o)),
                        first.and_then(|(_, o)| o.session_lifetime_secs),
                    )
                };
                let session =
                    st.new_session(user.id, org.map(|o| o.id), "oauth", &origin, lifetime)?;
                sessions::insert(c, &session).await?;
                if let Some(o) = org {
                    tenancy::set_tenant(c, OrgId(o.id)).await?;
                    audit::record(
                        c,
                        o.id,
                        Some(user.id),
                        "sso.login",
                        Some(session.id.to_string()),
                        json!({"provider": provider, "found_by": found}),
                        &origin,
                    )
                    .await?;
                }
                Ok::<_, ApiError>((user, session, org))
            })
        })
        .await?;
    tracing::info!(user = %user.id, provider, "sso login");
    st.token_pair(&user, &session, 0, org).await
}

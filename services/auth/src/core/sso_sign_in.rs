//! Sign-in through an OpenID Connect provider (Google). `authorize` starts it: state, nonce,
//! PKCE and a browser binding are kept in Redis for the callback. `take_flow` ends that state
//! (once, from the same browser); `finish` exchanges the code, verifies the ID token and signs
//! the user in (linked identity, else an existing user whose email both the provider and we
//! verified, else a new user; an unverified existing account is never linked; the org is an
//! invitation's or, for a new user, a new one).

use std::sync::Arc;

use chrono::Utc;
use deadpool_redis::redis;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tenancy::{Role, UserId};
use uuid::Uuid;

use crate::clients::oidc::{Lookup, OidcClient, SsoError};
use crate::core::infra::{Infra, infra_from};
use crate::core::limits::Limit;
use crate::core::orgs::create_org;
use crate::core::tokens::org_claim;
use crate::domain::oidc::{IdClaims, allowed_redirect, pkce_challenge, random_token};
use crate::domain::org::{self, OrgFieldError};
use crate::domain::refresh::constant_time_eq;
use crate::domain::tokens::{OrgClaim, TokenResponse};
use crate::domain::{email, secret};
use crate::state::AppState;
use crate::store::accounts::{self, Membership, User};
use crate::store::audit::{self, Origin};
use crate::store::identities::{self, Identity};
use crate::store::invitations;
use crate::store::members;
use crate::store::sessions::{self, Session};
use crate::store::status::MembershipStatus;

/// A sign-in started by `authorize` must finish within this time; its state is used once.
pub const FLOW_TTL_SECS: u64 = 600;

#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error("too many requests")]
    RateLimited { retry_after: u64 },
    #[error("provider {0:?} is not supported; use google")]
    UnknownProvider(String),
    #[error("sign-in with {0} is not configured")]
    ProviderDisabled(String),
    #[error("redirect_to is not on the allow-list")]
    RedirectNotAllowed,
    #[error("not an invitation token")]
    InvalidInvitation,
    #[error(transparent)]
    Pkce(#[from] PkceParamError),
    /// The provider's discovery document is unavailable.
    #[error(transparent)]
    Provider(SsoError),
    #[error(transparent)]
    Infra(#[from] Infra),
}
infra_from!(AuthorizeError);

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("the sign-in state is unknown, already used or expired; start the sign-in again")]
    InvalidState,
    #[error("this sign-in was started in another browser; start it again here")]
    OtherBrowser,
    #[error("redirect_to is not on the allow-list")]
    RedirectNotAllowed,
    #[error(transparent)]
    Infra(#[from] Infra),
}

/// Why a sign-in failed after the state check (the redirect's fragment says it).
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("provider {0:?} is not supported; use google")]
    UnknownProvider(String),
    #[error("sign-in with {0} is not configured")]
    ProviderDisabled(String),
    /// The provider's own refusal (RFC 6749 §4.1.2.1), sanitised.
    #[error("the identity provider answered {0}")]
    ProviderRefused(String),
    #[error("the provider returned no authorization code")]
    MissingCode,
    #[error(transparent)]
    Sso(#[from] SsoError),
    #[error("provider email: {0}")]
    InvalidProviderEmail(&'static str),
    #[error("the provider has not verified this account's email")]
    EmailNotVerified,
    /// A password account holds this email but never proved it owns it: linking would hand
    /// that account to whoever registered it (or hand this Google account to them).
    #[error(
        "an account with this email exists but its email is not verified; sign in with its password and verify the email first"
    )]
    UnverifiedAccountExists,
    #[error("the invitation is unknown, already used, revoked or expired")]
    InvitationNotPending,
    #[error("the invitation is for another email address")]
    InvitationEmailMismatch,
    #[error("you are not an active member of that organization")]
    NotAMember,
    /// A new user's org is named after the email's domain, and that name was refused.
    #[error(transparent)]
    OrgName(OrgFieldError),
    #[error(transparent)]
    Infra(#[from] Infra),
}
infra_from!(SignInError);

/// What `authorize` remembers for the callback, keyed by `state` in Redis.
#[derive(Debug, Serialize, Deserialize)]
pub struct Flow {
    pub provider: String,
    nonce: String,
    verifier: String,
    redirect_to: String,
    /// An invitation token carried through the sign-in (it decides the org).
    invitation: Option<String>,
    /// SHA-256 (base64url) of the browser-binding cookie set by `authorize`: the callback must
    /// come from the browser that started the sign-in (RFC 6749 §10.12, login CSRF).
    browser: String,
    /// A GoTrue client's PKCE sign-in: the callback hands back an auth code, not tokens.
    #[serde(default)]
    pkce: Option<PkceChallenge>,
}

impl Flow {
    /// The client's PKCE challenge, when it started a PKCE sign-in.
    pub fn pkce(&self) -> Option<&PkceChallenge> {
        self.pkce.as_ref()
    }
}

/// How long an auth code handed back by a PKCE sign-in may be exchanged (GoTrue's flow-state
/// lifetime, 300 s).
pub const AUTH_CODE_TTL_SECS: i64 = 300;

/// A GoTrue client's PKCE challenge (`code_challenge`, `code_challenge_method` on
/// `/authorize`): `POST /token?grant_type=pkce` must bring the verifier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PkceChallenge {
    challenge: String,
    /// `s256` or `plain`.
    method: String,
}

/// Why a PKCE challenge is refused.
#[derive(Debug, thiserror::Error)]
pub enum PkceParamError {
    #[error("code_challenge and code_challenge_method go together")]
    OnlyOne,
    #[error("code_challenge must be 43 to 128 characters of A-Z a-z 0-9 . _ ~ -")]
    Challenge,
    #[error("code_challenge_method must be s256 or plain")]
    Method,
}

impl PkceChallenge {
    /// GoTrue's rules: both or neither; the challenge 43–128 characters of `[A-Za-z0-9._~-]`;
    /// the method `s256` or `plain`, any case. Empty values count as absent.
    pub fn parse(
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<Option<PkceChallenge>, PkceParamError> {
        let challenge = challenge.filter(|c| !c.is_empty());
        let method = method.filter(|m| !m.is_empty());
        let (challenge, method) = match (challenge, method) {
            (None, None) => return Ok(None),
            (Some(c), Some(m)) => (c, m.to_ascii_lowercase()),
            _ => return Err(PkceParamError::OnlyOne),
        };
        if !(43..=128).contains(&challenge.len())
            || !challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
        {
            return Err(PkceParamError::Challenge);
        }
        if method != "s256" && method != "plain" {
            return Err(PkceParamError::Method);
        }
        Ok(Some(PkceChallenge {
            challenge: challenge.to_string(),
            method,
        }))
    }

    /// `verifier` answers this challenge (compared in constant time).
    pub fn accepts(&self, verifier: &str) -> bool {
        let expected = if self.method == "s256" {
            pkce_challenge(verifier)
        } else {
            verifier.to_string()
        };
        constant_time_eq(expected.as_bytes(), self.challenge.as_bytes())
    }
}

fn flow_key(st: &AppState, state: &str) -> String {
    format!("{}sso:flow:{state}", st.redis_prefix)
}

/// A sign-in may start.
#[derive(Debug)]
pub struct Authorized {
    /// The provider's authorization URL.
    pub url: Url,
    /// The value of the browser-binding cookie.
    pub binding: String,
}

fn provider<'a>(st: &'a AppState, name: &str) -> Result<&'a Arc<OidcClient>, Lookup> {
    st.sso.get(name)
}

/// Starts a sign-in with `provider` returning to `redirect_to` (limited per IP: each start
/// stores a flow for an unauthenticated caller).
pub async fn authorize(
    st: &AppState,
    provider_name: &str,
    redirect_to: &str,
    invitation: Option<&str>,
    pkce: Option<PkceChallenge>,
    ip: &str,
) -> Result<Authorized, AuthorizeError> {
    // No account is known here, so a refusal is counted and logged, not audited.
    let per_ip = Limit {
        scope: "authorize_ip",
        subject: ip,
        max: st.settings.authorize_per_ip,
        window: st.settings.authorize_window,
    };
    if let Some(retry_after) = st.limit_take(&per_ip).await?.refused {
        metrics::counter!("auth_rate_limited_total", "scope" => "authorize_ip").increment(1);
        tracing::warn!(scope = "authorize_ip", "sso sign-ins rate limited");
        return Err(AuthorizeError::RateLimited { retry_after });
    }
    let client = provider(st, provider_name).map_err(|l| match l {
        Lookup::Unknown => AuthorizeError::UnknownProvider(provider_name.to_string()),
        Lookup::Disabled => AuthorizeError::ProviderDisabled(provider_name.to_string()),
    })?;
    let redirect_to = allowed_redirect(&st.settings.redirect_allow_list, redirect_to)
        .ok_or(AuthorizeError::RedirectNotAllowed)?;
    let invitation = match invitation.map(str::trim) {
        None | Some("") => None,
        Some(t) if secret::invitation_org(t).is_some() => Some(t.to_string()),
        Some(_) => return Err(AuthorizeError::InvalidInvitation),
    };
    let state = random_token();
    let binding = random_token();
    let flow = Flow {
        provider: client.provider.to_string(),
        nonce: random_token(),
        verifier: random_token(),
        redirect_to: redirect_to.to_string(),
        invitation,
        browser: pkce_challenge(&binding),
        pkce,
    };
    let url = client
        .authorize_url(
            &st.settings.sso_callback_url,
            &state,
            &flow.nonce,
            &pkce_challenge(&flow.verifier),
        )
        .await
        .map_err(AuthorizeError::Provider)?;
    let value = serde_json::to_string(&flow).map_err(Infra::internal)?;
    let mut conn = st.redis.get().await.map_err(Infra::redis)?;
    let stored: Option<String> = redis::cmd("SET")
        .arg(flow_key(st, &state))
        .arg(value)
        .arg("EX")
        .arg(FLOW_TTL_SECS)
        .arg("NX")
        .query_async(&mut conn)
        .await
        .map_err(Infra::redis)?;
    if stored.is_none() {
        return Err(Infra::internal(anyhow::anyhow!("sso state collision")).into());
    }
    Ok(Authorized { url, binding })
}

fn plausible_state(s: &str) -> bool {
    (16..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Ends the sign-in state (used once) when the callback comes from the browser that started it;
/// returns the flow and where to send the browser back.
pub async fn take_flow(
    st: &AppState,
    state: Option<&str>,
    binding: Option<&str>,
) -> Result<(Flow, Url), CallbackError> {
    let state = state
        .filter(|s| plausible_state(s))
        .ok_or(CallbackError::InvalidState)?;
    let key = flow_key(st, state);
    let mut conn = st.redis.get().await.map_err(Infra::redis)?;
    // Read first, consume only once the browser matched: a request without the cookie (another
    // browser, a login-CSRF attempt, a link opened twice) must not burn the real sign-in.
    let raw: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .map_err(Infra::redis)?;
    let flow: Flow = raw
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .ok_or(CallbackError::InvalidState)?;
    let same_browser = binding
        .is_some_and(|b| constant_time_eq(pkce_challenge(b).as_bytes(), flow.browser.as_bytes()));
    if !same_browser {
        return Err(CallbackError::OtherBrowser);
    }
    // Used once: of two callbacks from the same browser racing, only the one that deletes it
    // goes on.
    let taken: Option<String> = redis::cmd("GETDEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .map_err(Infra::redis)?;
    if taken.is_none() || taken != raw {
        return Err(CallbackError::InvalidState);
    }
    // Checked at authorize; checked again in case the allow-list changed in between.
    let redirect_to = allowed_redirect(&st.settings.redirect_allow_list, &flow.redirect_to)
        .ok_or(CallbackError::RedirectNotAllowed)?;
    Ok((flow, redirect_to))
}

/// Finishes the sign-in of `flow` with the provider's answer (`code`, or its `error`).
pub async fn finish(
    st: &AppState,
    flow: &Flow,
    code: Option<&str>,
    error: Option<&str>,
    origin: &Origin,
) -> Result<TokenResponse, SignInError> {
    let (provider, claims) = provider_answer(st, flow, code, error).await?;
    sign_in(st, provider, &claims, flow.invitation.clone(), origin).await
}

/// What a PKCE sign-in keeps between the callback and `POST /token?grant_type=pkce`, keyed by
/// the SHA-256 of the auth code (the code itself is never stored). No session exists yet: it
/// is made by the exchange.
#[derive(Debug, Serialize, Deserialize)]
struct CodeState {
    provider: String,
    claims: IdClaims,
    invitation: Option<String>,
    pkce: PkceChallenge,
    /// Unix seconds.
    created_at: i64,
}

fn code_key(st: &AppState, auth_code: &str) -> String {
    format!("{}sso:code:{}", st.redis_prefix, pkce_challenge(auth_code))
}

/// The PKCE variant of `finish`: checks the provider's answer, and returns the auth code the
/// client exchanges (with its verifier) for the session.
pub async fn finish_pkce(
    st: &AppState,
    flow: &Flow,
    code: Option<&str>,
    error: Option<&str>,
) -> Result<String, SignInError> {
    let pkce = flow
        .pkce
        .clone()
        .ok_or_else(|| Infra::internal(anyhow::anyhow!("not a PKCE flow")))?;
    let (provider, claims) = provider_answer(st, flow, code, error).await?;
    let auth_code = Uuid::new_v4().to_string();
    let state = CodeState {
        provider: provider.to_string(),
        claims,
        invitation: flow.invitation.clone(),
        pkce,
        created_at: Utc::now().timestamp(),
    };
    let value = serde_json::to_string(&state).map_err(Infra::internal)?;
    let mut conn = st.redis.get().await.map_err(Infra::redis)?;
    // Kept past the exchange window so a late exchange is told "expired", not "unknown".
    let _: () = redis::cmd("SET")
        .arg(code_key(st, &auth_code))
        .arg(value)
        .arg("EX")
        .arg(FLOW_TTL_SECS)
        .query_async(&mut conn)
        .await
        .map_err(Infra::redis)?;
    Ok(auth_code)
}

/// Why `POST /token?grant_type=pkce` refused.
#[derive(Debug, thiserror::Error)]
pub enum PkceGrantError {
    #[error("`{0}` is required")]
    Missing(&'static str),
    /// Unknown or already used (an auth code is exchanged once).
    #[error("no sign-in is waiting for this auth code (unknown, or already exchanged)")]
    NotFound,
    #[error("the auth code expired; sign in again")]
    Expired,
    #[error("the code verifier does not match the sign-in's code challenge")]
    BadVerifier,
    #[error(transparent)]
    SignIn(#[from] SignInError),
    #[error(transparent)]
    Infra(#[from] Infra),
}

/// Exchanges a PKCE sign-in's auth code: once (whatever the outcome, so a verifier cannot be
/// guessed), within `AUTH_CODE_TTL_SECS`, with the verifier of the challenge `/authorize` got.
pub async fn pkce_grant(
    st: &AppState,
    auth_code: &str,
    code_verifier: &str,
    origin: &Origin,
) -> Result<TokenResponse, PkceGrantError> {
    let auth_code = auth_code.trim();
    if auth_code.is_empty() {
        return Err(PkceGrantError::Missing("auth_code"));
    }
    if code_verifier.is_empty() {
        return Err(PkceGrantError::Missing("code_verifier"));
    }
    if auth_code.len() > 128 {
        return Err(PkceGrantError::NotFound);
    }
    let mut conn = st.redis.get().await.map_err(Infra::redis)?;
    let raw: Option<String> = redis::cmd("GETDEL")
        .arg(code_key(st, auth_code))
        .query_async(&mut conn)
        .await
        .map_err(Infra::redis)?;
    drop(conn);
    let state: CodeState = raw
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .ok_or(PkceGrantError::NotFound)?;
    if Utc::now().timestamp() - state.created_at > AUTH_CODE_TTL_SECS {
        return Err(PkceGrantError::Expired);
    }
    if !state.pkce.accepts(code_verifier) {
        metrics::counter!("auth_sso_failures_total", "code" => "bad_code_verifier").increment(1);
        return Err(PkceGrantError::BadVerifier);
    }
    let client = provider(st, &state.provider).map_err(|l| match l {
        Lookup::Unknown => SignInError::UnknownProvider(state.provider.clone()),
        Lookup::Disabled => SignInError::ProviderDisabled(state.provider.clone()),
    })?;
    let pair = sign_in(st, client.provider, &state.claims, state.invitation, origin).await?;
    metrics::counter!("auth_sso_logins_total", "provider" => client.provider).increment(1);
    Ok(pair)
}

/// The provider's answer to `flow`: the code exchanged, the ID token verified.
async fn provider_answer(
    st: &AppState,
    flow: &Flow,
    code: Option<&str>,
    error: Option<&str>,
) -> Result<(&'static str, IdClaims), SignInError> {
    let client = provider(st, &flow.provider).map_err(|l| match l {
        Lookup::Unknown => SignInError::UnknownProvider(flow.provider.clone()),
        Lookup::Disabled => SignInError::ProviderDisabled(flow.provider.clone()),
    })?;
    if let Some(e) = error {
        let e: String = e
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(SignInError::ProviderRefused(e));
    }
    let code = code
        .filter(|c| !c.is_empty() && c.len() <= 4096)
        .ok_or(SignInError::MissingCode)?;
    let answer = client
        .exchange(code, &flow.verifier, &st.settings.sso_callback_url)
        .await?;
    let id_token = answer
        .id_token
        .ok_or_else(|| SsoError::Provider("the token answer has no id_token".into()))?;
    let claims = client
        .verify(&id_token, &flow.nonce, answer.access_token.as_deref())
        .await?;
    Ok((client.provider, claims))
}

/// How the provider account found its user.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum Found {
    Identity,
    VerifiedEmail,
    Created,
}

/// Joins `user` to the org of a pending invitation for their email (or, when they already are
/// a member, just picks that org); call inside the sign-in transaction.
async fn join_invited_org(
    c: &mut diesel_async::AsyncPgConnection,
    token: &str,
    user: &User,
    origin: &Origin,
) -> Result<(OrgClaim, Option<i32>), SignInError> {
    let org_id = secret::invitation_org(token).ok_or(SignInError::InvitationNotPending)?;
    tenancy::set_tenant(c, org_id).await?;
    let inv = invitations::invitation_by_hash(c, &secret::token_hash(token))
        .await?
        .filter(|i| i.org_id == org_id)
        .ok_or(SignInError::InvitationNotPending)?;
    if !inv.is_pending(Utc::now()) {
        return Err(SignInError::InvitationNotPending);
    }
    if inv.email_normalized != user.email_normalized {
        return Err(SignInError::InvitationEmailMismatch);
    }
    let org = accounts::org_by_id(c, org_id)
        .await?
        .ok_or(SignInError::InvitationNotPending)?;
    if members::member_role(c, org_id, user.id).await?.is_none() {
        let now = Utc::now();
        accounts::insert_membership(
            c,
            &Membership {
                org_id,
                user_id: user.id,
                role: inv.role,
                status: MembershipStatus::Active,
                created_at: now,
                updated_at: now,
            },
        )
        .await?;
        invitations::mark_accepted(c, inv.id, user.id).await?;
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
        .map(|(m, o)| (org_claim(m, o), o.session_lifetime_secs))
        .ok_or(SignInError::NotAMember)
}

/// Logs in the user of `(provider, sub)`, else links the verified email's user, else creates a
/// user (no password). The org: an invitation's when the sign-in carries one, else for a new
/// user a new org named after the email's domain, else the user's first. One transaction.
async fn sign_in(
    st: &AppState,
    provider: &'static str,
    claims: &IdClaims,
    invitation: Option<String>,
    origin: &Origin,
) -> Result<TokenResponse, SignInError> {
    let verified = match claims.verified_email() {
        Some(e) => Some(email::parse(e).map_err(SignInError::InvalidProviderEmail)?),
        None => None,
    };
    let sub = claims.sub.clone();
    let reported_email = claims.email.clone();
    let name: Option<String> = claims
        .name
        .as_deref()
        .map(org::display_name)
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
                                Infra::internal(anyhow::anyhow!("identity without user"))
                            })?;
                        (user, Found::Identity)
                    }
                    None => {
                        // Never link or create on an email the provider has not verified.
                        let Some((email, normalized)) = verified else {
                            return Err(SignInError::EmailNotVerified);
                        };
                        let (user, found) = match accounts::user_by_email(c, &normalized).await? {
                            // Link only to an account that proved it owns the email too.
                            Some(u) if u.email_verified_at.is_some() => (u, Found::VerifiedEmail),
                            Some(_) => return Err(SignInError::UnverifiedAccountExists),
                            None => {
                                let user = User {
                                    id: UserId(Uuid::new_v4()),
                                    email: email.clone(),
                                    email_normalized: normalized,
                                    password_hash: None,
                                    display_name: name,
                                    email_verified_at: Some(now),
                                    created_at: now,
                                    updated_at: now,
                                    user_metadata: serde_json::json!({}),
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
                    let name = org::check_name(&domain).map_err(SignInError::OrgName)?;
                    let org = create_org(c, user.id, name, "UTC".into(), &origin).await?;
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
                        first.map(|(m, o)| org_claim(m, o)),
                        first.and_then(|(_, o)| o.session_lifetime_secs),
                    )
                };
                let session =
                    st.new_session(user.id, org.map(|o| o.id), "oauth", &origin, lifetime)?;
                sessions::insert(c, &session).await?;
                if let Some(o) = org {
                    tenancy::set_tenant(c, o.id).await?;
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
                Ok::<_, SignInError>((user, session, org))
            })
        })
        .await?;
    tracing::info!(user = %user.id, provider, "sso login");
    Ok(st.token_pair(&user, &session, 0, org).await?)
}

//! Signup, the token endpoint (password, refresh_token, client_credentials), logout, profile.

use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use chrono::Utc;
use events::OrgCreatedV1;
use serde::Deserialize;
use serde_json::json;
use servicekit::{ApiError, Json};
use tenancy::claims::Role;
use tenancy::{Aal1Tenant, OrgId, Tenant};
use uuid::Uuid;

use crate::domain::refresh::{Presented, RefreshToken, classify, constant_time_eq};
use crate::domain::{email, password};
use crate::limits::Limit;
use crate::routes::origin;
use crate::state::AppState;
use crate::store::accounts::{self, Membership, Org, User};
use crate::store::audit::{self, Origin};
use crate::store::sessions::{self, Which};
use crate::tokens::{OrgClaim, TokenResponse};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub email: String,
    pub password: String,
    pub org_name: String,
    /// IANA time zone of the clinic, e.g. `America/New_York`.
    pub org_timezone: String,
    pub display_name: Option<String>,
}

pub fn check_timezone(tz: &str) -> Result<(), ApiError> {
    let ok = (tz == "UTC" || tz.contains('/'))
        && tz.len() <= 64
        && tz
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "invalid_field",
            Some("org_timezone"),
            "must be an IANA time zone such as America/New_York",
        ))
    }
}

pub fn check_org_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("org_name"),
            "must be 1 to 200 characters",
        ));
    }
    Ok(name.to_string())
}

/// Creates an org owned by `user` with its `org.created.v1` event; call inside a transaction.
pub async fn create_org(
    c: &mut diesel_async::AsyncPgConnection,
    user: Uuid,
    name: String,
    timezone: String,
    origin: &Origin,
) -> Result<Org, ApiError> {
    let now = Utc::now();
    let org = Org {
        id: Uuid::new_v4(),
        name,
        timezone,
        require_mfa: false,
        session_lifetime_secs: None,
        inactivity_timeout_secs: None,
        created_by: Some(user),
        created_at: now,
        deleted_at: None,
    };
    accounts::insert_org(c, &org).await?;
    tenancy::set_tenant(c, OrgId(org.id)).await?;
    accounts::insert_membership(
        c,
        &Membership {
            org_id: org.id,
            user_id: user,
            role: "owner".into(),
            status: "active".into(),
            created_at: now,
            updated_at: now,
        },
    )
    .await?;
    audit::record(
        c,
        org.id,
        Some(user),
        "org.created",
        Some(org.id.to_string()),
        json!({"name": org.name}),
        origin,
    )
    .await?;
    bus::enqueue(
        c,
        OrgId(org.id),
        &OrgCreatedV1 {
            name: org.name.clone(),
            timezone: org.timezone.clone(),
            owner_user_id: user,
        },
    )
    .await?;
    Ok(org)
}

#[utoipa::path(post, path = "/api/auth/signup", request_body = SignupRequest,
    responses((status = 201, body = TokenResponse), (status = 409, description = "email already registered"), (status = 429)))]
#[post("/api/auth/signup")]
pub async fn signup(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: Json<SignupRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let ip = origin.ip.clone().unwrap_or_default();
    let per_ip = Limit {
        scope: "signup_ip",
        subject: &ip,
        max: st.settings.signup_per_ip_per_hour,
        window: std::time::Duration::from_secs(3600),
    };
    if let Some(retry) = st.limit_reached(&per_ip).await? {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: retry,
        });
    }
    st.limit_hit(&per_ip).await?;
    let (email, normalized) = email::parse(&body.email)
        .map_err(|m| ApiError::invalid("invalid_field", Some("email"), m))?;
    password::check_policy(&body.password)
        .map_err(|m| ApiError::invalid("weak_password", Some("password"), m))?;
    let org_name = check_org_name(&body.org_name)?;
    check_timezone(&body.org_timezone)?;
    let hash = st
        .hasher
        .hash(body.password)
        .await
        .map_err(ApiError::internal)?;
    let now = Utc::now();
    let user = User {
        id: Uuid::new_v4(),
        email,
        email_normalized: normalized,
        password_hash: Some(hash),
        display_name: body
            .display_name
            .map(|d| d.trim().chars().take(200).collect()),
        email_verified_at: None,
        created_at: now,
        updated_at: now,
    };
    let tz = body.org_timezone;
    let st2 = st.clone();
    let (org, session) = st
        .db
        .system_tx(|c| {
            let user = user.clone();
            let origin = origin.clone();
            Box::pin(async move {
                if accounts::user_by_email(c, &user.email_normalized)
                    .await?
                    .is_some()
                {
                    return Err(ApiError::Conflict {
                        code: "email_taken",
                        detail: "an account with this email exists; log in instead".into(),
                        extra: None,
                    });
                }
                accounts::insert_user(c, &user).await?;
                let org = create_org(c, user.id, org_name, tz, &origin).await?;
                audit::record(
                    c,
                    org.id,
                    Some(user.id),
                    "user.signup",
                    Some(user.id.to_string()),
                    json!({}),
                    &origin,
                )
                .await?;
                let session = st2.new_session(user.id, Some(org.id), "password", &origin, None)?;
                sessions::insert(c, &session).await?;
                crate::routes::recovery::queue_verification(c, &st2, user.id, &user.email).await?;
                Ok::<_, ApiError>((org, session))
            })
        })
        .await?;
    tracing::info!(user = %user.id, org = %org.id, "signup");
    let pair = st
        .token_pair(
            &user,
            &session,
            0,
            Some(OrgClaim {
                id: org.id,
                role: Role::Owner,
                mfa_required: false,
            }),
        )
        .await?;
    Ok(HttpResponse::Created().json(pair))
}

#[derive(Debug, Deserialize)]
pub struct GrantQuery {
    pub grant_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordGrant {
    email: String,
    password: String,
    org_id: Option<Uuid>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshGrant {
    refresh_token: String,
    /// Switch the session to another org the user belongs to.
    org_id: Option<Uuid>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientGrant {
    client_id: String,
    client_secret: String,
}

/// `POST /api/auth/token?grant_type=password|refresh_token|client_credentials` (JSON body).
#[utoipa::path(post, path = "/api/auth/token", params(("grant_type" = String, Query)),
    responses((status = 200, body = TokenResponse), (status = 400), (status = 401), (status = 429)))]
#[post("/api/auth/token")]
pub async fn token(
    st: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<GrantQuery>,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let raw = serde_json::to_vec(&body.into_inner()).map_err(ApiError::internal)?;
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let pair = match q.grant_type.as_str() {
        "password" => password_grant(&st, servicekit::json::parse(&raw)?, &origin).await?,
        "refresh_token" => refresh_grant(&st, servicekit::json::parse(&raw)?, &origin).await?,
        "client_credentials" => client_grant(&st, servicekit::json::parse(&raw)?).await?,
        other => {
            return Err(ApiError::BadRequest {
                code: "unsupported_grant_type",
                detail: format!(
                    "grant_type {other:?} is not one of password, refresh_token, client_credentials"
                ),
            });
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(pair))
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("invalid_credentials", "email or password is incorrect")
}

/// Audits `action` in every org the user belongs to.
pub async fn audit_user(
    st: &AppState,
    user: Uuid,
    action: &'static str,
    meta: serde_json::Value,
    origin: &Origin,
) -> Result<(), ApiError> {
    let orgs: Vec<Uuid> = crate::store::user_tx(&st.pool, user, |c| {
        Box::pin(async move {
            Ok::<_, ApiError>(
                accounts::memberships_of(c, user)
                    .await?
                    .into_iter()
                    .map(|(m, _)| m.org_id)
                    .collect(),
            )
        })
    })
    .await?;
    for org in orgs {
        let meta = meta.clone();
        let origin = origin.clone();
        st.db
            .tenant_tx(OrgId(org), |c| {
                Box::pin(async move {
                    audit::record(
                        c,
                        org,
                        Some(user),
                        action,
                        Some(user.to_string()),
                        meta,
                        &origin,
                    )
                    .await?;
                    Ok::<_, ApiError>(())
                })
            })
            .await?;
    }
    Ok(())
}

async fn password_grant(
    st: &AppState,
    g: PasswordGrant,
    origin: &Origin,
) -> Result<TokenResponse, ApiError> {
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
                Box::pin(async move { Ok::<_, ApiError>(accounts::user_by_email(c, &n).await?) })
            })
            .await?
    };
    for limit in [&per_account, &per_ip] {
        if let Some(retry) = st.limit_reached(limit).await? {
            metrics::counter!("auth_login_rate_limited_total", "scope" => limit.scope).increment(1);
            if let Some(u) = &user {
                audit_user(
                    st,
                    u.id,
                    "login.rate_limited",
                    json!({"scope": limit.scope}),
                    origin,
                )
                .await?;
            }
            return Err(ApiError::TooManyRequests {
                retry_after_secs: retry,
            });
        }
    }
    let ok = st
        .hasher
        .verify(
            g.password,
            user.as_ref().and_then(|u| u.password_hash.clone()),
        )
        .await
        .map_err(ApiError::internal)?;
    let known = user.as_ref().map(|u| u.id);
    let Some(user) = user.filter(|_| ok) else {
        st.limit_hit(&per_account).await?;
        st.limit_hit(&per_ip).await?;
        metrics::counter!("auth_login_failures_total").increment(1);
        if let Some(id) = known {
            audit_user(st, id, "login.failed", json!({}), origin).await?;
        }
        return Err(invalid_credentials());
    };
    st.limit_reset(&per_account).await?;
    let memberships = {
        let uid = user.id;
        crate::store::user_tx(&st.pool, uid, |c| {
            Box::pin(async move { Ok::<_, ApiError>(accounts::memberships_of(c, uid).await?) })
        })
        .await?
    };
    let chosen = match g.org_id {
        Some(id) => Some(
            memberships
                .iter()
                .find(|(m, _)| m.org_id == id)
                .ok_or_else(|| {
                    ApiError::forbidden(
                        "not_a_member",
                        "you are not an active member of that organization",
                    )
                })?,
        ),
        None => memberships.first(),
    };
    let lifetime = chosen.and_then(|(_, o)| o.session_lifetime_secs);
    let org = chosen.and_then(|(m, o)| OrgClaim::of(m, o));
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
                        tenancy::set_tenant(c, OrgId(org.id)).await?;
                        audit::record(
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
                    Ok::<_, ApiError>(())
                })
            })
            .await?;
    }
    st.token_pair(&user, &session, 0, org).await
}

async fn refresh_grant(
    st: &AppState,
    g: RefreshGrant,
    origin: &Origin,
) -> Result<TokenResponse, ApiError> {
    let invalid = || ApiError::unauthorized("invalid_refresh_token", "refresh token is invalid");
    let (presented, raw) = RefreshToken::parse(&g.refresh_token).ok_or_else(invalid)?;
    let grace = chrono::Duration::from_std(st.settings.refresh_grace).unwrap_or_default();
    let st2 = st.clone();
    let origin2 = origin.clone();
    enum Outcome {
        Issue(
            Box<(User, crate::store::sessions::Session)>,
            i64,
            Option<OrgClaim>,
        ),
        Reused(Vec<Uuid>),
        Idle(Vec<Uuid>),
    }
    let outcome = st
        .db
        .system_tx(|c| Box::pin(async move {
            let st = st2;
            let Some(session) = sessions::lock(c, presented.session_id).await? else {
                return Err(invalid());
            };
            let key = st.session_key(&session)?;
            if !RefreshToken::verify(&raw, &key) {
                return Err(invalid());
            }
            if session.revoked_at.is_some() {
                return Err(ApiError::unauthorized("session_revoked", "the session has ended; log in again"));
            }
            let now = Utc::now();
            if session.not_after.is_some_and(|t| t <= now) {
                return Err(ApiError::unauthorized("session_expired", "the session has expired; log in again"));
            }
            let Some(user) = accounts::user_by_id(c, session.user_id).await? else {
                return Err(invalid());
            };
            let within = now - session.refreshed_at <= grace;
            let counter = match classify(presented.counter, session.refresh_counter, within) {
                Presented::Forged => return Err(invalid()),
                Presented::Reused => {
                    let ids = sessions::revoke(c, session.user_id, Which::One(session.id), "refresh_token_reused").await?;
                    if let Some(org) = session.org_id {
                        tenancy::set_tenant(c, OrgId(org)).await?;
                        audit::record(c, org, Some(user.id), "refresh.reuse_detected", Some(session.id.to_string()), json!({"presented": presented.counter, "current": session.refresh_counter}), &origin2).await?;
                    }
                    return Ok(Outcome::Reused(ids));
                }
                Presented::JustRotated => session.refresh_counter,
                Presented::Current => session.refresh_counter + 1,
            };
            // Org: the requested one (org switch), else the session's, checked against live memberships.
            crate::store::set_user(c, user.id).await?;
            let memberships = accounts::memberships_of(c, user.id).await?;
            // The org's inactivity timeout: a session idle longer than that ends.
            let idle_limit = memberships
                .iter()
                .find(|(m, _)| Some(m.org_id) == session.org_id)
                .and_then(|(_, o)| o.inactivity_timeout_secs);
            if let Some(limit) = idle_limit
                && now - session.refreshed_at > chrono::Duration::seconds(limit.into())
            {
                let ids = sessions::revoke(c, user.id, Which::One(session.id), "inactivity_timeout").await?;
                if let Some(org) = session.org_id {
                    tenancy::set_tenant(c, OrgId(org)).await?;
                    audit::record(c, org, Some(user.id), "session.revoked", Some(session.id.to_string()), json!({"reason": "inactivity_timeout", "limit_secs": limit}), &origin2).await?;
                }
                return Ok(Outcome::Idle(ids));
            }
            let wanted = if counter == session.refresh_counter { session.org_id } else { g.org_id.or(session.org_id) };
            let org = match wanted {
                Some(id) => match memberships.iter().find(|(m, _)| m.org_id == id) {
                    Some((m, o)) => OrgClaim::of(m, o),
                    None if g.org_id == Some(id) => return Err(ApiError::forbidden("not_a_member", "you are not an active member of that organization")),
                    None => None,
                },
                None => None,
            };
            if counter != session.refresh_counter {
                sessions::rotated(c, session.id, counter, org.map(|o| o.id)).await?;
            }
            Ok(Outcome::Issue(Box::new((user, session)), counter, org))
        }))
        .await?;
    match outcome {
        Outcome::Issue(found, counter, org) => {
            st.token_pair(&found.0, &found.1, counter, org).await
        }
        Outcome::Idle(ids) => {
            st.publish_revocations(&ids).await?;
            Err(ApiError::unauthorized(
                "session_expired",
                "the session was inactive for too long; log in again",
            ))
        }
        Outcome::Reused(ids) => {
            st.publish_revocations(&ids).await?;
            metrics::counter!("auth_refresh_reuse_total").increment(1);
            tracing::warn!(sessions = ?ids, "refresh token reuse: session revoked");
            Err(ApiError::unauthorized(
                "refresh_token_already_used",
                "this refresh token was already used; the session has been ended",
            ))
        }
    }
}

async fn client_grant(st: &AppState, g: ClientGrant) -> Result<TokenResponse, ApiError> {
    use secrecy::ExposeSecret as _;
    let digest = |s: &str| ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let given = digest(&g.client_secret);
    let client = st.settings.service_clients.iter().find(|c| {
        c.name == g.client_id
            && constant_time_eq(digest(c.secret.expose_secret()).as_ref(), given.as_ref())
    });
    match client {
        Some(c) => st.service_token(&c.name).await,
        None => {
            metrics::counter!("auth_client_credentials_failures_total").increment(1);
            Err(ApiError::unauthorized(
                "invalid_client",
                "client authentication failed",
            ))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LogoutQuery {
    pub scope: Option<String>,
}

/// `POST /api/auth/logout?scope=local|global|others` (default `local`).
#[utoipa::path(post, path = "/api/auth/logout", responses((status = 204)))]
#[post("/api/auth/logout")]
pub async fn logout(
    st: web::Data<AppState>,
    req: HttpRequest,
    Aal1Tenant(tenant): Aal1Tenant,
    q: web::Query<LogoutQuery>,
) -> Result<HttpResponse, ApiError> {
    let current = tenant.session_id().0;
    let which = match q.scope.as_deref().unwrap_or("local") {
        "local" => Which::One(current),
        "others" => Which::AllBut(current),
        "global" => Which::All,
        other => {
            return Err(ApiError::invalid(
                "invalid_field",
                Some("scope"),
                format!("scope {other:?} is not local, others or global"),
            ));
        }
    };
    let user = tenant.user_id().0;
    let org = tenant.org_id();
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let scope = q.scope.clone().unwrap_or_else(|| "local".into());
    let ids = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                let ids = sessions::revoke(c, user, which, "logout").await?;
                audit::record(
                    c,
                    org.0,
                    Some(user),
                    "logout",
                    Some(current.to_string()),
                    json!({"scope": scope, "sessions": ids.len()}),
                    &origin,
                )
                .await?;
                Ok::<_, ApiError>(ids)
            })
        })
        .await?;
    st.publish_revocations(&ids).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/auth/user", responses((status = 200)))]
#[get("/api/auth/user")]
pub async fn get_user(
    st: web::Data<AppState>,
    Aal1Tenant(tenant): Aal1Tenant,
) -> Result<HttpResponse, ApiError> {
    user_view(&st, &tenant).await
}

async fn user_view(st: &AppState, tenant: &Tenant) -> Result<HttpResponse, ApiError> {
    let uid = tenant.user_id().0;
    let (user, memberships) = crate::store::user_tx(&st.pool, uid, |c| {
        Box::pin(async move {
            let user = accounts::user_by_id(c, uid)
                .await?
                .ok_or_else(|| ApiError::not_found("user"))?;
            let ms = accounts::memberships_of(c, uid).await?;
            Ok::<_, ApiError>((user, ms))
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "id": user.id, "email": user.email, "display_name": user.display_name,
        "email_verified": user.email_verified_at.is_some(), "created_at": user.created_at,
        "org_id": tenant.org_id().0, "org_role": tenant.role(), "aal": tenant.aal(), "session_id": tenant.session_id().0,
        "organizations": memberships.iter().map(|(m, o)| json!({"id": o.id, "name": o.name, "role": m.role})).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// `null` clears it.
    #[serde(default, deserialize_with = "crate::routes::present")]
    pub display_name: Option<Option<String>>,
    pub password: Option<String>,
    pub current_password: Option<String>,
}

#[utoipa::path(put, path = "/api/auth/user", request_body = UpdateUser, responses((status = 200)))]
#[put("/api/auth/user")]
pub async fn put_user(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    body: Json<UpdateUser>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let uid = tenant.user_id().0;
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let mut new_hash = None;
    if let Some(pw) = body.password {
        let current = body.current_password.ok_or_else(|| {
            ApiError::invalid(
                "missing_field",
                Some("current_password"),
                "changing the password requires the current password",
            )
        })?;
        password::check_policy(&pw)
            .map_err(|m| ApiError::invalid("weak_password", Some("password"), m))?;
        let stored = st
            .db
            .system_tx(|c| {
                Box::pin(async move { Ok::<_, ApiError>(accounts::user_by_id(c, uid).await?) })
            })
            .await?
            .and_then(|u| u.password_hash);
        if !st
            .hasher
            .verify(current, stored)
            .await
            .map_err(ApiError::internal)?
        {
            return Err(ApiError::unauthorized(
                "invalid_credentials",
                "the current password is incorrect",
            ));
        }
        new_hash = Some(st.hasher.hash(pw).await.map_err(ApiError::internal)?);
    }
    let display_name = body
        .display_name
        .map(|o| o.map(|d| d.trim().chars().take(200).collect::<String>()));
    let changed_password = new_hash.is_some();
    let current = tenant.session_id().0;
    let org = tenant.org_id();
    let revoked = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                accounts::update_profile(c, uid, display_name, new_hash).await?;
                let mut revoked = Vec::new();
                if changed_password {
                    revoked = sessions::revoke(c, uid, Which::AllBut(current), "password_changed")
                        .await?;
                    audit::record(
                        c,
                        org.0,
                        Some(uid),
                        "password.changed",
                        Some(uid.to_string()),
                        json!({"sessions_revoked": revoked.len()}),
                        &origin,
                    )
                    .await?;
                }
                Ok::<_, ApiError>(revoked)
            })
        })
        .await?;
    st.publish_revocations(&revoked).await?;
    user_view(&st, &tenant).await
}

//! Organizations: mine, create, one, and the validate endpoint other parts of the product use.

use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use serde::Deserialize;
use serde_json::json;
use servicekit::{ApiError, Json};
use tenancy::Tenant;
use uuid::Uuid;

use crate::routes::account::{check_org_name, check_timezone, create_org};
use crate::routes::origin;
use crate::state::AppState;
use crate::store::accounts;

fn parse_org_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse::<Uuid>().map_err(|_| ApiError::BadRequest {
        code: "invalid_org_id",
        detail: format!("{raw:?} is not an organization id (a UUID)"),
    })
}

#[utoipa::path(get, path = "/api/orgs", responses((status = 200)))]
#[get("/api/orgs")]
pub async fn mine(st: web::Data<AppState>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    let uid = tenant.user_id().0;
    let ms = crate::store::user_tx(&st.pool, uid, |c| {
        Box::pin(async move { Ok::<_, ApiError>(accounts::memberships_of(c, uid).await?) })
    })
    .await?;
    let items: Vec<_> = ms
        .iter()
        .map(|(m, o)| json!({"id": o.id, "name": o.name, "timezone": o.timezone, "role": m.role, "current": o.id == tenant.org_id().0}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    pub name: String,
    pub timezone: String,
}

/// Creates an org owned by the caller; refresh with `org_id` to switch to it.
#[utoipa::path(post, path = "/api/orgs", request_body = CreateOrg, responses((status = 201)))]
#[post("/api/orgs")]
pub async fn create(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    body: Json<CreateOrg>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = check_org_name(&body.name)?;
    check_timezone(&body.timezone).map_err(|_| {
        ApiError::invalid(
            "invalid_field",
            Some("timezone"),
            "must be an IANA time zone such as America/New_York",
        )
    })?;
    let uid = tenant.user_id().0;
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let org = st
        .db
        .system_tx(|c| {
            Box::pin(async move { create_org(c, uid, name, body.timezone, &origin).await })
        })
        .await?;
    Ok(HttpResponse::Created().json(json!({"id": org.id, "name": org.name, "timezone": org.timezone, "role": "owner", "created_at": org.created_at})))
}

/// An org the caller belongs to; any other id is 404, whether it exists or not.
#[utoipa::path(get, path = "/api/orgs/{id}", responses((status = 200), (status = 404)))]
#[get("/api/orgs/{id}")]
pub async fn get(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_org_id(&id)?;
    let uid = tenant.user_id().0;
    let ms = crate::store::user_tx(&st.pool, uid, |c| {
        Box::pin(async move { Ok::<_, ApiError>(accounts::memberships_of(c, uid).await?) })
    })
    .await?;
    let (m, o) = ms
        .iter()
        .find(|(_, o)| o.id == id)
        .ok_or_else(|| ApiError::not_found("organization"))?;
    Ok(HttpResponse::Ok().json(
        json!({"id": o.id, "name": o.name, "timezone": o.timezone, "role": m.role,
        "require_mfa": o.require_mfa, "session_lifetime_secs": o.session_lifetime_secs,
        "inactivity_timeout_secs": o.inactivity_timeout_secs, "created_at": o.created_at}),
    ))
}

/// 200 when the token's org is `orgId` and the caller's membership there is active; 403 for
/// another org (or a membership that ended); 400 for a malformed id.
#[utoipa::path(get, path = "/api/orgs/validate/{orgId}", responses((status = 200), (status = 400), (status = 403)))]
#[get("/api/orgs/validate/{org_id}")]
pub async fn validate(
    st: web::Data<AppState>,
    tenant: Tenant,
    org_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_org_id(&org_id)?;
    let forbidden =
        || ApiError::forbidden("org_mismatch", "the token is not for this organization");
    if tenant.org_id().0 != id {
        return Err(forbidden());
    }
    let uid = tenant.user_id().0;
    let org = tenant.org_id();
    let active = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move { Ok::<_, ApiError>(accounts::memberships_of(c, uid).await?) })
        })
        .await?;
    let (m, _) = active.first().ok_or_else(forbidden)?;
    Ok(HttpResponse::Ok().json(json!({"valid": true, "org_id": id, "role": m.role})))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicy {
    pub require_mfa: Option<bool>,
    /// Absolute session lifetime in seconds (`null`: the service default).
    #[serde(default, deserialize_with = "crate::routes::present")]
    pub session_lifetime_secs: Option<Option<i32>>,
    /// Sessions not refreshed for this long end (`null`: no inactivity timeout).
    #[serde(default, deserialize_with = "crate::routes::present")]
    pub inactivity_timeout_secs: Option<Option<i32>>,
}

/// The org's security policy (admins and owners of that org). Members' tokens carry the new
/// policy from their next refresh.
#[utoipa::path(patch, path = "/api/orgs/{id}", request_body = UpdatePolicy, responses((status = 200), (status = 403), (status = 404)))]
#[patch("/api/orgs/{id}")]
pub async fn update(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    id: web::Path<String>,
    body: Json<UpdatePolicy>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_org_id(&id)?;
    if tenant.org_id().0 != id {
        return Err(ApiError::not_found("organization"));
    }
    tenant.require(tenancy::Role::Admin)?;
    let b = body.into_inner();
    // The inactivity floor is a setting (AUTH_MIN_INACTIVITY_SECS, 300 unless a test lowers it).
    let min_inactivity = i32::try_from(st.settings.min_inactivity_secs).unwrap_or(300);
    for (field, v, min) in [
        ("session_lifetime_secs", b.session_lifetime_secs, 300),
        (
            "inactivity_timeout_secs",
            b.inactivity_timeout_secs,
            min_inactivity,
        ),
    ] {
        if let Some(Some(n)) = v
            && !(min..=365 * 86400).contains(&n)
        {
            return Err(ApiError::invalid(
                "invalid_field",
                Some(field),
                format!("must be {min} seconds to 365 days"),
            ));
        }
    }
    let (uid, org) = (tenant.user_id().0, tenant.org_id());
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let meta = json!({"require_mfa": b.require_mfa, "session_lifetime_secs": b.session_lifetime_secs, "inactivity_timeout_secs": b.inactivity_timeout_secs});
    st.db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                accounts::update_policy(
                    c,
                    id,
                    b.require_mfa,
                    b.session_lifetime_secs,
                    b.inactivity_timeout_secs,
                )
                .await?;
                crate::store::audit::record(
                    c,
                    id,
                    Some(uid),
                    "org.policy_changed",
                    Some(id.to_string()),
                    meta,
                    &origin,
                )
                .await?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({"id": id, "updated": true})))
}

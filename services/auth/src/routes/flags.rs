//! Feature flags of the caller's org: effective values, and overrides by its admins (audited).
//! Every evaluation is written to the Redis cache other services read (`tenancy::flags`).

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, put, web};
use serde::Deserialize;
use serde_json::json;
use servicekit::{ApiError, Json};
use tenancy::flags::{Cached, evaluate};
use tenancy::{OrgId, Role, Tenant};

use crate::routes::origin;
use crate::state::AppState;
use crate::store::{audit, flags};

/// Evaluates `org`'s flags from the database and refreshes the cache.
pub async fn evaluate_and_cache(
    st: &AppState,
    org: OrgId,
) -> Result<BTreeMap<String, bool>, ApiError> {
    // Read the generation first: a global change after this point makes the entry stale, never wrong.
    let generation = st
        .flags
        .generation()
        .await
        .map_err(|e| ApiError::unavailable("redis_unavailable", e))?;
    let (defs, overrides) = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                Ok::<_, ApiError>((flags::all(c).await?, flags::overrides(c, org.0).await?))
            })
        })
        .await?;
    let effective: BTreeMap<String, bool> = defs
        .iter()
        .map(|f| {
            (
                f.key.clone(),
                evaluate(
                    &f.key,
                    org.0,
                    f.default_enabled,
                    f.rollout_percent.clamp(0, 100) as u8,
                    overrides.get(&f.key).copied(),
                ),
            )
        })
        .collect();
    st.flags
        .store(
            org,
            &Cached {
                generation,
                flags: effective.clone(),
            },
        )
        .await
        .map_err(|e| ApiError::unavailable("redis_unavailable", e))?;
    Ok(effective)
}

#[utoipa::path(get, path = "/api/auth/flags", responses((status = 200)))]
#[get("/api/auth/flags")]
pub async fn list(st: web::Data<AppState>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    let flags = evaluate_and_cache(&st, tenant.org_id()).await?;
    Ok(HttpResponse::Ok().json(json!({ "org_id": tenant.org_id().0, "flags": flags })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetOverride {
    /// `true`/`false` pins the flag for this org; `null` returns it to the global rule.
    pub enabled: Option<bool>,
}

#[utoipa::path(put, path = "/api/auth/flags/{key}", request_body = SetOverride, responses((status = 200), (status = 403), (status = 404)))]
#[put("/api/auth/flags/{key}")]
pub async fn set_override(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    key: web::Path<String>,
    body: Json<SetOverride>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let key = key.into_inner();
    let enabled = body.into_inner().enabled;
    let (org, user) = (tenant.org_id(), tenant.user_id().0);
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let k = key.clone();
    st.db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                if !flags::exists(c, &k).await? {
                    return Err(ApiError::not_found("flag"));
                }
                flags::set_override(c, org.0, &k, enabled, user).await?;
                audit::record(
                    c,
                    org.0,
                    Some(user),
                    "flag.override_changed",
                    Some(k.clone()),
                    json!({"enabled": enabled}),
                    &origin,
                )
                .await?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    let flags = evaluate_and_cache(&st, org).await?;
    Ok(HttpResponse::Ok().json(json!({ "org_id": org.0, "flags": flags })))
}

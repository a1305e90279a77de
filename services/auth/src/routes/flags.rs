//! Feature flags of the caller's org: effective values, and overrides by its admins (audited).

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use servicekit::{ApiError, Json};
use tenancy::{OrgId, Role, Tenant};

use crate::core::flags;
use crate::routes::problem::origin;
use crate::state::AppState;

/// The org's effective flags.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlagsView {
    #[schema(value_type = Uuid)]
    pub org_id: OrgId,
    pub flags: BTreeMap<String, bool>,
}

#[utoipa::path(get, path = "/api/auth/flags", operation_id = "list_flags", security(("bearer" = [])),
    responses((status = 200, description = "the org's effective flags", body = FlagsView)))]
pub async fn list(st: web::Data<AppState>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    let org_id = tenant.org_id();
    let flags = flags::evaluate_and_cache(&st, org_id).await?;
    Ok(HttpResponse::Ok().json(FlagsView { org_id, flags }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetOverride {
    /// `true`/`false` pins the flag for this org; `null` returns it to the global rule.
    pub enabled: Option<bool>,
}

#[utoipa::path(put, path = "/api/auth/flags/{key}", operation_id = "set_flag_override", security(("bearer" = [])), request_body = SetOverride,
    params(("key" = String, Path, description = "a flag's key")),
    responses((status = 200, description = "the org's effective flags after the change", body = FlagsView),
              (status = 403, description = "insufficient_role: admins and owners only"),
              (status = 404, description = "no such flag")))]
pub async fn set_override(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    key: web::Path<String>,
    body: Json<SetOverride>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let org = tenant.org_id();
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let flags = flags::set_override(
        &st,
        org,
        tenant.user_id(),
        key.into_inner(),
        body.into_inner().enabled,
        &origin,
    )
    .await?;
    Ok(HttpResponse::Ok().json(FlagsView { org_id: org, flags }))
}

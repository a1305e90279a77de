//! `/api/calendar/settings`: the clinic's zone, hours, overrides and booking rules. Any org role
//! reads them; an admin replaces them (PUT: the whole document).

use actix_web::{HttpResponse, web};
use servicekit::{ApiError, Json};
use tenancy::{Role, Tenant};

use crate::core::settings;
use crate::domain::settings::SettingsDoc;
use crate::state::AppState;

/// The clinic's settings (defaults in UTC until an admin or `org.created.v1` stores them).
#[utoipa::path(get, path = "/api/calendar/settings", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = SettingsDoc)))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn get_settings(
    st: web::Data<AppState>,
    tenant: Tenant,
) -> Result<HttpResponse, ApiError> {
    let s = settings::get(&st.db, tenant.org_id()).await?;
    Ok(HttpResponse::Ok().json(SettingsDoc::from(&s)))
}

/// Replace the settings (admin).
#[utoipa::path(put, path = "/api/calendar/settings", tag = "settings", request_body = SettingsDoc,
    security(("bearer" = [])),
    responses((status = 200, body = SettingsDoc), (status = 422, description = "invalid field")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn put_settings(
    st: web::Data<AppState>,
    tenant: Tenant,
    body: Json<SettingsDoc>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let s = body.into_inner().validate()?;
    let s = settings::replace(&st.db, tenant.org_id(), s).await?;
    Ok(HttpResponse::Ok().json(SettingsDoc::from(&s)))
}

//! `/api/calendar/providers`: the people or rooms the clinic books (issue 15, ADR 0021). Any
//! org role reads them; changing them needs admin.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Deserializer};
use servicekit::page::{Page, PageRequest};
use servicekit::{ApiError, Json};
use tenancy::{Role, Tenant};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::problem::ProviderView;
use crate::core::providers;
use crate::domain::provider::{
    ProviderHours, ProviderPatch, ProviderSpec, validate_google_calendar_id, validate_name,
    validate_overrides, validate_service_ids, validate_weekly,
};
use crate::domain::settings::{DateOverride, TimeRange};
use crate::state::AppState;
use crate::store::providers::ListProviders;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProviderRequest {
    /// 1–120 characters, unique in the org (case-insensitive), e.g. `Dr. Anika Patel`.
    pub name: String,
    /// Default true.
    pub active: Option<bool>,
    /// Omitted or null: the clinic's weekly hours. Else `monday` … `sunday` → ranges
    /// (`{"start": "09:00", "end": "13:00"}`); a missing or empty day is the provider's day off.
    pub weekly_hours: Option<BTreeMap<String, Vec<TimeRange>>>,
    /// The provider's own date overrides (empty `hours` = not working that date).
    pub date_overrides: Option<Vec<DateOverride>>,
    /// Omitted or null: every service; else the services this provider provides (1–200).
    pub service_ids: Option<Vec<Uuid>>,
    /// The provider's own Google calendar (stored; see ADR 0021 for what uses it).
    pub google_calendar_id: Option<String>,
}

/// A field that is present (even as `null`) becomes `Some(..)`; an absent one stays `None`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The fields to change; omitted fields stay as they are (at least one is required).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProviderRequest {
    pub name: Option<String>,
    pub active: Option<bool>,
    /// Ranges per weekday, or `null` to follow the clinic's hours again.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BTreeMap<String, Vec<TimeRange>>>, nullable)]
    pub weekly_hours: Option<Option<BTreeMap<String, Vec<TimeRange>>>>,
    /// Replaces the provider's date overrides.
    pub date_overrides: Option<Vec<DateOverride>>,
    /// The services it provides, or `null` for every service.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<Uuid>>, nullable)]
    pub service_ids: Option<Option<Vec<Uuid>>>,
    /// A Google calendar id, or `null` to clear it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub google_calendar_id: Option<Option<String>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListProvidersQuery {
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub active: Option<bool>,
    /// Only providers that provide this service.
    pub service_id: Option<Uuid>,
}

/// Add a provider (admin). The org's default provider ("Clinic") stays: deactivate it to book
/// only named providers.
#[utoipa::path(post, path = "/api/calendar/providers", tag = "providers", request_body = CreateProviderRequest,
    security(("bearer" = [])),
    responses((status = 201, body = ProviderView), (status = 409, description = "provider_name_taken: the name is already used"),
        (status = 422, description = "invalid_field (a bad value, or a service that is not the clinic's)")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn create_provider(
    st: web::Data<AppState>,
    tenant: Tenant,
    body: Json<CreateProviderRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let b = body.into_inner();
    let spec = ProviderSpec {
        name: validate_name(&b.name)?,
        active: b.active.unwrap_or(true),
        hours: ProviderHours {
            weekly: validate_weekly(b.weekly_hours.as_ref())?,
            overrides: validate_overrides(b.date_overrides.as_deref().unwrap_or_default())?,
        },
        service_ids: validate_service_ids(b.service_ids)?,
        google_calendar_id: validate_google_calendar_id(b.google_calendar_id.as_deref())?,
    };
    let row = providers::create(&st.db, tenant.org_id(), spec).await?;
    Ok(HttpResponse::Created().json(ProviderView::from(row)))
}

/// List the providers, oldest first, with cursor pagination (the default provider is created
/// on first use, so it is always listed).
#[utoipa::path(get, path = "/api/calendar/providers", tag = "providers", params(ListProvidersQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<ProviderView>), (status = 422, description = "invalid_query: limit or cursor")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn list_providers(
    st: web::Data<AppState>,
    tenant: Tenant,
    query: web::Query<ListProvidersQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let list = ListProviders {
        active: q.active,
        service_id: q.service_id,
        after: page.after,
        limit: page.fetch_limit(),
    };
    let rows = providers::list(&st.db, tenant.org_id(), list).await?;
    Ok(HttpResponse::Ok().json(page.page(rows, |r| (r.created_at, r.id), ProviderView::from)))
}

/// One provider by id.
#[utoipa::path(get, path = "/api/calendar/providers/{id}", tag = "providers",
    params(("id" = Uuid, Path, description = "the provider")), security(("bearer" = [])),
    responses((status = 200, body = ProviderView), (status = 404, description = "no such provider in this org")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn get_provider(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = providers::get(&st.db, tenant.org_id(), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ProviderView::from(row)))
}

/// Change a provider (admin). Appointments already booked keep their provider and times.
#[utoipa::path(patch, path = "/api/calendar/providers/{id}", tag = "providers", request_body = UpdateProviderRequest,
    params(("id" = Uuid, Path, description = "the provider")), security(("bearer" = [])),
    responses((status = 200, body = ProviderView),
        (status = 404, description = "no such provider in this org"),
        (status = 409, description = "provider_name_taken: the name is already used"),
        (status = 422, description = "invalid_field (a bad value, or an empty body)")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn update_provider(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
    body: Json<UpdateProviderRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let b = body.into_inner();
    let patch = ProviderPatch {
        name: b.name.as_deref().map(validate_name).transpose()?,
        active: b.active,
        weekly: b
            .weekly_hours
            .map(|w| validate_weekly(w.as_ref()))
            .transpose()?,
        overrides: b
            .date_overrides
            .as_deref()
            .map(validate_overrides)
            .transpose()?,
        service_ids: b.service_ids.map(validate_service_ids).transpose()?,
        google_calendar_id: b
            .google_calendar_id
            .map(|g| validate_google_calendar_id(g.as_deref()))
            .transpose()?,
    };
    if patch.is_empty() {
        return Err(ApiError::invalid(
            "invalid_field",
            None,
            "send at least one field to change",
        ));
    }
    let row = providers::update(&st.db, tenant.org_id(), id.into_inner(), patch).await?;
    Ok(HttpResponse::Ok().json(ProviderView::from(row)))
}

/// Delete a provider nobody has booked (admin); one with appointments answers 409
/// `provider_has_appointments` (deactivate it instead).
#[utoipa::path(delete, path = "/api/calendar/providers/{id}", tag = "providers",
    params(("id" = Uuid, Path, description = "the provider")), security(("bearer" = [])),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such provider in this org"),
        (status = 409, description = "provider_has_appointments")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn delete_provider(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    providers::delete(&st.db, tenant.org_id(), id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

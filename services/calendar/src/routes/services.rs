//! `/api/calendar/services`: the clinic's catalog. Reading needs any org role; changing it needs
//! admin. Every query runs in the caller's tenant transaction. Services are archived, never
//! deleted: past appointments keep theirs.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Deserializer};
use servicekit::page::{Page, PageRequest};
use servicekit::{ApiError, Json};
use tenancy::{Role, Tenant};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::problem::ServiceView;
use crate::core::catalog;
use crate::domain::service::{NewService, ServicePatch};
use crate::state::AppState;
use crate::store::services::ListServices;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceRequest {
    pub name: String,
    pub description: Option<String>,
    pub duration_minutes: i32,
    pub price_cents: Option<i64>,
    pub currency: Option<String>,
    /// 0–240; omitted or null = the clinic's `default_buffer_before_minutes`.
    pub buffer_before_minutes: Option<i32>,
    /// 0–240; omitted or null = the clinic's `default_buffer_after_minutes`.
    pub buffer_after_minutes: Option<i32>,
    pub active: Option<bool>,
}

/// A field that is present (even as `null`) becomes `Some(..)`; an absent one stays `None`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i32>>, D::Error> {
    Option::<i32>::deserialize(d).map(Some)
}

/// The fields to change; omitted fields stay as they are (at least one is required).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateServiceRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub duration_minutes: Option<i32>,
    pub price_cents: Option<i64>,
    pub currency: Option<String>,
    /// 0–240, or `null` to use the clinic's default again.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>, nullable)]
    pub buffer_before_minutes: Option<Option<i32>>,
    /// 0–240, or `null` to use the clinic's default again.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>, nullable)]
    pub buffer_after_minutes: Option<Option<i32>>,
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListServicesQuery {
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub active: Option<bool>,
    /// Also list archived services (default false).
    pub include_archived: Option<bool>,
    /// Case-insensitive substring of the name.
    pub q: Option<String>,
}

/// Create a service (admin).
#[utoipa::path(post, path = "/api/calendar/services", tag = "services", request_body = CreateServiceRequest,
    security(("bearer" = [])),
    responses((status = 201, body = ServiceView), (status = 409, description = "service_name_taken: the name is already used"),
        (status = 422, description = "invalid_field")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn create_service(
    st: web::Data<AppState>,
    tenant: Tenant,
    body: Json<CreateServiceRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let b = body.into_inner();
    let new = NewService::validate(
        &b.name,
        b.description.as_deref(),
        b.duration_minutes,
        b.price_cents,
        b.currency.as_deref(),
        b.buffer_before_minutes,
        b.buffer_after_minutes,
        b.active,
    )?;
    let row = catalog::create(&st.db, tenant.org_id(), new).await?;
    Ok(HttpResponse::Created().json(ServiceView::from(row)))
}

/// List the catalog, oldest first, with cursor pagination.
#[utoipa::path(get, path = "/api/calendar/services", tag = "services", params(ListServicesQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<ServiceView>), (status = 422, description = "invalid_query: limit, cursor or q")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn list_services(
    st: web::Data<AppState>,
    tenant: Tenant,
    query: web::Query<ListServicesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let search = q.q.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 200) {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("q"),
            "q must be at most 200 characters",
        ));
    }
    let list = ListServices {
        active: q.active,
        include_archived: q.include_archived.unwrap_or(false),
        search,
        after: page.after,
        limit: page.fetch_limit(),
    };
    let rows = catalog::list(&st.db, tenant.org_id(), list).await?;
    Ok(HttpResponse::Ok().json(page.page(rows, |r| (r.created_at, r.id), ServiceView::from)))
}

/// Change a service (admin). Appointments already booked keep their times and buffers.
#[utoipa::path(patch, path = "/api/calendar/services/{id}", tag = "services", request_body = UpdateServiceRequest,
    params(("id" = Uuid, Path, description = "the service")), security(("bearer" = [])),
    responses((status = 200, body = ServiceView),
        (status = 404, description = "no such service in this org (or it is archived)"),
        (status = 409, description = "service_name_taken: the name is already used"),
        (status = 422, description = "invalid_field (a bad value, or an empty body)")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn update_service(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
    body: Json<UpdateServiceRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let b = body.into_inner();
    let patch = ServicePatch::validate(
        b.name.as_deref(),
        b.description.as_deref(),
        b.duration_minutes,
        b.price_cents,
        b.currency.as_deref(),
        b.buffer_before_minutes,
        b.buffer_after_minutes,
        b.active,
    )?;
    let row = catalog::update(&st.db, tenant.org_id(), id.into_inner(), patch).await?;
    Ok(HttpResponse::Ok().json(ServiceView::from(row)))
}

/// One service by id (archived ones too).
#[utoipa::path(get, path = "/api/calendar/services/{id}", tag = "services",
    params(("id" = Uuid, Path, description = "the service")), security(("bearer" = [])),
    responses((status = 200, body = ServiceView), (status = 404, description = "no such service in this org")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn get_service(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = catalog::get(&st.db, tenant.org_id(), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ServiceView::from(row)))
}

/// Archive a service (admin): it is no longer listed (unless `include_archived=true`), offered
/// or bookable; appointments keep it. Archiving twice answers 204 again.
#[utoipa::path(delete, path = "/api/calendar/services/{id}", tag = "services",
    params(("id" = Uuid, Path, description = "the service")), security(("bearer" = [])),
    responses((status = 204, description = "archived"), (status = 404, description = "no such service in this org")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn delete_service(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    catalog::archive(&st.db, tenant.org_id(), id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

//! `/api/calendar/services`: the clinic's catalog. Reading needs any org role; changing it needs
//! admin. Every query runs in the caller's tenant transaction.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::{ApiError, Json};
use tenancy::{Db, Role, Tenant};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::service::NewService;
use crate::store::services::{self as store, ListServices, ServiceRow};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceRequest {
    pub name: String,
    pub description: Option<String>,
    pub duration_minutes: i32,
    pub price_cents: Option<i64>,
    pub currency: Option<String>,
    pub buffer_before_minutes: Option<i32>,
    pub buffer_after_minutes: Option<i32>,
    pub active: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub duration_minutes: i32,
    pub price_cents: i64,
    pub currency: String,
    pub buffer_before_minutes: i32,
    pub buffer_after_minutes: i32,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ServiceRow> for ServiceView {
    fn from(r: ServiceRow) -> Self {
        ServiceView {
            id: r.id,
            name: r.name,
            description: r.description,
            duration_minutes: r.duration_minutes,
            price_cents: r.price_cents,
            currency: r.currency,
            buffer_before_minutes: r.buffer_before_minutes,
            buffer_after_minutes: r.buffer_after_minutes,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServicePage {
    pub items: Vec<ServiceView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListServicesQuery {
    /// 1–100, default 50.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    pub active: Option<bool>,
    /// Case-insensitive substring of the name.
    pub q: Option<String>,
}

/// Create a service (admin).
#[utoipa::path(post, path = "/api/calendar/services", tag = "services", request_body = CreateServiceRequest,
    responses((status = 201, body = ServiceView), (status = 409, description = "name already used"), (status = 422, description = "invalid field")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn create_service(
    db: web::Data<Db>,
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
    let org = tenant.org_id();
    let row = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::insert_service(tx, org, &new)
                    .await
                    .map_err(name_taken)
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(ServiceView::from(row)))
}

/// List the catalog, oldest first, with cursor pagination.
#[utoipa::path(get, path = "/api/calendar/services", tag = "services", params(ListServicesQuery),
    responses((status = 200, body = ServicePage)))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn list_services(
    db: web::Data<Db>,
    tenant: Tenant,
    query: web::Query<ListServicesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("limit"),
            "limit must be between 1 and 100",
        ));
    }
    let after = q
        .cursor
        .as_deref()
        .map(servicekit::cursor::decode)
        .transpose()?;
    let search = q.q.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 200) {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("q"),
            "q must be at most 200 characters",
        ));
    }
    // One extra row tells whether another page exists.
    let list = ListServices {
        active: q.active,
        search,
        after,
        limit: limit + 1,
    };
    let org = tenant.org_id();
    let mut rows = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::list_services(tx, org, &list)
                    .await
                    .map_err(ApiError::from)
            })
        })
        .await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last()
            .map(|r| servicekit::cursor::encode(r.created_at, r.id))
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(ServicePage {
        items: rows.into_iter().map(ServiceView::from).collect(),
        next_cursor,
    }))
}

/// One service by id.
#[utoipa::path(get, path = "/api/calendar/services/{id}", tag = "services",
    responses((status = 200, body = ServiceView), (status = 404, description = "no such service in this org")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn get_service(
    db: web::Data<Db>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = (tenant.org_id(), id.into_inner());
    let row = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::find_service(tx, org, id)
                    .await
                    .map_err(ApiError::from)
            })
        })
        .await?;
    row.map(|r| HttpResponse::Ok().json(ServiceView::from(r)))
        .ok_or_else(|| ApiError::not_found("service"))
}

/// Delete a service (admin).
#[utoipa::path(delete, path = "/api/calendar/services/{id}", tag = "services",
    responses((status = 204), (status = 404, description = "no such service in this org")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn delete_service(
    db: web::Data<Db>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let (org, id) = (tenant.org_id(), id.into_inner());
    let deleted = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::delete_service(tx, org, id)
                    .await
                    .map_err(ApiError::from)
            })
        })
        .await?;
    if deleted {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("service"))
    }
}

fn name_taken(e: diesel::result::Error) -> ApiError {
    match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => ApiError::Conflict {
            code: "service_name_taken",
            detail: "this org already has a service with that name".into(),
            extra: None,
        },
        other => other.into(),
    }
}

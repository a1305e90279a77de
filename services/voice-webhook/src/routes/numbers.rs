//! `/api/voice/numbers`: the org's phone numbers and which agent answers each. Reading needs any
//! role, changing needs admin.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::page::{Page, PageQuery, PageRequest};
use servicekit::{ApiError, Json};
use tenancy::{Role, Tenant};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::core::numbers::{self, NumberInput};
use crate::state::VoiceState;
use crate::store::numbers::NumberRow;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NumberRequest {
    /// E.164, e.g. `+15550123400`.
    pub number: String,
    pub label: Option<String>,
    /// Vapi's id of this phone number, when it is imported into Vapi.
    pub vapi_phone_number_id: Option<String>,
    /// The agent answering this number; the org's default agent when absent.
    pub agent_id: Option<Uuid>,
}

impl From<NumberRequest> for NumberInput {
    fn from(b: NumberRequest) -> Self {
        NumberInput {
            number: b.number,
            label: b.label,
            vapi_phone_number_id: b.vapi_phone_number_id,
            agent_id: b.agent_id,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NumberView {
    pub id: Uuid,
    pub number: String,
    pub label: String,
    pub vapi_phone_number_id: Option<String>,
    pub agent_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<NumberRow> for NumberView {
    fn from(n: NumberRow) -> Self {
        NumberView {
            id: n.id,
            number: n.number,
            label: n.label,
            vapi_phone_number_id: n.vapi_phone_number_id,
            agent_id: n.agent_id,
            created_at: n.created_at,
            updated_at: n.updated_at,
        }
    }
}

/// Add a number (admin).
#[utoipa::path(post, path = "/api/voice/numbers", tag = "numbers", request_body = NumberRequest,
    security(("bearer" = [])),
    responses((status = 201, description = "the number, routed to this org", body = NumberView),
              (status = 403, description = "admin only (`insufficient_role`)"),
              (status = 409, description = "the number or its Vapi id is in use (`number_taken`)"),
              (status = 422, description = "a field breaks its rule (`invalid_field`)")))]
pub async fn create_number(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    body: Json<NumberRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let row = numbers::create(&st, tenant.org_id(), body.into_inner().into()).await?;
    Ok(HttpResponse::Created().json(NumberView::from(row)))
}

/// The org's numbers, oldest first, one page at a time.
#[utoipa::path(get, path = "/api/voice/numbers", tag = "numbers", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "one page of numbers", body = Page<NumberView>)))]
pub async fn list_numbers(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageRequest::from_query(&query)?;
    let rows = numbers::list(&st, tenant.org_id(), page).await?;
    Ok(HttpResponse::Ok().json(page.page(rows, |r| (r.created_at, r.id), NumberView::from)))
}

/// One number.
#[utoipa::path(get, path = "/api/voice/numbers/{id}", tag = "numbers", params(("id" = Uuid, Path, description = "the number's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "the number", body = NumberView),
              (status = 404, description = "no such number in this org (`not_found`)")))]
pub async fn get_number(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = numbers::get(&st, tenant.org_id(), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(NumberView::from(row)))
}

/// Replace a number's settings, e.g. assign it to another agent (admin).
#[utoipa::path(put, path = "/api/voice/numbers/{id}", tag = "numbers", request_body = NumberRequest,
    params(("id" = Uuid, Path, description = "the number's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "the number, its routes rewritten", body = NumberView),
              (status = 403, description = "admin only (`insufficient_role`)"),
              (status = 404, description = "no such number in this org (`not_found`)"),
              (status = 409, description = "the number or its Vapi id is in use (`number_taken`)"),
              (status = 422, description = "a field breaks its rule (`invalid_field`)")))]
pub async fn update_number(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
    body: Json<NumberRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let row = numbers::update(
        &st,
        tenant.org_id(),
        id.into_inner(),
        body.into_inner().into(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(NumberView::from(row)))
}

/// Remove a number (admin): webhooks for it are no longer routed to this org.
#[utoipa::path(delete, path = "/api/voice/numbers/{id}", tag = "numbers", params(("id" = Uuid, Path, description = "the number's id")),
    security(("bearer" = [])),
    responses((status = 204, description = "deleted, no longer routed"),
              (status = 403, description = "admin only (`insufficient_role`)"),
              (status = 404, description = "no such number in this org (`not_found`)")))]
pub async fn delete_number(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    numbers::delete(&st, tenant.org_id(), id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

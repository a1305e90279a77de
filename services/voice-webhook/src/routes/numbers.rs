//! `/api/voice/numbers`: the org's phone numbers and which agent answers each. Every change
//! rewrites the number's routes in the same transaction, so webhooks resolve to the right org.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::{ApiError, Json};
use tenancy::{Db, OrgId, Role, Tenant};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::state::VoiceState;
use crate::store::agents;
use crate::store::numbers::{self as store, NumberFields, NumberRow};

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

fn validate(b: NumberRequest) -> Result<NumberFields, ApiError> {
    Ok(NumberFields {
        number: super::e164("number", &b.number)?,
        label: super::text("label", b.label, 200, false)?,
        vapi_phone_number_id: Some(super::text(
            "vapi_phone_number_id",
            b.vapi_phone_number_id,
            100,
            false,
        )?)
        .filter(|s| !s.is_empty()),
        agent_id: b.agent_id,
    })
}

fn taken(e: diesel::result::Error) -> ApiError {
    match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => ApiError::Conflict {
            code: "number_taken",
            detail: "this number (or Vapi phone number id) is already in use".into(),
            extra: None,
        },
        other => other.into(),
    }
}

async fn check_agent(
    tx: &mut diesel_async::AsyncPgConnection,
    org: OrgId,
    agent: Option<Uuid>,
) -> Result<(), ApiError> {
    if let Some(id) = agent
        && agents::find_agent(tx, org, id).await?.is_none()
    {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("agent_id"),
            "no such agent in this org",
        ));
    }
    Ok(())
}

/// Add a number (admin).
#[utoipa::path(post, path = "/api/voice/numbers", tag = "numbers", request_body = NumberRequest,
    responses((status = 201, body = NumberView), (status = 409, description = "number already in use"), (status = 422, description = "invalid field")))]
pub async fn create_number(
    db: web::Data<Db>,
    st: web::Data<VoiceState>,
    tenant: Tenant,
    body: Json<NumberRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let f = validate(body.into_inner())?;
    let org = tenant.org_id();
    let row = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                check_agent(tx, org, f.agent_id).await?;
                let row = store::insert_number(tx, org, &f).await.map_err(taken)?;
                store::route_number(tx, org, &row).await.map_err(taken)?;
                Ok::<_, ApiError>(row)
            })
        })
        .await?;
    link(&st, &row).await;
    Ok(HttpResponse::Created().json(NumberView::from(row)))
}

/// The org's numbers.
#[utoipa::path(get, path = "/api/voice/numbers", tag = "numbers", responses((status = 200, body = [NumberView])))]
pub async fn list_numbers(db: web::Data<Db>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    let org = tenant.org_id();
    let rows = db
        .tenant_tx(org, |tx| {
            Box::pin(async move { store::list_numbers(tx, org).await.map_err(ApiError::from) })
        })
        .await?;
    Ok(HttpResponse::Ok().json(
        serde_json::json!({ "items": rows.into_iter().map(NumberView::from).collect::<Vec<_>>() }),
    ))
}

/// One number.
#[utoipa::path(get, path = "/api/voice/numbers/{id}", tag = "numbers",
    responses((status = 200, body = NumberView), (status = 404, description = "no such number in this org")))]
pub async fn get_number(
    db: web::Data<Db>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = (tenant.org_id(), id.into_inner());
    let row = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::find_number(tx, org, id)
                    .await
                    .map_err(ApiError::from)
            })
        })
        .await?;
    row.map(|r| HttpResponse::Ok().json(NumberView::from(r)))
        .ok_or_else(|| ApiError::not_found("number"))
}

/// Replace a number's settings, e.g. assign it to another agent (admin).
#[utoipa::path(put, path = "/api/voice/numbers/{id}", tag = "numbers", request_body = NumberRequest,
    responses((status = 200, body = NumberView), (status = 404, description = "no such number in this org")))]
pub async fn update_number(
    db: web::Data<Db>,
    st: web::Data<VoiceState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
    body: Json<NumberRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let f = validate(body.into_inner())?;
    let (org, id) = (tenant.org_id(), id.into_inner());
    let row = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                check_agent(tx, org, f.agent_id).await?;
                let Some(row) = store::update_number(tx, org, id, &f).await.map_err(taken)? else {
                    return Ok(None);
                };
                store::route_number(tx, org, &row).await.map_err(taken)?;
                Ok::<_, ApiError>(Some(row))
            })
        })
        .await?;
    let row = row.ok_or_else(|| ApiError::not_found("number"))?;
    link(&st, &row).await;
    Ok(HttpResponse::Ok().json(NumberView::from(row)))
}

/// Remove a number (admin): webhooks for it are no longer routed to this org.
#[utoipa::path(delete, path = "/api/voice/numbers/{id}", tag = "numbers",
    responses((status = 204), (status = 404, description = "no such number in this org")))]
pub async fn delete_number(
    db: web::Data<Db>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let (org, id) = (tenant.org_id(), id.into_inner());
    let deleted = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                if store::find_number(tx, org, id).await?.is_none() {
                    return Ok(false);
                }
                store::unroute_number(tx, org, id).await?;
                store::delete_number(tx, org, id)
                    .await
                    .map_err(ApiError::from)
            })
        })
        .await?;
    if deleted {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("number"))
    }
}

/// Points the number's Vapi phone number at us (when both a Vapi id and key exist); a failure is
/// logged, the number is saved either way and routes already.
async fn link(st: &VoiceState, row: &NumberRow) {
    if let Some(v) = &row.vapi_phone_number_id
        && let Err(e) = crate::sync::link_number(st, v).await
    {
        tracing::warn!(number = %row.id, error = %e, "linking the number in Vapi failed");
    }
}

//! `/api/voice/agents`: the org's voice agents. Reading needs any role, changing needs admin.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::page::{Page, PageQuery, PageRequest};
use servicekit::{ApiError, Json};
use tenancy::{Role, Tenant};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::core::agents::{self, AgentInput, SavedAgent, VapiSync};
use crate::state::VoiceState;
use crate::store::agents::AgentRow;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRequest {
    pub name: String,
    pub system_prompt: Option<String>,
    pub first_message: Option<String>,
    pub voice: Option<String>,
    pub language: Option<String>,
    /// Subset of the voice tools; all of them when absent.
    pub enabled_tools: Option<Vec<String>>,
    pub transfer_number: Option<String>,
    pub after_hours_message: Option<String>,
    /// Removed (issue 11): opening hours are the clinic's, set in calendar
    /// (`PUT /api/calendar/settings`); an agent given `open_hours` is refused with 422.
    #[schema(value_type = Option<Object>, deprecated)]
    pub open_hours: Option<serde_json::Value>,
}

impl From<AgentRequest> for AgentInput {
    fn from(b: AgentRequest) -> Self {
        AgentInput {
            name: b.name,
            system_prompt: b.system_prompt,
            first_message: b.first_message,
            voice: b.voice,
            language: b.language,
            enabled_tools: b.enabled_tools,
            transfer_number: b.transfer_number,
            after_hours_message: b.after_hours_message,
            open_hours: b.open_hours,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentView {
    pub id: Uuid,
    pub name: String,
    pub system_prompt: String,
    pub first_message: String,
    pub voice: String,
    pub language: String,
    pub enabled_tools: Vec<String>,
    pub transfer_number: Option<String>,
    pub after_hours_message: Option<String>,
    pub is_default: bool,
    pub vapi_assistant_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// After a create or update: `synced` to Vapi, `failed` (logged; saved here anyway) or
    /// `off` (no Vapi key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vapi_sync: Option<String>,
}

impl From<AgentRow> for AgentView {
    fn from(a: AgentRow) -> Self {
        AgentView {
            id: a.id,
            name: a.name,
            system_prompt: a.system_prompt,
            first_message: a.first_message,
            voice: a.voice,
            language: a.language,
            enabled_tools: a.enabled_tools,
            transfer_number: a.transfer_number,
            after_hours_message: a.after_hours_message,
            is_default: a.is_default,
            vapi_assistant_id: a.vapi_assistant_id,
            created_at: a.created_at,
            updated_at: a.updated_at,
            vapi_sync: None,
        }
    }
}

impl From<SavedAgent> for AgentView {
    fn from(s: SavedAgent) -> Self {
        let mut view = AgentView::from(s.row);
        view.vapi_sync = Some(s.vapi.as_str().into());
        if let VapiSync::Synced(id) = s.vapi {
            view.vapi_assistant_id = Some(id);
        }
        view
    }
}

/// Create an agent (admin).
#[utoipa::path(post, path = "/api/voice/agents", tag = "agents", request_body = AgentRequest,
    security(("bearer" = [])),
    responses((status = 201, description = "the agent, with how its Vapi sync went", body = AgentView),
              (status = 403, description = "admin only (`insufficient_role`)"),
              (status = 422, description = "a field breaks its rule (`invalid_field`)")))]
pub async fn create_agent(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    body: Json<AgentRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let saved = agents::create(&st, tenant.org_id(), body.into_inner().into()).await?;
    Ok(HttpResponse::Created().json(AgentView::from(saved)))
}

/// The org's agents, oldest first, one page at a time.
#[utoipa::path(get, path = "/api/voice/agents", tag = "agents", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "one page of agents", body = Page<AgentView>)))]
pub async fn list_agents(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageRequest::from_query(&query)?;
    let rows = agents::list(&st, tenant.org_id(), page).await?;
    Ok(HttpResponse::Ok().json(page.page(rows, |r| (r.created_at, r.id), AgentView::from)))
}

/// One agent.
#[utoipa::path(get, path = "/api/voice/agents/{id}", tag = "agents", params(("id" = Uuid, Path, description = "the agent's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "the agent", body = AgentView),
              (status = 404, description = "no such agent in this org (`not_found`)")))]
pub async fn get_agent(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = agents::get(&st, tenant.org_id(), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(AgentView::from(row)))
}

/// Replace an agent's settings (admin).
#[utoipa::path(put, path = "/api/voice/agents/{id}", tag = "agents", request_body = AgentRequest,
    params(("id" = Uuid, Path, description = "the agent's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "the agent, with how its Vapi sync went", body = AgentView),
              (status = 403, description = "admin only (`insufficient_role`)"),
              (status = 404, description = "no such agent in this org (`not_found`)"),
              (status = 422, description = "a field breaks its rule (`invalid_field`)")))]
pub async fn update_agent(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
    body: Json<AgentRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let saved = agents::update(
        &st,
        tenant.org_id(),
        id.into_inner(),
        body.into_inner().into(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(AgentView::from(saved)))
}

/// Delete an agent (admin); its numbers fall back to the default agent.
#[utoipa::path(delete, path = "/api/voice/agents/{id}", tag = "agents", params(("id" = Uuid, Path, description = "the agent's id")),
    security(("bearer" = [])),
    responses((status = 204, description = "deleted"),
              (status = 403, description = "admin only (`insufficient_role`)"),
              (status = 404, description = "no such agent in this org (`not_found`)")))]
pub async fn delete_agent(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    agents::delete(&st, tenant.org_id(), id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

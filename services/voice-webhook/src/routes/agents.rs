//! `/api/voice/agents`: the org's voice agents. Reading needs any role, changing needs admin.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::{ApiError, Json};
use tenancy::{Db, Role, Tenant};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::hours::{self, OpenRange};
use crate::state::VoiceState;
use crate::store::agents::{self as store, AgentFields, AgentRow};
use crate::webhook::tools::TOOLS;

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
    /// Opening hours in the clinic's zone; outside them calls get the after-hours behaviour
    /// (the after-hours message, then a message is taken). Always open when absent.
    pub open_hours: Option<Vec<OpenRange>>,
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
    pub open_hours: Option<Vec<OpenRange>>,
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
            open_hours: open_hours(&a.settings),
            is_default: a.is_default,
            vapi_assistant_id: a.vapi_assistant_id,
            created_at: a.created_at,
            updated_at: a.updated_at,
            vapi_sync: None,
        }
    }
}

fn validate(b: AgentRequest) -> Result<AgentFields, ApiError> {
    let tools = match b.enabled_tools {
        None => TOOLS.iter().map(|t| (*t).to_string()).collect(),
        Some(list) => {
            if let Some(bad) = list.iter().find(|t| !TOOLS.contains(&t.as_str())) {
                return Err(ApiError::invalid(
                    "invalid_field",
                    Some("enabled_tools"),
                    format!("unknown tool {bad:?}; known: {}", TOOLS.join(", ")),
                ));
            }
            list
        }
    };
    let language = super::text("language", b.language, 16, false)?;
    if let Some(h) = &b.open_hours {
        hours::validate(h)
            .map_err(|e| ApiError::invalid("invalid_field", Some("open_hours"), e))?;
    }
    let settings = match &b.open_hours {
        Some(h) => serde_json::json!({ "open_hours": h }),
        None => serde_json::json!({}),
    };
    Ok(AgentFields {
        settings,
        name: super::text("name", Some(b.name), 200, true)?,
        system_prompt: super::text("system_prompt", b.system_prompt, 20_000, false)?,
        first_message: super::text("first_message", b.first_message, 1000, false)?,
        voice: super::text("voice", b.voice, 100, false)?,
        language: if language.is_empty() {
            "en".into()
        } else {
            language
        },
        enabled_tools: tools,
        transfer_number: b
            .transfer_number
            .as_deref()
            .map(|n| super::e164("transfer_number", n))
            .transpose()?,
        after_hours_message: Some(super::text(
            "after_hours_message",
            b.after_hours_message,
            1000,
            false,
        )?)
        .filter(|s| !s.is_empty()),
    })
}

/// Create an agent (admin).
#[utoipa::path(post, path = "/api/voice/agents", tag = "agents", request_body = AgentRequest,
    responses((status = 201, body = AgentView), (status = 422, description = "invalid field")))]
pub async fn create_agent(
    db: web::Data<Db>,
    st: web::Data<VoiceState>,
    tenant: Tenant,
    body: Json<AgentRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let fields = validate(body.into_inner())?;
    let org = tenant.org_id();
    let row = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::insert_agent(tx, org, &fields, false)
                    .await
                    .map_err(ApiError::from)
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(synced(&st, row).await))
}

/// The org's agents.
#[utoipa::path(get, path = "/api/voice/agents", tag = "agents", responses((status = 200, body = [AgentView])))]
pub async fn list_agents(db: web::Data<Db>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    let org = tenant.org_id();
    let rows = db
        .tenant_tx(org, |tx| {
            Box::pin(async move { store::list_agents(tx, org).await.map_err(ApiError::from) })
        })
        .await?;
    Ok(HttpResponse::Ok().json(
        serde_json::json!({ "items": rows.into_iter().map(AgentView::from).collect::<Vec<_>>() }),
    ))
}

/// One agent.
#[utoipa::path(get, path = "/api/voice/agents/{id}", tag = "agents",
    responses((status = 200, body = AgentView), (status = 404, description = "no such agent in this org")))]
pub async fn get_agent(
    db: web::Data<Db>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = (tenant.org_id(), id.into_inner());
    let row = db
        .tenant_tx(org, |tx| {
            Box::pin(async move { store::find_agent(tx, org, id).await.map_err(ApiError::from) })
        })
        .await?;
    row.map(|r| HttpResponse::Ok().json(AgentView::from(r)))
        .ok_or_else(|| ApiError::not_found("agent"))
}

/// Replace an agent's settings (admin).
#[utoipa::path(put, path = "/api/voice/agents/{id}", tag = "agents", request_body = AgentRequest,
    responses((status = 200, body = AgentView), (status = 404, description = "no such agent in this org")))]
pub async fn update_agent(
    db: web::Data<Db>,
    st: web::Data<VoiceState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
    body: Json<AgentRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let fields = validate(body.into_inner())?;
    let (org, id) = (tenant.org_id(), id.into_inner());
    let row = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::update_agent(tx, org, id, &fields)
                    .await
                    .map_err(ApiError::from)
            })
        })
        .await?;
    let row = row.ok_or_else(|| ApiError::not_found("agent"))?;
    Ok(HttpResponse::Ok().json(synced(&st, row).await))
}

/// Delete an agent (admin); its numbers fall back to the default agent.
#[utoipa::path(delete, path = "/api/voice/agents/{id}", tag = "agents",
    responses((status = 204), (status = 404, description = "no such agent in this org")))]
pub async fn delete_agent(
    db: web::Data<Db>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let (org, id) = (tenant.org_id(), id.into_inner());
    let deleted = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::delete_agent(tx, org, id)
                    .await
                    .map_err(ApiError::from)
            })
        })
        .await?;
    if deleted {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("agent"))
    }
}

/// The saved agent, synced to its Vapi assistant when a Vapi key is configured. A Vapi failure
/// does not undo the save: it is logged and reported as `vapi_sync: "failed"`.
async fn synced(st: &VoiceState, row: AgentRow) -> AgentView {
    let mut view = AgentView::from(row.clone());
    view.vapi_sync = Some(match crate::sync::sync_agent(st, &row).await {
        Ok(Some(id)) => {
            view.vapi_assistant_id = Some(id);
            "synced".into()
        }
        Ok(None) => "off".into(),
        Err(e) => {
            tracing::warn!(agent = %row.id, error = %e, "syncing the agent to Vapi failed");
            "failed".into()
        }
    });
    view
}

/// The agent's opening hours from its settings, when it has them.
pub fn open_hours(settings: &serde_json::Value) -> Option<Vec<OpenRange>> {
    serde_json::from_value(settings.get("open_hours")?.clone()).ok()
}

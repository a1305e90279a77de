//! The org's voice agents: validated create/replace (each synced to its Vapi assistant when a
//! Vapi key is configured; a Vapi failure never undoes the save), list, get, delete.

use servicekit::page::PageRequest;
use tenancy::OrgId;
use uuid::Uuid;

use crate::core::vapi_sync;
use crate::domain::fields::{self, InvalidField};
use crate::domain::tool::Tool;
use crate::state::VoiceState;
use crate::store::agents::{self as store, AgentFields, AgentRow};
use crate::store::error::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    #[error("agent not found")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
}

crate::store::error::store_error_from!(AgentError);

/// An agent as the dashboard sends it, before validation.
#[derive(Debug, Clone, Default)]
pub struct AgentInput {
    pub name: String,
    pub system_prompt: Option<String>,
    pub first_message: Option<String>,
    pub voice: Option<String>,
    pub language: Option<String>,
    pub enabled_tools: Option<Vec<String>>,
    pub transfer_number: Option<String>,
    pub after_hours_message: Option<String>,
    /// Refused when given: opening hours are the clinic's, kept by calendar.
    pub open_hours: Option<serde_json::Value>,
}

/// Whether a saved agent reached Vapi.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VapiSync {
    /// Synced: the id of its Vapi assistant.
    Synced(String),
    /// No Vapi key is configured.
    Off,
    /// Vapi refused or was unreachable (logged; the agent is saved anyway).
    Failed,
}

impl VapiSync {
    pub fn as_str(&self) -> &'static str {
        match self {
            VapiSync::Synced(_) => "synced",
            VapiSync::Off => "off",
            VapiSync::Failed => "failed",
        }
    }
}

/// A saved agent and how its Vapi sync went.
#[derive(Debug, Clone)]
pub struct SavedAgent {
    pub row: AgentRow,
    pub vapi: VapiSync,
}

/// The agent's fields, or the first field that breaks its rule.
pub fn validate(b: AgentInput) -> Result<AgentFields, InvalidField> {
    let tools = match b.enabled_tools {
        None => Tool::all_names(),
        Some(list) => {
            if let Some(bad) = list.iter().find(|t| Tool::from_name(t).is_none()) {
                let known: Vec<&str> = Tool::ALL.iter().map(|t| t.name()).collect();
                return Err(InvalidField::new(
                    "enabled_tools",
                    format!("unknown tool {bad:?}; known: {}", known.join(", ")),
                ));
            }
            list
        }
    };
    let language = fields::text("language", b.language, 16, false)?;
    if b.open_hours.is_some() {
        return Err(InvalidField::new(
            "open_hours",
            "opening hours are the clinic's: set them in calendar (PUT /api/calendar/settings)",
        ));
    }
    let settings = serde_json::json!({});
    Ok(AgentFields {
        settings,
        name: fields::text("name", Some(b.name), 200, true)?,
        system_prompt: fields::text("system_prompt", b.system_prompt, 20_000, false)?,
        first_message: fields::text("first_message", b.first_message, 1000, false)?,
        voice: fields::text("voice", b.voice, 100, false)?,
        language: if language.is_empty() {
            "en".into()
        } else {
            language
        },
        enabled_tools: tools,
        transfer_number: b
            .transfer_number
            .as_deref()
            .map(|n| fields::e164("transfer_number", n))
            .transpose()?,
        after_hours_message: Some(fields::text(
            "after_hours_message",
            b.after_hours_message,
            1000,
            false,
        )?)
        .filter(|s| !s.is_empty()),
    })
}

pub async fn create(
    st: &VoiceState,
    org: OrgId,
    input: AgentInput,
) -> Result<SavedAgent, AgentError> {
    let fields = validate(input)?;
    let row = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::insert_agent(tx, org, &fields, false)
                    .await
                    .map_err(AgentError::from)
            })
        })
        .await?;
    Ok(synced(st, row).await)
}

/// One page of the org's agents, oldest first.
pub async fn list(
    st: &VoiceState,
    org: OrgId,
    page: PageRequest,
) -> Result<Vec<AgentRow>, AgentError> {
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::list_agents(tx, org, page.after, page.fetch_limit())
                    .await
                    .map_err(AgentError::from)
            })
        })
        .await
}

pub async fn get(st: &VoiceState, org: OrgId, id: Uuid) -> Result<AgentRow, AgentError> {
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::find_agent(tx, org, id)
                    .await
                    .map_err(AgentError::from)
            })
        })
        .await?
        .ok_or(AgentError::NotFound)
}

/// Replaces an agent's settings.
pub async fn update(
    st: &VoiceState,
    org: OrgId,
    id: Uuid,
    input: AgentInput,
) -> Result<SavedAgent, AgentError> {
    let fields = validate(input)?;
    let row = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::update_agent(tx, org, id, &fields)
                    .await
                    .map_err(AgentError::from)
            })
        })
        .await?
        .ok_or(AgentError::NotFound)?;
    Ok(synced(st, row).await)
}

/// Deletes an agent; its numbers fall back to the default agent.
pub async fn delete(st: &VoiceState, org: OrgId, id: Uuid) -> Result<(), AgentError> {
    let deleted = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::delete_agent(tx, org, id)
                    .await
                    .map_err(AgentError::from)
            })
        })
        .await?;
    if deleted {
        Ok(())
    } else {
        Err(AgentError::NotFound)
    }
}

/// The saved agent, synced to its Vapi assistant when a Vapi key is configured. A Vapi failure
/// does not undo the save: it is logged and reported as [`VapiSync::Failed`].
async fn synced(st: &VoiceState, row: AgentRow) -> SavedAgent {
    let vapi = match vapi_sync::sync_agent(st, &row).await {
        Ok(Some(id)) => VapiSync::Synced(id),
        Ok(None) => VapiSync::Off,
        Err(e) => {
            tracing::warn!(agent = %row.id, error = %e, "syncing the agent to Vapi failed");
            VapiSync::Failed
        }
    };
    SavedAgent { row, vapi }
}

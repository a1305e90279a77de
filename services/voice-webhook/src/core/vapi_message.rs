//! One authenticated Vapi server message: find its org (the URL's org decides when the URL
//! names one), then answer the request types (`assistant-request`, `tool-calls`,
//! `transfer-destination-request`, …) and log the fire-and-forget ones for apply.

use serde_json::{Value, json};
use tenancy::OrgId;

use crate::core::assistant_request::{self, AnswerError};
use crate::core::tool_calls::{self, ToolCallsError};
use crate::core::webhook_log::{self, LogError};
use crate::core::{knowledge_request, tenant_route};
use crate::domain::message::{self, Kind};
use crate::state::VoiceState;
use crate::store::error::StoreError;
use crate::store::numbers::Route;

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error(transparent)]
    Routing(#[from] StoreError),
    #[error(transparent)]
    Answer(#[from] AnswerError),
    #[error(transparent)]
    Tools(#[from] ToolCallsError),
    #[error(transparent)]
    Log(#[from] LogError),
}

/// The answer Vapi expects for message `msg` of (normalised) type `t`; `body` is the raw
/// request, logged sealed.
pub async fn receive(
    st: &VoiceState,
    url_org: Option<OrgId>,
    t: &str,
    msg: &Value,
    body: &[u8],
) -> Result<Value, ReceiveError> {
    let route = match (tenant_route::resolve(st, msg).await?, url_org) {
        (route, None) => route,
        // The URL's org decides: a payload routed elsewhere is treated as unknown here.
        (Some(r), Some(org)) if r.org_id == org => Some(r),
        (Some(_), Some(_)) => None,
        (None, Some(org)) => Some(Route {
            kind: String::new(),
            key: String::new(),
            org_id: org,
            phone_number_id: None,
            agent_id: None,
        }),
    };
    if let Some(r) = &route {
        tracing::Span::current().record("org", tracing::field::display(r.org_id));
    }
    let kind = message::kind(t);
    let answer = match kind {
        Kind::AssistantRequest => {
            assistant_request::assistant_request(st, route.as_ref(), msg).await?
        }
        Kind::ToolCalls => tool_calls::tool_calls(st, route.as_ref(), msg).await?,
        Kind::TransferDestinationRequest => {
            assistant_request::transfer_destination(st, route.as_ref(), msg).await?
        }
        Kind::KnowledgeBaseRequest => {
            knowledge_request::knowledge_base_request(st, route.as_ref(), msg).await
        }
        Kind::HandoffDestinationRequest => {
            json!({ "error": "Handoff is not configured for this line." })
        }
        Kind::FunctionCall => {
            json!({ "result": "This function is not available; use the configured tools." })
        }
        Kind::StatusUpdate | Kind::EndOfCallReport | Kind::Other => {
            webhook_log::log_for_apply(st, route.as_ref(), t, msg, body).await?;
            json!({})
        }
    };
    if route.is_none()
        && matches!(
            kind,
            Kind::AssistantRequest | Kind::ToolCalls | Kind::TransferDestinationRequest
        )
    {
        webhook_log::record_unknown_tenant(st, t, msg, body).await?;
    }
    Ok(answer)
}

//! `POST /api/webhooks/vapi`: Vapi's server URL. Authenticate the raw bytes first (nothing is
//! parsed or stored before), then route on `message.type`: answer the request types
//! (`assistant-request`, `tool-calls`, `transfer-destination-request`, …) and log-then-apply the
//! fire-and-forget ones.

pub mod answer;
pub mod apply;
pub mod auth;
pub mod log;
pub mod tools;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use servicekit::ApiError;
use tenancy::OrgId;
use tracing::Instrument as _;

use crate::domain::message::{self, Kind};
use crate::state::VoiceState;
use crate::store::numbers::{self, Route};

/// Receive one Vapi server message.
#[utoipa::path(post, path = "/api/webhooks/vapi", tag = "webhooks",
    responses((status = 200, description = "the answer Vapi expects for the message type"),
              (status = 400, description = "malformed JSON"), (status = 401, description = "not from Vapi")))]
pub async fn receive_vapi(
    st: web::Data<VoiceState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    handle(st, req, payload, None).await
}

/// Receive one Vapi server message for the org named in the URL: authenticated with that org's
/// own secret when it has one (`POST /api/voice/webhook-secret/rotate`), and never applied to
/// another org, whatever the payload says.
#[utoipa::path(post, path = "/api/webhooks/vapi/{org_id}", tag = "webhooks",
    responses((status = 200, description = "the answer Vapi expects for the message type"),
              (status = 400, description = "malformed JSON"), (status = 401, description = "not from Vapi")))]
pub async fn receive_vapi_for_org(
    st: web::Data<VoiceState>,
    req: HttpRequest,
    org: web::Path<uuid::Uuid>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    handle(st, req, payload, Some(OrgId(org.into_inner()))).await
}

async fn handle(
    st: web::Data<VoiceState>,
    req: HttpRequest,
    payload: web::Payload,
    url_org: Option<OrgId>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload, st.body_limit).await?;
    let secrets = auth::secrets_for(&st, url_org).await?;
    auth::authenticate(&st, &req, &body, &secrets).await?;
    let envelope: Value = serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
        code: "malformed_json",
        detail: format!("request body is not valid JSON: {e}"),
    })?;
    let Some(msg) = envelope.get("message").filter(|m| m.is_object()) else {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("message"),
            "`message` must be an object",
        ));
    };
    let t = message::normalized_type(msg);
    if t.is_empty() {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("message.type"),
            "`message.type` is required",
        ));
    }
    metrics::counter!("voice_webhooks_total", "type" => metric_type(&t)).increment(1);
    let span = tracing::info_span!("vapi_message", r#type = %t, org = tracing::field::Empty);
    async move {
        let route = match (resolve(&st, msg).await?, url_org) {
            (route, None) => route,
            // The URL's org decides: a payload routed elsewhere is treated as unknown here.
            (Some(r), Some(org)) if r.org_id == org.as_uuid() => Some(r),
            (Some(_), Some(_)) => None,
            (None, Some(org)) => Some(Route {
                kind: String::new(),
                key: String::new(),
                org_id: org.as_uuid(),
                phone_number_id: None,
                agent_id: None,
            }),
        };
        if let Some(r) = &route {
            tracing::Span::current().record("org", tracing::field::display(r.org_id));
        }
        let answer = match message::kind(&t) {
            Kind::AssistantRequest => answer::assistant_request(&st, route.as_ref(), msg).await?,
            Kind::ToolCalls => tools::tool_calls(&st, route.as_ref(), msg).await?,
            Kind::TransferDestinationRequest => {
                answer::transfer_destination(&st, route.as_ref(), msg).await?
            }
            Kind::KnowledgeBaseRequest => json!({ "documents": [] }),
            Kind::HandoffDestinationRequest => {
                json!({ "error": "Handoff is not configured for this line." })
            }
            Kind::FunctionCall => {
                json!({ "result": "This function is not available; use the configured tools." })
            }
            Kind::StatusUpdate | Kind::EndOfCallReport | Kind::Other => {
                apply::log_for_apply(&st, route.as_ref(), &t, msg, &body).await?;
                json!({})
            }
        };
        if route.is_none()
            && matches!(
                message::kind(&t),
                Kind::AssistantRequest | Kind::ToolCalls | Kind::TransferDestinationRequest
            )
        {
            apply::record_unknown_tenant(&st, &t, msg, &body).await?;
        }
        Ok(HttpResponse::Ok().json(answer))
    }
    .instrument(span)
    .await
}

/// The raw body, refused with a problem document past `limit` bytes.
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    use futures_util::StreamExt as _;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest {
            code: "bad_body",
            detail: format!("could not read the request body: {e}"),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Metric label: known types by name, everything else as `other` (bounded cardinality).
fn metric_type(t: &str) -> &'static str {
    match t {
        "assistant-request" => "assistant-request",
        "tool-calls" => "tool-calls",
        "transfer-destination-request" => "transfer-destination-request",
        "status-update" => "status-update",
        "end-of-call-report" => "end-of-call-report",
        "transcript" => "transcript",
        "hang" => "hang",
        "conversation-update" => "conversation-update",
        "speech-update" => "speech-update",
        _ => "other",
    }
}

/// The org (and our phone number) a message belongs to, through voice's routing table: Vapi's
/// phone number id, the clinic's number, the assistant id, then a call seen before.
pub async fn resolve(st: &VoiceState, msg: &Value) -> Result<Option<Route>, ApiError> {
    let owned = route_candidates(msg);
    let refs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // One read of a system table: no transaction needed (one round trip instead of four).
    let mut conn = servicekit::db::checkout(st.db.pool()).await?;
    numbers::resolve(&mut conn, &refs)
        .await
        .map_err(ApiError::from)
}

/// The routing keys of a message, most specific first.
pub fn route_candidates(msg: &Value) -> Vec<(&'static str, String)> {
    let mut c = Vec::with_capacity(4);
    if let Some(v) = message::phone_number_id(msg) {
        c.push((numbers::ROUTE_VAPI_NUMBER, v.to_string()));
    }
    if let Some(v) = message::clinic_number(msg) {
        c.push((numbers::ROUTE_NUMBER, v.to_string()));
    }
    if let Some(v) = message::assistant_id(msg) {
        c.push((numbers::ROUTE_ASSISTANT, v.to_string()));
    }
    if let Some(v) = message::call_id(msg) {
        c.push((numbers::ROUTE_CALL, v.to_string()));
    }
    c
}

pub fn org_of(route: &Route) -> OrgId {
    OrgId(route.org_id)
}

//! `POST /api/webhooks/vapi[/{org_id}]`: Vapi's server URL. The HTTP entry of a webhook:
//! authenticate the raw bytes first (nothing is parsed or stored before), parse the envelope,
//! count and trace the message, and answer what `core::vapi_message` decides.

use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use serde_json::Value;
use servicekit::ApiError;
use tenancy::OrgId;
use tracing::Instrument as _;

use crate::core::{vapi_message, webhook_auth};
use crate::domain::message;
use crate::state::VoiceState;

/// Vapi's server message envelope: read tolerantly (only `message.type` and the fields a type
/// needs), so every other member is allowed.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the body is read as raw bytes and authenticated first
pub struct VapiEnvelope {
    /// `{"type": "assistant-request" | "tool-calls" | "status-update" | …, "call": {…}, …}`.
    #[schema(value_type = Object)]
    message: (),
}

/// Receive one Vapi server message.
#[utoipa::path(post, path = "/api/webhooks/vapi", tag = "webhooks",
    request_body(content = VapiEnvelope, description = "Vapi's server message envelope `{\"message\": {\"type\": …}}`"),
    security(("vapi_secret" = []), ("vapi_signature" = [], "vapi_timestamp" = [])),
    responses((status = 200, description = "the answer Vapi expects for the message type (`{}` for fire-and-forget types)", body = Object),
              (status = 400, description = "the body is not JSON (`malformed_json`) or could not be read (`bad_body`)"),
              (status = 401, description = "not from Vapi (`invalid_webhook_credentials`)"),
              (status = 413, description = "larger than VAPI_MAX_BODY_BYTES, default 8 MiB (`payload_too_large`)"),
              (status = 409, description = "the same signed delivery is being processed right now (`delivery_in_progress`); a retry after it failed is accepted"),
              (status = 422, description = "`message` is not an object or has no `type` (`invalid_field`)"),
              (status = 503, description = "the delivery log, the database or Redis is unavailable")))]
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
    params(("org_id" = uuid::Uuid, Path, description = "the org the message is for")),
    request_body(content = VapiEnvelope, description = "Vapi's server message envelope `{\"message\": {\"type\": …}}`"),
    security(("vapi_secret" = []), ("vapi_signature" = [], "vapi_timestamp" = [])),
    responses((status = 200, description = "the answer Vapi expects for the message type (`{}` for fire-and-forget types)", body = Object),
              (status = 400, description = "the body is not JSON (`malformed_json`) or could not be read (`bad_body`)"),
              (status = 401, description = "not from Vapi (`invalid_webhook_credentials`)"),
              (status = 413, description = "larger than VAPI_MAX_BODY_BYTES, default 8 MiB (`payload_too_large`)"),
              (status = 409, description = "the same signed delivery is being processed right now (`delivery_in_progress`); a retry after it failed is accepted"),
              (status = 422, description = "`message` is not an object or has no `type` (`invalid_field`)"),
              (status = 503, description = "the delivery log, the database or Redis is unavailable")))]
pub async fn receive_vapi_for_org(
    st: web::Data<VoiceState>,
    req: HttpRequest,
    org: web::Path<OrgId>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    handle(st, req, payload, Some(org.into_inner())).await
}

async fn handle(
    st: web::Data<VoiceState>,
    req: HttpRequest,
    payload: web::Payload,
    url_org: Option<OrgId>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, st.body_limit).await?;
    let secrets = webhook_auth::secrets_for(&st, url_org).await?;
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let claim = webhook_auth::authenticate(&st, &header, &body, &secrets).await?;
    let answer = process(&st, &body, url_org).await;
    if let Some(claim) = claim {
        // A server error leaves the delivery unprocessed: Vapi's retry of it must get in.
        let failed = matches!(&answer, Err(e) if e.status_code().is_server_error());
        webhook_auth::settle(&st, claim, !failed).await;
    }
    answer
}

/// An authenticated delivery: parse the envelope, count and trace it, answer it.
async fn process(
    st: &VoiceState,
    body: &[u8],
    url_org: Option<OrgId>,
) -> Result<HttpResponse, ApiError> {
    let envelope: Value = serde_json::from_slice(body).map_err(|e| ApiError::BadRequest {
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
    let answer = vapi_message::receive(st, url_org, &t, msg, body)
        .instrument(span)
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// The raw body, refused with a problem document past `limit` bytes (`VAPI_MAX_BODY_BYTES`):
/// at once when the declared length says so, else as soon as the stream passes it.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    use futures_util::StreamExt as _;
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
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

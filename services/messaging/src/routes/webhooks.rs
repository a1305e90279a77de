//! `/api/webhooks/twilio/{org_id}/status` and `/inbound`: Twilio's callbacks for one org. The
//! signature is checked against the configured public URL of this very request (path and raw
//! query) before the body is parsed; anything unsigned or forged is 403 and changes nothing.

use actix_web::{HttpRequest, HttpResponse, web};
use servicekit::ApiError;
use tenancy::OrgId;
use uuid::Uuid;

use crate::core::webhooks;
use crate::state::AppState;

const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

async fn verified(
    st: &AppState,
    req: &HttpRequest,
    org: Uuid,
    body: &[u8],
) -> Result<webhooks::Params, ApiError> {
    let url = match req.uri().query() {
        Some(q) => format!("{}{}?{q}", st.settings.public_base_url, req.uri().path()),
        None => format!("{}{}", st.settings.public_base_url, req.uri().path()),
    };
    let sig = req
        .headers()
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok());
    let json = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.trim_start().starts_with("application/json"));
    Ok(webhooks::verify(st, OrgId(org), &url, sig, json, body).await?)
}

/// Twilio's message status callback (form POST, signed).
#[utoipa::path(post, path = "/api/webhooks/twilio/{org_id}/status", tag = "webhooks",
    params(("org_id" = Uuid, Path, description = "the org whose Twilio account calls")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "applied, or ignored (out of order, duplicate, unknown SID)"),
        (status = 403, description = "invalid_signature: unsigned, forged, or not this org's account"),
        (status = 422, description = "invalid_field: MessageSid or MessageStatus missing")))]
pub async fn status_callback(
    st: web::Data<AppState>,
    req: HttpRequest,
    org_id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let org = org_id.into_inner();
    let params = verified(&st, &req, org, &body).await?;
    webhooks::status_callback(&st, OrgId(org), params).await?;
    Ok(HttpResponse::Ok().finish())
}

/// An inbound text (form POST, signed). Answers empty TwiML; replies (HELP, …) go out as
/// messages of their own.
#[utoipa::path(post, path = "/api/webhooks/twilio/{org_id}/inbound", tag = "webhooks",
    params(("org_id" = Uuid, Path, description = "the org whose Twilio number was texted")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "stored (or a duplicate); empty TwiML", content_type = "text/xml", body = String),
        (status = 403, description = "invalid_signature: unsigned, forged, or not this org's account"),
        (status = 422, description = "invalid_field: MessageSid, From or To missing")))]
pub async fn inbound(
    st: web::Data<AppState>,
    req: HttpRequest,
    org_id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let org = org_id.into_inner();
    let params = verified(&st, &req, org, &body).await?;
    webhooks::inbound(&st, OrgId(org), params).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/xml")
        .body(EMPTY_TWIML))
}

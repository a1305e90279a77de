//! `POST /api/voice/webhook-secret/rotate` (owner or admin): a new per-org Vapi webhook secret,
//! shown once, for a Vapi credential pointed at `/api/webhooks/vapi/{org_id}`. The previous
//! secret keeps working for `grace_hours` (default 24, at most 168) so Vapi can be updated.

use actix_web::{HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::rand::SecureRandom as _;
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use tenancy::{Role, Tenant};
use utoipa::ToSchema;

use crate::state::VoiceState;
use crate::webhook::auth::SECRET_PURPOSE;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    pub grace_hours: Option<i64>,
}

/// Rotate the org's own Vapi webhook secret (admin); the new secret is shown once.
#[utoipa::path(post, path = "/api/voice/webhook-secret/rotate", tag = "webhooks", request_body = RotateRequest,
    responses((status = 200), (status = 403, description = "admin only")))]
pub async fn rotate_webhook_secret(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    body: Option<servicekit::Json<RotateRequest>>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let grace = body.and_then(|b| b.into_inner().grace_hours).unwrap_or(24);
    if !(0..=168).contains(&grace) {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("grace_hours"),
            "grace_hours must be between 0 and 168",
        ));
    }
    let mut raw = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| ApiError::internal(anyhow::anyhow!("random source failed")))?;
    let secret = B64URL.encode(raw);
    let org = tenant.org_id();
    let sealed = st
        .keys
        .encrypt(org.as_uuid(), SECRET_PURPOSE, secret.as_bytes())
        .map_err(ApiError::internal)?;
    let until = chrono::Utc::now() + chrono::Duration::hours(grace);
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                crate::store::secrets::rotate(tx, org, &sealed, until)
                    .await
                    .map_err(ApiError::from)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "secret": secret,
        "webhook_path": format!("/api/webhooks/vapi/{org}"),
        "previous_valid_until": until,
    })))
}

//! `POST /api/voice/webhook-secret/rotate` (owner or admin): a new per-org Vapi webhook secret,
//! shown once, for a Vapi credential pointed at `/api/webhooks/vapi/{org_id}`. The previous
//! secret keeps working for `grace_hours` (default 24, at most 168) so Vapi can be updated.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::ApiError;
use tenancy::{Role, Tenant};
use utoipa::ToSchema;

use crate::core::webhook_secret;
use crate::state::VoiceState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// Hours the previous secret stays valid, 0–168 (default 24).
    pub grace_hours: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecretView {
    /// The new secret: shown once, never again.
    pub secret: String,
    /// The org's own webhook path, for the Vapi credential.
    pub webhook_path: String,
    /// Until when the previous secret is still accepted.
    pub previous_valid_until: DateTime<Utc>,
}

/// Rotate the org's own Vapi webhook secret (admin); the new secret is shown once.
#[utoipa::path(post, path = "/api/voice/webhook-secret/rotate", tag = "webhooks",
    request_body(content = Option<RotateRequest>, description = "optional; `grace_hours` defaults to 24"),
    security(("bearer" = [])),
    responses((status = 200, description = "the new secret, shown once", body = RotatedSecretView),
              (status = 403, description = "admin only (`insufficient_role`); a sign-in older than 10 minutes (`reauthentication_needed`)"),
              (status = 422, description = "`grace_hours` out of 0–168 (`invalid_field`)")))]
pub async fn rotate_webhook_secret(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    body: Option<servicekit::Json<RotateRequest>>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    tenant.require_recent_auth()?;
    let grace = body.and_then(|b| b.into_inner().grace_hours);
    let org = tenant.org_id();
    let rotated = webhook_secret::rotate(&st, org, grace).await?;
    Ok(HttpResponse::Ok().json(RotatedSecretView {
        secret: rotated.secret,
        webhook_path: format!("/api/webhooks/vapi/{org}"),
        previous_valid_until: rotated.previous_valid_until,
    }))
}

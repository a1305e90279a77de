//! `/api/messaging/twilio`: the org's own Twilio account. Admins store it (verified with Twilio
//! first: a refused credential is 422 and nothing is stored), read it without its secrets, and
//! remove it (messages are then `simulated`).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::{ApiError, Json};
use tenancy::{Role, Tenant};
use utoipa::ToSchema;

use crate::core::accounts::{self, AccountInput};
use crate::state::AppState;
use crate::store::accounts::AccountRow;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutTwilioRequest {
    /// `AC…` (34 characters).
    pub account_sid: String,
    /// The account's auth token: always required, it verifies Twilio's webhook signatures.
    pub auth_token: String,
    /// `SK…`: when given (with its secret), sends authenticate with this API key.
    pub api_key_sid: Option<String>,
    pub api_key_secret: Option<String>,
    /// E.164 sender number; or a Messaging Service.
    pub from_number: Option<String>,
    /// `MG…`: Twilio picks the sender from the service's pool.
    pub messaging_service_sid: Option<String>,
    /// E.164 WhatsApp sender (without `whatsapp:`).
    pub whatsapp_from: Option<String>,
}

/// The stored account, without secrets.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TwilioAccountView {
    pub account_sid: String,
    /// `auth_token` or `api_key`: what sends authenticate with.
    pub auth: String,
    pub api_key_sid: Option<String>,
    pub from_number: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub whatsapp_from: Option<String>,
    pub verified_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<AccountRow> for TwilioAccountView {
    fn from(r: AccountRow) -> Self {
        TwilioAccountView {
            auth: if r.api_key_sid.is_some() {
                "api_key"
            } else {
                "auth_token"
            }
            .into(),
            account_sid: r.account_sid,
            api_key_sid: r.api_key_sid,
            from_number: r.from_number,
            messaging_service_sid: r.messaging_service_sid,
            whatsapp_from: r.whatsapp_from,
            verified_at: r.verified_at,
            updated_at: r.updated_at,
        }
    }
}

/// The org's Twilio account (admins).
#[utoipa::path(get, path = "/api/messaging/twilio", tag = "twilio", security(("bearer" = [])),
    responses((status = 200, body = TwilioAccountView), (status = 404, description = "no Twilio account: messages are simulated")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn get_twilio(st: web::Data<AppState>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let row = accounts::get(&st, tenant.org_id()).await?;
    Ok(HttpResponse::Ok().json(TwilioAccountView::from(row)))
}

/// Store (replace) the org's Twilio account after Twilio accepted it.
#[utoipa::path(put, path = "/api/messaging/twilio", tag = "twilio", request_body = PutTwilioRequest, security(("bearer" = [])),
    responses((status = 200, body = TwilioAccountView),
        (status = 422, description = "invalid_field, or twilio_credentials_rejected (nothing stored)"),
        (status = 503, description = "twilio_unavailable: Twilio could not be asked (nothing stored)")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn put_twilio(
    st: web::Data<AppState>,
    tenant: Tenant,
    body: Json<PutTwilioRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let b = body.into_inner();
    let row = accounts::put(
        &st,
        tenant.org_id(),
        AccountInput {
            account_sid: b.account_sid,
            auth_token: b.auth_token,
            api_key_sid: b.api_key_sid,
            api_key_secret: b.api_key_secret,
            from_number: b.from_number,
            messaging_service_sid: b.messaging_service_sid,
            whatsapp_from: b.whatsapp_from,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(TwilioAccountView::from(row)))
}

/// Remove the org's Twilio account (later messages are `simulated`).
#[utoipa::path(delete, path = "/api/messaging/twilio", tag = "twilio", security(("bearer" = [])),
    responses((status = 204, description = "removed"), (status = 404, description = "no Twilio account")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn delete_twilio(
    st: web::Data<AppState>,
    tenant: Tenant,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    accounts::delete(&st, tenant.org_id()).await?;
    Ok(HttpResponse::NoContent().finish())
}

//! `/api/messaging/settings`: the org's messaging settings (admins change them; any role reads).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use servicekit::{ApiError, Json};
use tenancy::{Role, Tenant};
use utoipa::ToSchema;

use crate::core::settings::{self, SettingsInput};
use crate::state::AppState;
use crate::store::settings::SettingsRow;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessagingSettingsView {
    pub clinic_name: String,
    /// The clinic's IANA zone, as calendar reports it (read-only here).
    pub timezone: String,
    /// Local time from which texts that may wait are held (default 21:00).
    pub quiet_start: String,
    /// Local time they go out again (default 08:00).
    pub quiet_end: String,
    /// Reminders this many minutes before an appointment (default 1440 and 120).
    pub reminder_offsets_minutes: Vec<i32>,
    pub missed_call_textback: bool,
    /// E.164 numbers that get hot-lead alerts.
    pub staff_numbers: Vec<String>,
    /// The answer to HELP; empty uses a default naming the clinic.
    pub help_text: String,
    /// True when Twilio's own opt-out handling answers STOP/START (then we do not).
    pub twilio_replies_to_keywords: bool,
}

impl From<SettingsRow> for MessagingSettingsView {
    fn from(r: SettingsRow) -> Self {
        MessagingSettingsView {
            clinic_name: r.clinic_name,
            timezone: r.timezone,
            quiet_start: r.quiet_start.format("%H:%M").to_string(),
            quiet_end: r.quiet_end.format("%H:%M").to_string(),
            reminder_offsets_minutes: r.reminder_offsets_minutes.into_iter().flatten().collect(),
            missed_call_textback: r.missed_call_textback,
            staff_numbers: r.staff_numbers.into_iter().flatten().collect(),
            help_text: r.help_text,
            twilio_replies_to_keywords: r.twilio_replies_to_keywords,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSettingsRequest {
    pub clinic_name: String,
    /// HH:MM
    pub quiet_start: String,
    /// HH:MM
    pub quiet_end: String,
    pub reminder_offsets_minutes: Vec<i32>,
    pub missed_call_textback: bool,
    pub staff_numbers: Vec<String>,
    pub help_text: String,
    pub twilio_replies_to_keywords: bool,
}

/// The org's messaging settings.
#[utoipa::path(get, path = "/api/messaging/settings", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = MessagingSettingsView)))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn get_settings(
    st: web::Data<AppState>,
    tenant: Tenant,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(MessagingSettingsView::from(
        settings::get(&st, tenant.org_id()).await?,
    )))
}

/// Replace the org's messaging settings (admins).
#[utoipa::path(put, path = "/api/messaging/settings", tag = "settings", request_body = PutSettingsRequest, security(("bearer" = [])),
    responses((status = 200, body = MessagingSettingsView), (status = 422, description = "invalid_field")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn put_settings(
    st: web::Data<AppState>,
    tenant: Tenant,
    body: Json<PutSettingsRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let b = body.into_inner();
    let row = settings::put(
        &st,
        tenant.org_id(),
        SettingsInput {
            clinic_name: b.clinic_name,
            quiet_start: b.quiet_start,
            quiet_end: b.quiet_end,
            reminder_offsets_minutes: b.reminder_offsets_minutes,
            missed_call_textback: b.missed_call_textback,
            staff_numbers: b.staff_numbers,
            help_text: b.help_text,
            twilio_replies_to_keywords: b.twilio_replies_to_keywords,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(MessagingSettingsView::from(row)))
}

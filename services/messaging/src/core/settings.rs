//! The org's messaging settings: clinic name, quiet hours, reminder offsets, the missed-call
//! toggle, staff numbers for hot-lead alerts, the HELP text and whether Twilio answers the
//! STOP/START keywords itself. The time zone is calendar's (learned from its events), not set here.

use chrono::NaiveTime;
use tenancy::OrgId;

use super::CoreError;
use crate::domain::phone::is_e164;
use crate::state::AppState;
use crate::store::settings::{self, SettingsRow};

pub struct SettingsInput {
    pub clinic_name: String,
    pub quiet_start: String,
    pub quiet_end: String,
    pub reminder_offsets_minutes: Vec<i32>,
    pub missed_call_textback: bool,
    pub staff_numbers: Vec<String>,
    pub help_text: String,
    pub twilio_replies_to_keywords: bool,
}

fn time(field: &'static str, s: &str) -> Result<NaiveTime, CoreError> {
    NaiveTime::parse_from_str(s, "%H:%M")
        .map_err(|_| CoreError::invalid("invalid_field", field, format!("{field} is HH:MM")))
}

pub async fn get(st: &AppState, org: OrgId) -> Result<SettingsRow, CoreError> {
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move { settings::find(tx, org).await.map_err(CoreError::from) })
        })
        .await
}

pub async fn put(st: &AppState, org: OrgId, i: SettingsInput) -> Result<SettingsRow, CoreError> {
    let quiet_start = time("quiet_start", &i.quiet_start)?;
    let quiet_end = time("quiet_end", &i.quiet_end)?;
    if quiet_start == quiet_end {
        return Err(CoreError::invalid(
            "invalid_field",
            "quiet_start",
            "quiet_start and quiet_end must differ",
        ));
    }
    if i.reminder_offsets_minutes.len() > 5
        || i.reminder_offsets_minutes
            .iter()
            .any(|m| !(5..=20_160).contains(m))
    {
        return Err(CoreError::invalid(
            "invalid_field",
            "reminder_offsets_minutes",
            "up to 5 offsets of 5 minutes to 14 days",
        ));
    }
    if i.staff_numbers.len() > 10 || i.staff_numbers.iter().any(|n| !is_e164(n)) {
        return Err(CoreError::invalid(
            "invalid_field",
            "staff_numbers",
            "up to 10 E.164 numbers",
        ));
    }
    if i.clinic_name.chars().count() > 100 || i.help_text.chars().count() > 320 {
        return Err(CoreError::invalid(
            "invalid_field",
            "help_text",
            "clinic_name ≤ 100 and help_text ≤ 320 characters",
        ));
    }
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let current = settings::find(tx, org).await?;
                let row = SettingsRow {
                    org_id: org.as_uuid(),
                    clinic_name: i.clinic_name,
                    timezone: current.timezone,
                    quiet_start,
                    quiet_end,
                    reminder_offsets_minutes: i
                        .reminder_offsets_minutes
                        .into_iter()
                        .map(Some)
                        .collect(),
                    missed_call_textback: i.missed_call_textback,
                    staff_numbers: i.staff_numbers.into_iter().map(Some).collect(),
                    help_text: i.help_text,
                    twilio_replies_to_keywords: i.twilio_replies_to_keywords,
                };
                settings::upsert(tx, &row).await.map_err(CoreError::from)
            })
        })
        .await
}

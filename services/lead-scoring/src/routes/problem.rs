//! What lead-scoring's route modules share: core errors as problem+json, the lead views, and
//! the list's query (`GET /api/leads` and `GET /api/leads/export.csv`).

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use servicekit::ApiError;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::core::leads::LeadsError;
use crate::domain::model::Tier;
use crate::domain::stage::Stage;
use crate::store::contacts::{ContactRow, ListContacts, SortBy};

impl From<LeadsError> for ApiError {
    fn from(e: LeadsError) -> Self {
        match e {
            LeadsError::NotFound => ApiError::not_found("lead"),
            LeadsError::Store(e) => ApiError::from(e),
            LeadsError::Pool(e) => ApiError::from(e),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AppointmentCounts {
    pub booked: i32,
    /// The patient came.
    pub kept: i32,
    pub no_show: i32,
    pub cancelled: i32,
}

/// One lead (a contact with its current score and stage).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct LeadView {
    pub id: Uuid,
    /// E.164.
    pub phone: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// 0–100; null until the first score.
    pub score: Option<i16>,
    /// `hot`, `warm` or `cold`.
    pub tier: Option<String>,
    /// `call_back_now`, `send_booking_link`, `nurture_7d` or `none`.
    pub next_action: Option<String>,
    /// `new`, `contacted`, `qualified`, `booked`, `won` or `lost`.
    pub stage: String,
    /// `automatic` (from events) or `manual` (a person moved it).
    pub stage_source: String,
    pub stage_changed_at: DateTime<Utc>,
    pub first_contact_at: Option<DateTime<Utc>>,
    pub last_contact_at: Option<DateTime<Utc>>,
    pub calls: i32,
    pub appointments: AppointmentCounts,
    pub messages: i32,
    pub opted_out_at: Option<DateTime<Utc>>,
    /// The scoring model of the current score, e.g. `v1`.
    pub model_version: Option<String>,
    pub scored_at: Option<DateTime<Utc>>,
}

impl From<ContactRow> for LeadView {
    fn from(r: ContactRow) -> Self {
        LeadView {
            id: r.id,
            phone: r.phone_e164,
            name: r.name,
            email: r.email,
            score: r.score,
            tier: r.tier,
            next_action: r.next_action,
            stage: r.stage,
            stage_source: r.stage_source,
            stage_changed_at: r.stage_changed_at,
            first_contact_at: r.first_contact_at,
            last_contact_at: r.last_contact_at,
            calls: r.calls_count,
            appointments: AppointmentCounts {
                booked: r.appointments_booked,
                kept: r.appointments_kept,
                no_show: r.appointments_no_show,
                cancelled: r.appointments_cancelled,
            },
            messages: r.messages_count,
            opted_out_at: r.opted_out_at,
            model_version: r.model_version,
            scored_at: r.scored_at,
        }
    }
}

// ---- the list's query ----

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListLeadsQuery {
    /// `score` (default: highest first) or `last_contact` (most recent first).
    pub sort: Option<String>,
    /// `hot`, `warm` or `cold`.
    pub tier: Option<String>,
    /// `new`, `contacted`, `qualified`, `booked`, `won` or `lost`.
    pub stage: Option<String>,
    /// Last contact at or after this instant (RFC 3339).
    #[param(value_type = Option<String>)]
    pub from: Option<DateTime<FixedOffset>>,
    /// … and before this one.
    #[param(value_type = Option<String>)]
    pub to: Option<DateTime<FixedOffset>>,
    /// Part of a phone number (digits) or of a name, 1–100 characters.
    pub q: Option<String>,
    /// 1–200, default 50 (the export ignores it).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (the export ignores it).
    pub cursor: Option<String>,
}

fn bad(field: &str, detail: &str) -> ApiError {
    ApiError::invalid("invalid_query", Some(field), detail.to_string())
}

impl ListLeadsQuery {
    /// The store's filters (`after` and `fetch` are the caller's to set).
    pub fn filters(&self) -> Result<ListContacts, ApiError> {
        let sort = match self.sort.as_deref() {
            None | Some("score") => SortBy::Score,
            Some("last_contact") => SortBy::LastContact,
            Some(_) => return Err(bad("sort", "sort must be score or last_contact")),
        };
        if let Some(t) = &self.tier
            && Tier::parse(t).is_none()
        {
            return Err(bad("tier", "tier must be hot, warm or cold"));
        }
        if let Some(s) = &self.stage
            && Stage::parse(s).is_none()
        {
            return Err(bad(
                "stage",
                "stage must be new, contacted, qualified, booked, won or lost",
            ));
        }
        let search = match self.q.as_deref().map(str::trim) {
            None => None,
            Some(s) if s.is_empty() || s.chars().count() > 100 => {
                return Err(bad("q", "q must be 1 to 100 characters"));
            }
            Some(s) => Some(s.to_string()),
        };
        let from = self.from.map(|d| d.with_timezone(&Utc));
        let to = self.to.map(|d| d.with_timezone(&Utc));
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(bad("to", "to must be after from"));
        }
        Ok(ListContacts {
            sort,
            tier: self.tier.clone(),
            stage: self.stage.clone(),
            from,
            to,
            search,
            after: None,
            fetch: 0,
        })
    }
}

//! What every calendar route module shares: how each core error becomes a problem+json answer
//! (all the `From<…> for ApiError` of the service live here, and nowhere else), and the views more
//! than one route module answers with. Route modules import this module and no other route.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::json;
use servicekit::ApiError;
use servicekit::db::PoolUnavailable;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::core::availability::{AvailabilityError, Slots};
use crate::core::booking::{Alternatives, BookingError, Zoned};
use crate::core::catalog::CatalogError;
use crate::core::google_connection::GoogleConnectionError;
use crate::core::providers::ProviderError;
use crate::core::settings::SettingsError;
use crate::domain::appointment::{AppointmentStatus, BadIdempotencyKey};
use crate::domain::availability::Slot;
use crate::domain::invalid::InvalidField;
use crate::domain::settings::{DateOverride, TimeRange};
use crate::store::providers::ProviderRow;
use crate::store::services::ServiceRow;

// ---- views shared by several route modules ----

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SlotView {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The start in the clinic's zone, with its offset.
    pub local_start: String,
}

impl SlotView {
    pub fn new(s: &Slot, tz: Tz) -> Self {
        SlotView {
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            local_start: s.starts_at.with_timezone(&tz).to_rfc3339(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SlotsView {
    pub timezone: String,
    pub service_id: Uuid,
    pub slots: Vec<SlotView>,
}

impl From<Slots> for SlotsView {
    fn from(s: Slots) -> Self {
        SlotsView {
            timezone: s.timezone.name().to_string(),
            service_id: s.service_id,
            slots: s
                .slots
                .iter()
                .map(|x| SlotView::new(x, s.timezone))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AppointmentView {
    pub id: Uuid,
    pub service_id: Uuid,
    pub service_name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub local_start: String,
    pub timezone: String,
    pub status: AppointmentStatus,
    /// Who (or which room) the appointment is with.
    pub provider_id: Uuid,
    /// The provider's name when booked.
    pub provider_name: String,
    pub source: String,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub call_id: Option<Uuid>,
    pub notes: Option<String>,
    pub cancel_reason: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// 1 when booked, +1 on every change; the same number the appointment's events carry.
    pub version: i64,
}

impl From<Zoned> for AppointmentView {
    fn from(z: Zoned) -> Self {
        let (r, tz) = (z.appointment, z.timezone);
        AppointmentView {
            local_start: r.starts_at.with_timezone(&tz).to_rfc3339(),
            timezone: tz.name().to_string(),
            id: r.id,
            service_id: r.service_id,
            service_name: r.service_name,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            status: r.status,
            provider_id: r.provider_id,
            provider_name: r.provider_name,
            source: r.source,
            contact_name: r.contact_name,
            contact_phone: r.contact_phone,
            contact_email: r.contact_email,
            call_id: r.call_id,
            notes: r.notes,
            cancel_reason: r.cancel_reason,
            cancelled_at: r.cancelled_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub duration_minutes: i32,
    pub price_cents: i64,
    pub currency: String,
    /// null: the clinic's `default_buffer_before_minutes` applies.
    pub buffer_before_minutes: Option<i32>,
    /// null: the clinic's `default_buffer_after_minutes` applies.
    pub buffer_after_minutes: Option<i32>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set once archived: kept for its appointments, never offered or bookable.
    pub archived_at: Option<DateTime<Utc>>,
}

impl From<ServiceRow> for ServiceView {
    fn from(r: ServiceRow) -> Self {
        ServiceView {
            id: r.id,
            name: r.name,
            description: r.description,
            duration_minutes: r.duration_minutes,
            price_cents: r.price_cents,
            currency: r.currency,
            buffer_before_minutes: r.buffer_before_minutes,
            buffer_after_minutes: r.buffer_after_minutes,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
            archived_at: r.archived_at,
        }
    }
}

/// A provider (person or room) as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderView {
    pub id: Uuid,
    pub name: String,
    pub active: bool,
    /// The provider the org started with (today's "the clinic").
    pub is_default: bool,
    /// null: the clinic's weekly hours; else `monday` … `sunday` → ranges (a missing or empty
    /// day is closed).
    pub weekly_hours: Option<BTreeMap<String, Vec<TimeRange>>>,
    /// Its own date overrides; other dates follow the clinic's overrides, then the weekly hours.
    pub date_overrides: Vec<DateOverride>,
    /// null: every service of the clinic; else exactly these.
    pub service_ids: Option<Vec<Uuid>>,
    pub google_calendar_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ProviderRow> for ProviderView {
    fn from(r: ProviderRow) -> Self {
        ProviderView {
            weekly_hours: r.weekly_doc(),
            date_overrides: r.overrides_doc(),
            service_ids: r.service_ids(),
            id: r.id,
            name: r.name,
            active: r.active,
            is_default: r.is_default,
            google_calendar_id: r.google_calendar_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

// ---- core errors as problems ----

fn store(e: diesel::result::Error) -> ApiError {
    ApiError::from(e)
}

fn pool(e: PoolUnavailable) -> ApiError {
    ApiError::from(e)
}

impl From<InvalidField> for ApiError {
    fn from(e: InvalidField) -> Self {
        ApiError::invalid("invalid_field", Some(&e.field), e.detail)
    }
}

impl From<BadIdempotencyKey> for ApiError {
    fn from(e: BadIdempotencyKey) -> Self {
        ApiError::invalid("invalid_header", Some("Idempotency-Key"), e.to_string())
    }
}

impl From<AvailabilityError> for ApiError {
    fn from(e: AvailabilityError) -> Self {
        match e {
            AvailabilityError::RangeInverted | AvailabilityError::RangeTooLong => {
                ApiError::invalid("invalid_query", Some("to"), e.to_string())
            }
            AvailabilityError::ServiceNotFound => ApiError::not_found("service"),
            AvailabilityError::ProviderNotFound => ApiError::not_found("provider"),
            AvailabilityError::ProviderNotEligible => {
                ApiError::invalid("provider_not_eligible", Some("provider_id"), e.to_string())
            }
            AvailabilityError::NoProvider => {
                ApiError::invalid("no_provider", Some("service_id"), e.to_string())
            }
            AvailabilityError::ServiceInactive => {
                ApiError::invalid("service_inactive", Some("service_id"), e.to_string())
            }
            AvailabilityError::Store(e) => store(e),
            AvailabilityError::Pool(e) => pool(e),
        }
    }
}

/// A 409 whose body carries the next open slots (`alternatives`) and the clinic's zone.
fn taken(code: &'static str, detail: String, a: Alternatives) -> ApiError {
    let slots: Vec<SlotView> = a
        .slots
        .iter()
        .map(|s| SlotView::new(s, a.timezone))
        .collect();
    let mut extra = serde_json::Map::new();
    extra.insert("alternatives".into(), json!(slots));
    extra.insert("timezone".into(), json!(a.timezone.name()));
    ApiError::Conflict {
        code,
        detail,
        extra: Some(extra),
    }
}

impl From<BookingError> for ApiError {
    fn from(e: BookingError) -> Self {
        let detail = e.to_string();
        match e {
            BookingError::NotFound => ApiError::not_found("appointment"),
            BookingError::StartsInPast => {
                ApiError::invalid("starts_at_in_past", Some("starts_at"), detail)
            }
            BookingError::NotOffered(_) => {
                ApiError::invalid("slot_not_offered", Some("starts_at"), detail)
            }
            BookingError::IdempotencyConflict => {
                ApiError::invalid("idempotency_key_reused", None, detail)
            }
            BookingError::Overlap { alternatives } | BookingError::MoveOverlap { alternatives } => {
                taken("appointment_overlap", detail, alternatives)
            }
            BookingError::SlotUnavailable { alternatives } => {
                taken("slot_unavailable", detail, alternatives)
            }
            BookingError::InvalidTransition { .. } => ApiError::Conflict {
                code: "invalid_transition",
                detail,
                extra: None,
            },
            BookingError::Service(e) => e.into(),
            BookingError::Store(e) => store(e),
            BookingError::Pool(e) => pool(e),
            BookingError::Internal(e) => ApiError::internal(e),
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::NameTaken => ApiError::Conflict {
                code: "service_name_taken",
                detail: e.to_string(),
                extra: None,
            },
            CatalogError::NotFound => ApiError::not_found("service"),
            CatalogError::Store(e) => store(e),
            CatalogError::Pool(e) => pool(e),
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        let detail = e.to_string();
        match e {
            ProviderError::NameTaken => ApiError::Conflict {
                code: "provider_name_taken",
                detail,
                extra: None,
            },
            ProviderError::NotFound => ApiError::not_found("provider"),
            ProviderError::UnknownService(_) => {
                ApiError::invalid("invalid_field", Some("service_ids"), detail)
            }
            ProviderError::HasAppointments => ApiError::Conflict {
                code: "provider_has_appointments",
                detail,
                extra: None,
            },
            ProviderError::Store(e) => store(e),
            ProviderError::Pool(e) => pool(e),
        }
    }
}

impl From<SettingsError> for ApiError {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Store(e) => store(e),
            SettingsError::Pool(e) => pool(e),
        }
    }
}

impl From<GoogleConnectionError> for ApiError {
    fn from(e: GoogleConnectionError) -> Self {
        let detail = e.to_string();
        match e {
            GoogleConnectionError::NotConfigured => ApiError::Conflict {
                code: "google_not_configured",
                detail,
                extra: None,
            },
            GoogleConnectionError::InvalidState(_) => ApiError::BadRequest {
                code: "invalid_state",
                detail,
            },
            GoogleConnectionError::CodeRejected => {
                ApiError::invalid("google_code_rejected", Some("code"), detail)
            }
            GoogleConnectionError::NoRefreshToken => ApiError::BadRequest {
                code: "google_no_refresh_token",
                detail,
            },
            GoogleConnectionError::NotConnected => ApiError::not_found("google connection"),
            GoogleConnectionError::Unavailable(e) => {
                ApiError::unavailable("google_unavailable", anyhow::anyhow!("{e}"))
            }
            GoogleConnectionError::Store(e) => store(e),
            GoogleConnectionError::Pool(e) => pool(e),
            GoogleConnectionError::Internal(e) => ApiError::internal(e),
        }
    }
}

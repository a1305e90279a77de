//! The `appointment.*.v1` events calendar publishes, built from the changed row and the clinic's
//! zone. `core::booking` enqueues them (outbox) in the transaction that made the change.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use events::{
    AppointmentBookedV1, AppointmentCancelledV1, AppointmentCompletedV1, AppointmentDetails,
    AppointmentMissedV1, AppointmentRescheduledV1, BookingSource,
};

use crate::store::appointments::AppointmentRow;

fn details(r: &AppointmentRow, tz: Tz) -> AppointmentDetails {
    AppointmentDetails {
        appointment_id: r.id,
        service_id: r.service_id,
        service_name: r.service_name.clone(),
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        timezone: tz.name().to_string(),
        contact_name: r.contact_name.clone(),
        contact_phone: r.contact_phone.clone(),
        source: match r.source.as_str() {
            "voice" => BookingSource::Voice,
            "dashboard" => BookingSource::Dashboard,
            "google" => BookingSource::Google,
            _ => BookingSource::Api,
        },
        call_id: r.call_id,
        version: r.version,
        provider_id: Some(r.provider_id),
        provider_name: Some(r.provider_name.clone()),
    }
}

pub fn booked(r: &AppointmentRow, tz: Tz) -> AppointmentBookedV1 {
    AppointmentBookedV1 {
        appointment: details(r, tz),
    }
}

/// `previous`: where the appointment was before the move.
pub fn rescheduled(
    r: &AppointmentRow,
    tz: Tz,
    previous: (DateTime<Utc>, DateTime<Utc>),
) -> AppointmentRescheduledV1 {
    AppointmentRescheduledV1 {
        appointment: details(r, tz),
        previous_starts_at: previous.0,
        previous_ends_at: previous.1,
    }
}

pub fn cancelled(r: &AppointmentRow, tz: Tz, reason: Option<String>) -> AppointmentCancelledV1 {
    AppointmentCancelledV1 {
        appointment: details(r, tz),
        reason,
        cancelled_at: r.cancelled_at.unwrap_or_else(Utc::now),
    }
}

/// The patient came (`complete`).
pub fn completed(r: &AppointmentRow, tz: Tz) -> AppointmentCompletedV1 {
    AppointmentCompletedV1 {
        appointment: details(r, tz),
        recorded_at: r.updated_at,
    }
}

/// The patient did not come (`no-show`).
pub fn missed(r: &AppointmentRow, tz: Tz) -> AppointmentMissedV1 {
    AppointmentMissedV1 {
        appointment: details(r, tz),
        recorded_at: r.updated_at,
    }
}

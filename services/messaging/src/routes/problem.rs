//! What every messaging route module shares: how `CoreError` becomes a problem+json answer (the
//! one `From` of the service) and the message views more than one module answers with.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::ApiError;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::core::CoreError;
use crate::core::messages::Shown;
use crate::store::messages::EventRow;

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        let detail = e.to_string();
        match e {
            CoreError::Invalid {
                code,
                field,
                detail,
            } => ApiError::invalid(code, field, detail),
            CoreError::NotFound(what) => ApiError::not_found(what),
            CoreError::OptedOut => ApiError::invalid("contact_opted_out", Some("to"), detail),
            CoreError::WhatsappWindowClosed => {
                ApiError::invalid("whatsapp_window_closed", Some("channel"), detail)
            }
            CoreError::IdempotencyConflict => {
                ApiError::invalid("idempotency_key_reused", None, detail)
            }
            CoreError::CredentialsRejected(_) => {
                ApiError::invalid("twilio_credentials_rejected", Some("auth_token"), detail)
            }
            CoreError::TwilioUnavailable(e) => {
                ApiError::unavailable("twilio_unavailable", anyhow::anyhow!("{e}"))
            }
            CoreError::BadSignature => ApiError::forbidden("invalid_signature", detail),
            CoreError::Store(e) => ApiError::from(e),
            CoreError::Pool(e) => ApiError::from(e),
            CoreError::Internal(e) => ApiError::internal(e),
        }
    }
}

/// One message of the audit trail.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    /// `outbound` or `inbound`.
    pub direction: String,
    /// `sms` or `whatsapp`.
    pub channel: String,
    /// What the message is for: `manual`, `appointment_confirmation`, `appointment_reminder`, …
    pub kind: String,
    pub to: String,
    pub from: Option<String>,
    pub body: String,
    pub template_key: Option<String>,
    /// `pending`, `dispatching`, `unknown`, `simulated`, Twilio's status (`queued`, `sent`,
    /// `delivered`, `undelivered`, `failed`, …), `canceled` or `received`.
    pub status: String,
    /// Twilio's error code or ours (`contact_opted_out`, `retries_exhausted`).
    pub error_code: Option<String>,
    pub error_reason: Option<String>,
    pub twilio_sid: Option<String>,
    pub appointment_id: Option<Uuid>,
    /// When it goes (or went) out.
    pub send_at: DateTime<Utc>,
    pub attempts: i32,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Shown> for MessageView {
    fn from(s: Shown) -> Self {
        let r = s.row;
        MessageView {
            id: r.id,
            direction: r.direction,
            channel: r.channel,
            kind: r.kind,
            to: r.to_number,
            from: r.from_number,
            body: s.body,
            template_key: r.template_key,
            status: r.status,
            error_code: r.error_code,
            error_reason: r.error_reason,
            twilio_sid: r.twilio_sid,
            appointment_id: r.appointment_id,
            send_at: r.send_at,
            attempts: r.attempts,
            sent_at: r.sent_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// One line of a message's status history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusEventView {
    pub status: String,
    /// `created`, `api`, `lookup`, `retry`, `dispatcher`, `callback`, `inbound`, …
    pub source: String,
    pub error_code: Option<String>,
    /// False for a callback that arrived out of order or twice (kept, not applied).
    pub applied: bool,
    pub at: DateTime<Utc>,
}

impl From<EventRow> for StatusEventView {
    fn from(e: EventRow) -> Self {
        StatusEventView {
            status: e.status,
            source: e.source,
            error_code: e.error_code,
            applied: e.applied,
            at: e.at,
        }
    }
}

//! One payload type per event of ARCHITECTURE §5. Unknown fields are ignored on decode (serde's
//! default): adding an optional field is compatible, anything else is a new version.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Event;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// An org was created (signup). Consumers seed their per-org defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgCreatedV1 {
    pub name: String,
    /// IANA time zone of the clinic, e.g. `America/New_York`.
    pub timezone: String,
    pub owner_user_id: Uuid,
}

impl Event for OrgCreatedV1 {
    const TYPE: &'static str = "org.created.v1";
    const PRODUCER: &'static str = "auth";
    const CONSUMERS: &'static [&'static str] =
        &["calendar", "voice-webhook", "messaging", "lead-scoring"];
    const DESCRIPTION: &'static str = "An organization signed up: calendar seeds services and hours, voice-webhook a default agent, messaging default templates, lead-scoring notes the clinic's time zone (after-hours calls).";
    fn example() -> Self {
        OrgCreatedV1 {
            name: "Bright Smile Dental".into(),
            timezone: "America/New_York".into(),
            owner_user_id: id(1),
        }
    }
}

/// An org was deleted; every service purges its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgDeletedV1 {
    pub deleted_at: DateTime<Utc>,
}

impl Event for OrgDeletedV1 {
    const TYPE: &'static str = "org.deleted.v1";
    const PRODUCER: &'static str = "auth";
    const CONSUMERS: &'static [&'static str] =
        &["voice-webhook", "calendar", "messaging", "lead-scoring"];
    const DESCRIPTION: &'static str =
        "An organization was deleted: every service purges that org's data.";
    fn example() -> Self {
        OrgDeletedV1 {
            deleted_at: t("2026-11-22T10:00:00Z"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallDirection {
    Inbound,
    Outbound,
}

/// A call reached `in-progress` for the first time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallStartedV1 {
    pub call_id: Uuid,
    pub vapi_call_id: String,
    pub agent_id: Option<Uuid>,
    pub direction: CallDirection,
    /// E.164 number of the caller.
    pub caller_number: Option<String>,
    pub started_at: DateTime<Utc>,
}

impl Event for CallStartedV1 {
    const TYPE: &'static str = "call.started.v1";
    const PRODUCER: &'static str = "voice-webhook";
    const CONSUMERS: &'static [&'static str] = &["lead-scoring"];
    const DESCRIPTION: &'static str = "A call went live (first in-progress status).";
    fn example() -> Self {
        CallStartedV1 {
            call_id: id(2),
            vapi_call_id: "c-9f1b2e".into(),
            agent_id: Some(id(3)),
            direction: CallDirection::Inbound,
            caller_number: Some("+15550100123".into()),
            started_at: t("2026-11-22T14:03:00Z"),
        }
    }
}

/// What Vapi's end-of-call analysis said about a call (`analysisPlan.structuredDataPlan` with the
/// schema voice-webhook sends, plus `analysis.summary`). Every field is optional and loosely typed
/// on purpose: it is an LLM's extraction, and a consumer must never reject a call because one
/// field came back odd. Never the transcript.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CallAnalysisV1 {
    /// `book`, `reschedule`, `cancel`, `price_question`, `insurance_question`, `emergency` or
    /// `other` (anything else is treated as unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// The service the caller asked about, in the caller's words or the clinic's catalogue name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_of_interest: Option<String>,
    /// A price the agent quoted on the call (major units, e.g. 3200.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoted_price: Option<f64>,
    /// ISO 4217 code of `quoted_price`, e.g. `USD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `low`, `normal`, `high` or `emergency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_patient: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurance_mentioned: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_requested: Option<bool>,
    /// The caller meant to reach someone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrong_number: Option<bool>,
    /// `positive`, `neutral` or `negative`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<String>,
    /// Vapi's `analysis.summary` (a few sentences; personal data, handled like a name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// The end-of-call report arrived. Never the transcript: it stays (encrypted) in voice-webhook.
/// `analysis` (added compatibly: absent from older messages) carries Vapi's structured data and
/// summary when the assistant asked for them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEndedV1 {
    pub call_id: Uuid,
    pub vapi_call_id: String,
    pub agent_id: Option<Uuid>,
    pub direction: CallDirection,
    pub caller_number: Option<String>,
    pub caller_name: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
    pub duration_seconds: u32,
    /// Vapi's `endedReason`, kept as a string (the set grows).
    pub ended_reason: String,
    /// True when a booking was made during the call.
    pub booked: bool,
    /// Vapi's success evaluation, when configured.
    pub success_evaluation: Option<String>,
    /// Vapi's end-of-call analysis, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<CallAnalysisV1>,
}

impl Event for CallEndedV1 {
    const TYPE: &'static str = "call.ended.v1";
    const PRODUCER: &'static str = "voice-webhook";
    const CONSUMERS: &'static [&'static str] = &["lead-scoring", "messaging"];
    const DESCRIPTION: &'static str = "A call ended: lead-scoring scores the caller; messaging may text back a missed call or follow up.";
    fn example() -> Self {
        CallEndedV1 {
            call_id: id(2),
            vapi_call_id: "c-9f1b2e".into(),
            agent_id: Some(id(3)),
            direction: CallDirection::Inbound,
            caller_number: Some("+15550100123".into()),
            caller_name: Some("Jordan Lee".into()),
            started_at: Some(t("2026-11-22T14:03:00Z")),
            ended_at: t("2026-11-22T14:07:12Z"),
            duration_seconds: 252,
            ended_reason: "customer-ended-call".into(),
            booked: true,
            success_evaluation: Some("true".into()),
            analysis: Some(CallAnalysisV1 {
                intent: Some("book".into()),
                service_of_interest: Some("Cleaning".into()),
                quoted_price: Some(120.0),
                currency: Some("USD".into()),
                urgency: Some("normal".into()),
                new_patient: Some(true),
                insurance_mentioned: Some(false),
                callback_requested: Some(false),
                wrong_number: Some(false),
                sentiment: Some("positive".into()),
                summary: Some("New patient booked a cleaning for Monday afternoon.".into()),
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BookingSource {
    Voice,
    Dashboard,
    Api,
    Google,
}

/// Who the appointment is for and what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppointmentDetails {
    pub appointment_id: Uuid,
    pub service_id: Uuid,
    pub service_name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The clinic's IANA time zone, for rendering times to the patient.
    pub timezone: String,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub source: BookingSource,
    pub call_id: Option<Uuid>,
    /// The appointment's version: 1 when booked, +1 on every change (monotonic per
    /// appointment). Events may arrive out of order: apply one only when its version is higher
    /// than the one you stored (`crate::ordering::should_apply`). 0 = sent before versions existed.
    #[serde(default)]
    pub version: i64,
    /// Who (or which room) the appointment is with (issue 15). Absent in events sent before
    /// providers existed; such an appointment is with the clinic's default provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
}

fn example_details() -> AppointmentDetails {
    AppointmentDetails {
        appointment_id: id(4),
        service_id: id(5),
        service_name: "Cleaning".into(),
        starts_at: t("2026-11-24T15:00:00Z"),
        ends_at: t("2026-11-24T15:30:00Z"),
        timezone: "America/New_York".into(),
        contact_name: Some("Jordan Lee".into()),
        contact_phone: Some("+15550100123".into()),
        source: BookingSource::Voice,
        call_id: Some(id(2)),
        version: 1,
        provider_id: Some(id(7)),
        provider_name: Some("Dr. Anika Patel".into()),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppointmentBookedV1 {
    #[serde(flatten)]
    pub appointment: AppointmentDetails,
}

impl Event for AppointmentBookedV1 {
    const TYPE: &'static str = "appointment.booked.v1";
    const PRODUCER: &'static str = "calendar";
    const CONSUMERS: &'static [&'static str] = &["messaging", "lead-scoring"];
    const DESCRIPTION: &'static str = "An appointment was booked: messaging texts a confirmation and schedules reminders; lead-scoring moves the contact's stage.";
    fn example() -> Self {
        AppointmentBookedV1 {
            appointment: example_details(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppointmentRescheduledV1 {
    #[serde(flatten)]
    pub appointment: AppointmentDetails,
    pub previous_starts_at: DateTime<Utc>,
    pub previous_ends_at: DateTime<Utc>,
}

impl Event for AppointmentRescheduledV1 {
    const TYPE: &'static str = "appointment.rescheduled.v1";
    const PRODUCER: &'static str = "calendar";
    const CONSUMERS: &'static [&'static str] = &["messaging", "lead-scoring"];
    const DESCRIPTION: &'static str = "An appointment moved to a new time (same appointment id).";
    fn example() -> Self {
        AppointmentRescheduledV1 {
            appointment: AppointmentDetails {
                version: 2,
                ..example_details()
            },
            previous_starts_at: t("2026-11-23T15:00:00Z"),
            previous_ends_at: t("2026-11-23T15:30:00Z"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppointmentCancelledV1 {
    #[serde(flatten)]
    pub appointment: AppointmentDetails,
    pub reason: Option<String>,
    pub cancelled_at: DateTime<Utc>,
}

impl Event for AppointmentCancelledV1 {
    const TYPE: &'static str = "appointment.cancelled.v1";
    const PRODUCER: &'static str = "calendar";
    const CONSUMERS: &'static [&'static str] = &["messaging", "lead-scoring"];
    const DESCRIPTION: &'static str =
        "An appointment was cancelled (the row stays, with its reason).";
    fn example() -> Self {
        AppointmentCancelledV1 {
            appointment: AppointmentDetails {
                version: 3,
                ..example_details()
            },
            reason: Some("patient request".into()),
            cancelled_at: t("2026-11-23T09:12:00Z"),
        }
    }
}

/// The patient came: staff recorded the appointment as completed (`POST …/complete`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppointmentCompletedV1 {
    #[serde(flatten)]
    pub appointment: AppointmentDetails,
    pub recorded_at: DateTime<Utc>,
}

impl Event for AppointmentCompletedV1 {
    const TYPE: &'static str = "appointment.completed.v1";
    const PRODUCER: &'static str = "calendar";
    const CONSUMERS: &'static [&'static str] = &["lead-scoring"];
    const DESCRIPTION: &'static str = "The patient came (staff recorded the appointment completed): lead-scoring counts a kept appointment and moves the lead to won.";
    fn example() -> Self {
        AppointmentCompletedV1 {
            appointment: AppointmentDetails {
                version: 2,
                ..example_details()
            },
            recorded_at: t("2026-11-24T15:40:00Z"),
        }
    }
}

/// The patient did not come: staff recorded a no-show (`POST …/no-show`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppointmentMissedV1 {
    #[serde(flatten)]
    pub appointment: AppointmentDetails,
    pub recorded_at: DateTime<Utc>,
}

impl Event for AppointmentMissedV1 {
    const TYPE: &'static str = "appointment.missed.v1";
    const PRODUCER: &'static str = "calendar";
    const CONSUMERS: &'static [&'static str] = &["lead-scoring"];
    const DESCRIPTION: &'static str = "The patient did not come (staff recorded a no-show): lead-scoring counts it in the no-show history.";
    fn example() -> Self {
        AppointmentMissedV1 {
            appointment: AppointmentDetails {
                version: 2,
                ..example_details()
            },
            recorded_at: t("2026-11-24T15:40:00Z"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Whatsapp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDeliveredV1 {
    pub message_id: Uuid,
    pub to_number: String,
    pub channel: Channel,
    pub template_key: Option<String>,
    pub delivered_at: DateTime<Utc>,
}

impl Event for MessageDeliveredV1 {
    const TYPE: &'static str = "message.delivered.v1";
    const PRODUCER: &'static str = "messaging";
    const CONSUMERS: &'static [&'static str] = &["lead-scoring"];
    const DESCRIPTION: &'static str = "Twilio reported a message delivered.";
    fn example() -> Self {
        MessageDeliveredV1 {
            message_id: id(6),
            to_number: "+15550100123".into(),
            channel: Channel::Sms,
            template_key: Some("appointment_confirmation".into()),
            delivered_at: t("2026-11-22T14:08:01Z"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageFailedV1 {
    pub message_id: Uuid,
    pub to_number: String,
    pub channel: Channel,
    pub template_key: Option<String>,
    /// Twilio's error code, e.g. `30003` (unreachable).
    pub error_code: Option<String>,
    pub failed_at: DateTime<Utc>,
}

impl Event for MessageFailedV1 {
    const TYPE: &'static str = "message.failed.v1";
    const PRODUCER: &'static str = "messaging";
    const CONSUMERS: &'static [&'static str] = &["lead-scoring"];
    const DESCRIPTION: &'static str =
        "A message could not be delivered (final status failed or undelivered).";
    fn example() -> Self {
        MessageFailedV1 {
            message_id: id(6),
            to_number: "+15550100123".into(),
            channel: Channel::Sms,
            template_key: Some("appointment_reminder".into()),
            error_code: Some("30003".into()),
            failed_at: t("2026-11-22T14:08:01Z"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactOptedOutV1 {
    pub phone: String,
    pub channel: Channel,
    /// The keyword received, e.g. `STOP`.
    pub keyword: Option<String>,
    pub opted_out_at: DateTime<Utc>,
}

impl Event for ContactOptedOutV1 {
    const TYPE: &'static str = "contact.opted_out.v1";
    const PRODUCER: &'static str = "messaging";
    const CONSUMERS: &'static [&'static str] = &["lead-scoring"];
    const DESCRIPTION: &'static str =
        "A contact replied STOP (or equivalent): no more messages to that number.";
    fn example() -> Self {
        ContactOptedOutV1 {
            phone: "+15550100123".into(),
            channel: Channel::Sms,
            keyword: Some("STOP".into()),
            opted_out_at: t("2026-11-22T15:00:00Z"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeadTier {
    Hot,
    Warm,
    Cold,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadScoredV1 {
    pub contact_id: Uuid,
    pub phone: String,
    pub name: Option<String>,
    /// 0–100.
    pub score: u8,
    pub tier: LeadTier,
    /// Short machine-readable reasons, e.g. `booked_on_call`, `asked_about_price`.
    pub reasons: Vec<String>,
    pub call_id: Option<Uuid>,
    /// The next best action: `call_back_now`, `send_booking_link`, `nurture_7d` or `none`
    /// (added compatibly: absent from older messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_action: Option<String>,
    /// The scoring model that produced the score, e.g. `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
}

impl Event for LeadScoredV1 {
    const TYPE: &'static str = "lead.scored.v1";
    const PRODUCER: &'static str = "lead-scoring";
    const CONSUMERS: &'static [&'static str] = &["messaging"];
    const DESCRIPTION: &'static str =
        "A caller was (re)scored: messaging alerts staff about hot leads.";
    fn example() -> Self {
        LeadScoredV1 {
            contact_id: id(7),
            phone: "+15550100123".into(),
            name: Some("Jordan Lee".into()),
            score: 86,
            tier: LeadTier::Hot,
            reasons: vec!["booked_on_call".into(), "new_patient".into()],
            call_id: Some(id(2)),
            next_action: Some("none".into()),
            model_version: Some("v1".into()),
        }
    }
}

/// The voice agent took a message for the clinic's staff (`take_message`). The text itself stays
/// sealed in voice (staff read it in the inbox, `GET /api/voice/messages`, where each read is in
/// the PHI access log); the event says only who to call back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceMessageTakenV1 {
    pub message_id: Uuid,
    pub call_id: Option<Uuid>,
    /// E.164 number to call back (the caller's).
    pub callback_number: Option<String>,
    pub caller_name: Option<String>,
    pub taken_at: DateTime<Utc>,
}

impl Event for VoiceMessageTakenV1 {
    const TYPE: &'static str = "voice.message_taken.v1";
    const PRODUCER: &'static str = "voice-webhook";
    const CONSUMERS: &'static [&'static str] = &["messaging", "lead-scoring"];
    const DESCRIPTION: &'static str = "The voice agent took a message for the staff: messaging alerts the staff (the text stays in voice's inbox), lead-scoring counts the contact.";
    fn example() -> Self {
        VoiceMessageTakenV1 {
            message_id: id(8),
            call_id: Some(id(2)),
            callback_number: Some("+15550100123".into()),
            caller_name: Some("Jordan Lee".into()),
            taken_at: t("2026-11-22T14:26:00Z"),
        }
    }
}

/// A patient replied `C` (or `CONFIRM`) to a text about their appointment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppointmentReplyConfirmedV1 {
    pub appointment_id: Uuid,
    /// The inbound message that confirmed (messaging's id).
    pub message_id: Uuid,
    pub replied_at: DateTime<Utc>,
}

impl Event for AppointmentReplyConfirmedV1 {
    const TYPE: &'static str = "appointment.reply_confirmed.v1";
    const PRODUCER: &'static str = "messaging";
    const CONSUMERS: &'static [&'static str] = &["calendar"];
    const DESCRIPTION: &'static str = "A patient replied C to a confirmation or reminder: calendar marks a booked, upcoming appointment confirmed.";
    fn example() -> Self {
        AppointmentReplyConfirmedV1 {
            appointment_id: id(4),
            message_id: id(8),
            replied_at: t("2026-11-23T15:02:00Z"),
        }
    }
}

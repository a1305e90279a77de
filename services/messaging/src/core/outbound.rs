//! The intent of every outbound message, written inside the caller's transaction before Twilio
//! is ever called: the sealed body, the status (`pending` with a durable send job, or
//! `simulated` when the org has no Twilio account) and the first line of its history. Opt-outs
//! are refused here, before anything reaches Twilio.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use servicekit::crypto::KeyRing;
use tenancy::OrgId;
use uuid::Uuid;

use super::{BODY_PURPOSE, CoreError};
use crate::domain::phone::Channel;
use crate::domain::signature::sha256_hex;
use crate::domain::status;
use crate::store::messages::{MessageRow, NewMessage};
use crate::store::{accounts, jobs, messages, opt_outs};

/// Kinds of outbound message. Kinds not listed in `waits_for_window` go out at any hour.
pub mod kind {
    pub const MANUAL: &str = "manual";
    pub const CONFIRMATION: &str = "appointment_confirmation";
    pub const REMINDER: &str = "appointment_reminder";
    pub const RESCHEDULED: &str = "appointment_rescheduled";
    pub const CANCELLED: &str = "appointment_cancelled";
    pub const MISSED_CALL: &str = "missed_call_textback";
    pub const HOT_LEAD: &str = "hot_lead_alert";
    /// To the staff when the voice agent took a message; waits for the quiet-hours window like
    /// reminders (a message left at 3 a.m. is read in the morning).
    pub const MESSAGE_TAKEN: &str = "message_taken_alert";
    pub const KEYWORD_REPLY: &str = "keyword_reply";
}

/// Whether a message of `kind` waits for the quiet-hours window. Transactional texts sent right
/// after their event (confirmations, changes, keyword replies, staff alerts) do not; reminders,
/// manual sends and text-backs do. A transactional text that could not go out within a minute
/// of its creation waits too.
pub fn waits_for_window(kind: &str, created_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    match kind {
        kind::CONFIRMATION | kind::RESCHEDULED | kind::CANCELLED => {
            now - created_at > chrono::Duration::minutes(1)
        }
        kind::KEYWORD_REPLY | kind::HOT_LEAD => false,
        _ => true,
    }
}

#[derive(Debug, Clone)]
pub struct Outbound {
    pub kind: &'static str,
    pub channel: Channel,
    pub to: String,
    pub body: String,
    pub template_key: Option<String>,
    pub content_sid: Option<String>,
    pub send_at: DateTime<Utc>,
    pub idempotency_key: Option<String>,
    pub request_sha256: Option<String>,
    pub dedupe_key: Option<String>,
    pub appointment_id: Option<Uuid>,
    /// Only the answer to STOP/START itself may go to an opted-out number.
    pub bypass_opt_out: bool,
}

impl Outbound {
    pub fn new(kind: &'static str, channel: Channel, to: &str, body: String) -> Self {
        Outbound {
            kind,
            channel,
            to: to.to_string(),
            body,
            template_key: None,
            content_sid: None,
            send_at: Utc::now(),
            idempotency_key: None,
            request_sha256: None,
            dedupe_key: None,
            appointment_id: None,
            bypass_opt_out: false,
        }
    }
}

/// What `enqueue` did.
#[derive(Debug)]
pub enum Enqueued {
    Stored(Box<MessageRow>),
    /// The idempotency or dedupe key is taken: nothing new was stored.
    Duplicate,
}

pub fn refused(reason: &'static str) {
    metrics::counter!("messaging_refusals_total", "reason" => reason).increment(1);
}

/// Stores the intent in `tx`. Returns `Err(OptedOut)` for an opted-out number (nothing stored).
pub async fn enqueue(
    tx: &mut AsyncPgConnection,
    keys: &KeyRing,
    org: OrgId,
    o: Outbound,
) -> Result<Enqueued, CoreError> {
    if !o.bypass_opt_out && opt_outs::is_opted_out(tx, org, &o.to).await? {
        refused("contact_opted_out");
        return Err(CoreError::OptedOut);
    }
    let account = accounts::find(tx, org).await?;
    let sealed = keys.encrypt(org.as_uuid(), BODY_PURPOSE, o.body.as_bytes())?;
    // Without an account a text due now is `simulated` at once; a later one waits in the queue
    // like any other (it may still be cancelled or moved) and is simulated when due.
    let simulated = account.is_none() && o.send_at <= Utc::now() + chrono::Duration::seconds(5);
    let from = account.as_ref().and_then(|a| match o.channel {
        Channel::Sms => a.from_number.clone(),
        Channel::Whatsapp => a.whatsapp_from.clone(),
    });
    let st = if simulated {
        status::SIMULATED
    } else {
        status::PENDING
    };
    let new = NewMessage {
        id: Uuid::new_v4(),
        org_id: org.as_uuid(),
        direction: "outbound".into(),
        channel: o.channel.as_str().into(),
        kind: o.kind.into(),
        to_number: o.to,
        from_number: from,
        body_key_id: sealed.key_id,
        body_sealed: sealed.ciphertext,
        body_sha256: sha256_hex(o.body.as_bytes()),
        template_key: o.template_key,
        content_sid: o.content_sid,
        status: st.into(),
        status_rank: if simulated { 4 } else { -1 },
        twilio_sid: None,
        error_code: None,
        error_reason: None,
        idempotency_key: o.idempotency_key,
        request_sha256: o.request_sha256,
        dedupe_key: o.dedupe_key,
        appointment_id: o.appointment_id,
        send_at: o.send_at,
    };
    let Some(row) = messages::insert(tx, &new).await? else {
        return Ok(Enqueued::Duplicate);
    };
    messages::add_event(tx, org, row.id, st, "created", None, true).await?;
    if simulated {
        metrics::counter!("messaging_sends_total", "outcome" => "simulated").increment(1);
    } else {
        jobs::enqueue(tx, org, row.id, row.send_at).await?;
    }
    Ok(Enqueued::Stored(Box::new(row)))
}

//! Texts caused by calls and leads, inside the consumer's transaction: a missed-call text-back
//! to the caller (per-org toggle, at most once per caller per local day), a hot-lead alert
//! to each of the org's staff numbers (once per lead and call), and a "message taken" alert to
//! the staff numbers (once per message; never the message text, which stays in voice's inbox).

use std::collections::BTreeMap;

use chrono::Utc;
use chrono_tz::Tz;
use diesel_async::AsyncPgConnection;
use events::{CallDirection, CallEndedV1, LeadScoredV1, LeadTier, VoiceMessageTakenV1};
use servicekit::crypto::KeyRing;
use tenancy::OrgId;

use super::CoreError;
use super::outbound::{self, Enqueued, Outbound, kind};
use crate::domain::calls::is_missed;
use crate::domain::phone::{Channel, is_e164};
use crate::domain::quiet::local_day;
use crate::domain::template;
use crate::store::{settings, templates};

async fn body_of(
    tx: &mut AsyncPgConnection,
    org: OrgId,
    key: &str,
    values: &BTreeMap<String, String>,
) -> Result<String, CoreError> {
    let body = match templates::find(tx, org, key, "sms").await? {
        Some(t) => t.body,
        None => template::default_body(key).unwrap_or("").to_string(),
    };
    Ok(template::render(&body, values)?)
}

fn ignore_refusal(r: Result<Enqueued, CoreError>) -> Result<(), CoreError> {
    match r {
        Ok(_) | Err(CoreError::OptedOut) => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn call_ended(
    tx: &mut AsyncPgConnection,
    keys: &KeyRing,
    org: OrgId,
    c: &CallEndedV1,
) -> Result<(), CoreError> {
    let inbound = c.direction == CallDirection::Inbound;
    if !is_missed(inbound, c.booked, c.duration_seconds, &c.ended_reason) {
        return Ok(());
    }
    let Some(phone) = c.caller_number.clone().filter(|p| is_e164(p)) else {
        return Ok(());
    };
    let s = settings::find(tx, org).await?;
    if !s.missed_call_textback {
        return Ok(());
    }
    let tz: Tz = s.timezone.parse().unwrap_or(chrono_tz::UTC);
    let clinic = if s.clinic_name.is_empty() {
        "the clinic".to_string()
    } else {
        s.clinic_name.clone()
    };
    let values = BTreeMap::from([
        ("clinic_name".to_string(), clinic),
        ("caller_number".to_string(), phone.clone()),
    ]);
    let body = body_of(tx, org, kind::MISSED_CALL, &values).await?;
    let mut o = Outbound::new(kind::MISSED_CALL, Channel::Sms, &phone, body);
    o.template_key = Some(kind::MISSED_CALL.into());
    o.dedupe_key = Some(format!(
        "missed:{phone}:{}",
        local_day(c.ended_at.min(Utc::now()), tz)
    ));
    ignore_refusal(outbound::enqueue(tx, keys, org, o).await)
}

pub async fn lead_scored(
    tx: &mut AsyncPgConnection,
    keys: &KeyRing,
    org: OrgId,
    l: &LeadScoredV1,
) -> Result<(), CoreError> {
    if l.tier != LeadTier::Hot {
        return Ok(());
    }
    let s = settings::find(tx, org).await?;
    let clinic = if s.clinic_name.is_empty() {
        "the clinic".to_string()
    } else {
        s.clinic_name.clone()
    };
    let values = BTreeMap::from([
        ("clinic_name".to_string(), clinic),
        (
            "lead_name".to_string(),
            l.name.clone().unwrap_or_else(|| "a caller".into()),
        ),
        ("lead_phone".to_string(), l.phone.clone()),
        ("lead_score".to_string(), l.score.to_string()),
    ]);
    let body = body_of(tx, org, kind::HOT_LEAD, &values).await?;
    let occasion = l
        .call_id
        .map_or_else(|| l.contact_id.to_string(), |c| c.to_string());
    for staff in s.staff_numbers.iter().flatten().filter(|n| is_e164(n)) {
        let mut o = Outbound::new(kind::HOT_LEAD, Channel::Sms, staff, body.clone());
        o.template_key = Some(kind::HOT_LEAD.into());
        o.dedupe_key = Some(format!("hotlead:{}:{occasion}:{staff}", l.contact_id));
        ignore_refusal(outbound::enqueue(tx, keys, org, o).await)?;
    }
    Ok(())
}

/// `voice.message_taken.v1`: tells each staff number who left a message (the text itself stays
/// sealed in voice's inbox). Once per message and number, however often the event arrives.
pub async fn message_taken(
    tx: &mut AsyncPgConnection,
    keys: &KeyRing,
    org: OrgId,
    m: &VoiceMessageTakenV1,
) -> Result<(), CoreError> {
    let s = settings::find(tx, org).await?;
    let clinic = if s.clinic_name.is_empty() {
        "the clinic".to_string()
    } else {
        s.clinic_name.clone()
    };
    let values = BTreeMap::from([
        ("clinic_name".to_string(), clinic),
        (
            "patient_name".to_string(),
            m.caller_name.clone().unwrap_or_else(|| "a caller".into()),
        ),
        (
            "caller_number".to_string(),
            m.callback_number
                .clone()
                .unwrap_or_else(|| "number withheld".into()),
        ),
    ]);
    let body = body_of(tx, org, kind::MESSAGE_TAKEN, &values).await?;
    for staff in s.staff_numbers.iter().flatten().filter(|n| is_e164(n)) {
        let mut o = Outbound::new(kind::MESSAGE_TAKEN, Channel::Sms, staff, body.clone());
        o.template_key = Some(kind::MESSAGE_TAKEN.into());
        o.dedupe_key = Some(format!("msgtaken:{}:{staff}", m.message_id));
        ignore_refusal(outbound::enqueue(tx, keys, org, o).await)?;
    }
    Ok(())
}

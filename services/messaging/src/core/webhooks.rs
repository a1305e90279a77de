//! Twilio's webhooks for one org. The signature is checked with that org's auth token against
//! the exact public URL before anything is parsed into our state; a missing account, a missing
//! or wrong signature is one answer (`BadSignature`), and nothing changes. Status callbacks only
//! move a message forward; inbound texts are stored once (by MessageSid) and keywords act.

use chrono::Utc;
use events::{AppointmentReplyConfirmedV1, ContactOptedOutV1, MessageDeliveredV1, MessageFailedV1};
use tenancy::OrgId;

use super::accounts::open;
use super::dispatch::event_channel;
use super::outbound::{self, Enqueued, Outbound, kind};
use super::{BODY_PURPOSE, CoreError};
use crate::domain::keywords::{self, Keyword};
use crate::domain::phone::{Channel, is_e164};
use crate::domain::signature::{form_signature_ok, json_signature_ok, sha256_hex};
use crate::domain::status::{self, ErrorClass, classify};
use crate::state::AppState;
use crate::store::messages::{self, NewMessage, StatusChange};
use crate::store::{accounts, appointments, opt_outs, settings};

pub type Params = Vec<(String, String)>;

/// Verifies a webhook and returns its parameters (form fields; a JSON body's top-level strings).
pub async fn verify(
    st: &AppState,
    org: OrgId,
    url: &str,
    signature: Option<&str>,
    json: bool,
    body: &[u8],
) -> Result<Params, CoreError> {
    let Some(sig) = signature.filter(|s| !s.is_empty()) else {
        metrics::counter!("messaging_webhooks_refused_total", "reason" => "unsigned").increment(1);
        return Err(CoreError::BadSignature);
    };
    let account = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move { accounts::find(tx, org).await.map_err(CoreError::from) })
        })
        .await?;
    let Some(account) = account else {
        metrics::counter!("messaging_webhooks_refused_total", "reason" => "no_account")
            .increment(1);
        return Err(CoreError::BadSignature);
    };
    let token = open(st, org, &account)?.auth_token;
    let ok = if json {
        json_signature_ok(&token, url, body, sig)
    } else {
        let form: Params = form_urlencoded::parse(body).into_owned().collect();
        form_signature_ok(&token, url, &form, sig)
    };
    if !ok {
        metrics::counter!("messaging_webhooks_refused_total", "reason" => "bad_signature")
            .increment(1);
        return Err(CoreError::BadSignature);
    }
    Ok(if json {
        match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body) {
            Ok(m) => m
                .into_iter()
                .filter_map(|(k, v)| match v {
                    serde_json::Value::String(s) => Some((k, s)),
                    serde_json::Value::Number(n) => Some((k, n.to_string())),
                    _ => None,
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    } else {
        form_urlencoded::parse(body).into_owned().collect()
    })
}

fn param<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Applies a status callback. Unknown SIDs (another org's, or not ours) change nothing.
pub async fn status_callback(st: &AppState, org: OrgId, p: Params) -> Result<(), CoreError> {
    let (Some(sid), Some(new)) = (param(&p, "MessageSid"), param(&p, "MessageStatus")) else {
        return Err(CoreError::invalid(
            "invalid_field",
            "MessageSid",
            "MessageSid and MessageStatus are required",
        ));
    };
    let sid = sid.to_string();
    let new = new.to_ascii_lowercase();
    let code = param(&p, "ErrorCode")
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let why = param(&p, "ErrorMessage").map(str::to_string);
    metrics::counter!("messaging_callbacks_total", "status" => status_label(&new)).increment(1);
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let Some(msg) = messages::find_by_sid_for_update(tx, org, &sid).await? else {
                    tracing::info!(org = %org, "status callback for a message this org does not have; ignored");
                    return Ok::<_, CoreError>(());
                };
                let Some(rank) = status::twilio_rank(&new) else {
                    tracing::info!(org = %org, message = %msg.id, status = %new, "unranked status kept in history only");
                    messages::add_event(tx, org, msg.id, &new, "callback", code.as_deref(), false).await?;
                    return Ok(());
                };
                if !status::moves_forward(msg.status_rank, rank) {
                    if msg.status != new {
                        messages::add_event(tx, org, msg.id, &new, "callback", code.as_deref(), false).await?;
                    }
                    return Ok(());
                }
                let failed = new == "failed" || new == "undelivered";
                let reason = code.as_deref().and_then(|c| c.parse::<i64>().ok()).map(|c| status::reason(c, why.as_deref().unwrap_or("")));
                let change = StatusChange {
                    status: Some(new.clone()),
                    status_rank: Some(rank),
                    error_code: failed.then(|| code.clone()),
                    error_reason: failed.then_some(reason),
                    ..Default::default()
                };
                messages::update(tx, org, msg.id, &change).await?;
                messages::add_event(tx, org, msg.id, &new, "callback", code.as_deref(), true).await?;
                if new == "delivered" {
                    bus::enqueue(tx, org, &MessageDeliveredV1 {
                        message_id: msg.id,
                        to_number: msg.to_number.clone(),
                        channel: event_channel(&msg.channel),
                        template_key: msg.template_key.clone(),
                        delivered_at: Utc::now(),
                    })
                    .await?;
                } else if failed {
                    bus::enqueue(tx, org, &MessageFailedV1 {
                        message_id: msg.id,
                        to_number: msg.to_number.clone(),
                        channel: event_channel(&msg.channel),
                        template_key: msg.template_key.clone(),
                        error_code: code.clone(),
                        failed_at: Utc::now(),
                    })
                    .await?;
                    if code.as_deref().and_then(|c| c.parse::<i64>().ok()).map(classify) == Some(ErrorClass::OptedOut)
                        && opt_outs::add(tx, org, &msg.to_number, "twilio_21610", None, None).await?
                    {
                        bus::enqueue(tx, org, &ContactOptedOutV1 {
                            phone: msg.to_number.clone(),
                            channel: event_channel(&msg.channel),
                            keyword: None,
                            opted_out_at: Utc::now(),
                        })
                        .await?;
                    }
                }
                Ok(())
            })
        })
        .await
}

fn status_label(s: &str) -> &'static str {
    match s {
        "accepted" => "accepted",
        "scheduled" => "scheduled",
        "queued" => "queued",
        "sending" => "sending",
        "sent" => "sent",
        "delivered" => "delivered",
        "undelivered" => "undelivered",
        "failed" => "failed",
        "canceled" => "canceled",
        "read" => "read",
        _ => "other",
    }
}

/// What an inbound text did.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    Duplicate,
    Stored(Option<Keyword>),
}

pub async fn inbound(st: &AppState, org: OrgId, p: Params) -> Result<Inbound, CoreError> {
    let (Some(sid), Some(from), Some(to)) =
        (param(&p, "MessageSid"), param(&p, "From"), param(&p, "To"))
    else {
        return Err(CoreError::invalid(
            "invalid_field",
            "MessageSid",
            "MessageSid, From and To are required",
        ));
    };
    let (channel, from_number) = Channel::split(from);
    let (_, to_number) = Channel::split(to);
    if !is_e164(from_number) {
        return Err(CoreError::invalid(
            "invalid_field",
            "From",
            "From is not a phone number",
        ));
    }
    let body = param(&p, "Body").unwrap_or("").to_string();
    let keyword = match param(&p, "OptOutType")
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("STOP") => Some((Keyword::OptOut, "STOP".to_string())),
        Some("START") => Some((Keyword::OptIn, "START".to_string())),
        Some("HELP") => Some((Keyword::Help, "HELP".to_string())),
        _ => keywords::classify(&body),
    };
    let sealed = st
        .keys
        .encrypt(org.as_uuid(), BODY_PURPOSE, body.as_bytes())?;
    let new = NewMessage {
        id: uuid::Uuid::new_v4(),
        org_id: org.as_uuid(),
        direction: "inbound".into(),
        channel: channel.as_str().into(),
        kind: "inbound".into(),
        to_number: to_number.to_string(),
        from_number: Some(from_number.to_string()),
        body_key_id: sealed.key_id,
        body_sealed: sealed.ciphertext,
        body_sha256: sha256_hex(body.as_bytes()),
        template_key: None,
        content_sid: None,
        status: status::RECEIVED.into(),
        status_rank: 4,
        twilio_sid: Some(sid.to_string()),
        error_code: None,
        error_reason: None,
        idempotency_key: None,
        request_sha256: None,
        dedupe_key: None,
        appointment_id: None,
        send_at: Utc::now(),
    };
    let phone = from_number.to_string();
    let keys = st.keys.clone();
    let out = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let Some(row) = messages::insert(tx, &new).await? else {
                    return Ok::<_, CoreError>(Inbound::Duplicate);
                };
                messages::add_event(tx, org, row.id, status::RECEIVED, "inbound", None, true).await?;
                let Some((k, word)) = keyword else {
                    return Ok(Inbound::Stored(None));
                };
                let s = settings::find(tx, org).await?;
                let clinic = if s.clinic_name.is_empty() { "the clinic".to_string() } else { s.clinic_name.clone() };
                let reply = match k {
                    Keyword::OptOut => {
                        if opt_outs::add(tx, org, &phone, "keyword", Some(&word), None).await? {
                            bus::enqueue(tx, org, &ContactOptedOutV1 {
                                phone: phone.clone(),
                                channel: event_channel(channel.as_str()),
                                keyword: Some(word.clone()),
                                opted_out_at: Utc::now(),
                            })
                            .await?;
                        }
                        (!s.twilio_replies_to_keywords).then(|| {
                            format!("You are unsubscribed from {clinic} texts and will get no more. Reply START to resubscribe.")
                        })
                    }
                    Keyword::OptIn => {
                        if opt_outs::is_opted_out(tx, org, &phone).await? {
                            opt_outs::remove(tx, org, &phone, "keyword", Some(&word), None).await?;
                        }
                        (!s.twilio_replies_to_keywords).then(|| {
                            format!("You are resubscribed to {clinic} texts. Reply STOP to opt out.")
                        })
                    }
                    Keyword::Help => Some(if s.help_text.is_empty() {
                        format!("{clinic}: appointment texts. Reply STOP to opt out, START to opt back in. Call the clinic for help.")
                    } else {
                        s.help_text.clone()
                    }),
                    Keyword::Confirm => {
                        // The newest text about an appointment to this number; only a booked,
                        // upcoming appointment is confirmed (calendar decides, by the event).
                        let target = match messages::latest_appointment_message_to(tx, org, &phone).await? {
                            Some(m) => m.appointment_id,
                            None => None,
                        };
                        let mut reply = None;
                        if let Some(appt) = target
                            && let Some((st, starts_at)) = appointments::status_of(tx, org, appt).await?
                                && st == "booked" && starts_at > Utc::now() {
                                    bus::enqueue(tx, org, &AppointmentReplyConfirmedV1 {
                                        appointment_id: appt,
                                        message_id: row.id,
                                        replied_at: Utc::now(),
                                    })
                                    .await?;
                                    reply = Some(format!("Thanks, your appointment with {clinic} is confirmed."));
                                }
                        reply
                    }
                };
                if let Some(text) = reply {
                    let mut o = Outbound::new(kind::KEYWORD_REPLY, channel, &phone, text);
                    o.bypass_opt_out = matches!(k, Keyword::OptOut | Keyword::OptIn);
                    o.dedupe_key = Some(format!("reply:{}", row.id));
                    match outbound::enqueue(tx, &keys, org, o).await {
                        Ok(Enqueued::Stored(_) | Enqueued::Duplicate) => {}
                        // HELP from an opted-out number: no reply, the opt-out wins.
                        Err(CoreError::OptedOut) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(Inbound::Stored(Some(k)))
            })
        })
        .await?;
    st.wake.notify_one();
    Ok(out)
}

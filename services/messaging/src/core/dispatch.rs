//! Sending one claimed job. Three short steps, never a transaction across the Twilio call:
//! (1) in the org's transaction, decide (opt-out, quiet hours, rate) and mark the message
//! `dispatching`; (2) call Twilio — or, when an earlier attempt's outcome is unknown
//! (`dispatching`/`unknown` found again), look the message up at Twilio and only send when it is
//! not there; (3) record the outcome: Twilio's status and SID, a retry with backoff (429/5xx,
//! retryable codes), `unknown` (timeout: resolved by lookup next time), or `failed` with the code
//! and a readable reason (21610 also records the opt-out).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use events::{Channel as EventChannel, ContactOptedOutV1, MessageFailedV1};
use ring::rand::{SecureRandom as _, SystemRandom};
use tenancy::OrgId;
use uuid::Uuid;

use super::accounts::{Opened, open};
use super::outbound::{refused, waits_for_window};
use super::{BODY_PURPOSE, CoreError, open_text};
use crate::clients::twilio::{TwilioError, TwilioMessage};
use crate::domain::phone::Channel;
use crate::domain::quiet::Window;
use crate::domain::status::{self, ErrorClass, classify, reason};
use crate::state::AppState;
use crate::store::jobs::{self, Job};
use crate::store::messages::{self, MessageRow, StatusChange};
use crate::store::{accounts, opt_outs, settings};

/// Sends per org per second, per replica (a fixed one-second window).
#[derive(Default)]
pub struct RateLimiter {
    windows: HashMap<OrgId, (i64, u32)>,
}

impl RateLimiter {
    pub fn allow(&mut self, org: OrgId, per_second: u32) -> bool {
        let now = Utc::now().timestamp();
        let w = self.windows.entry(org).or_insert((now, 0));
        if w.0 != now {
            *w = (now, 0);
        }
        if w.1 >= per_second {
            return false;
        }
        w.1 += 1;
        if self.windows.len() > 10_000 {
            self.windows.retain(|_, (t, _)| *t == now);
        }
        true
    }
}

/// Exponential backoff with jitter (at least half the base), capped at ten minutes.
pub fn backoff(base: Duration, attempts: i32) -> Duration {
    let cap = Duration::from_secs(600);
    let shift = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    let exp = base.saturating_mul(1u32 << shift).min(cap);
    let mut r = [0u8; 8];
    let _ = SystemRandom::new().fill(&mut r);
    let micros = u32::try_from(u64::from_le_bytes(r) % 1_000_000).unwrap_or(0);
    exp.mul_f64(f64::from(micros) / 1_000_000.0).max(base / 2)
}

fn later(d: Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(d).unwrap_or_else(|_| chrono::Duration::seconds(1))
}

pub fn event_channel(c: &str) -> EventChannel {
    if c == "whatsapp" {
        EventChannel::Whatsapp
    } else {
        EventChannel::Sms
    }
}

/// What step 1 decided.
enum Plan {
    Done,
    Send {
        msg: Box<MessageRow>,
        creds: Box<Opened>,
        messaging_service: Option<String>,
        body: String,
        lookup_first: bool,
    },
}

pub async fn process(
    st: &AppState,
    limiter: &std::sync::Mutex<RateLimiter>,
    job: &Job,
) -> Result<(), CoreError> {
    let org = OrgId(job.org_id);
    let id = job.message_id;
    let allowed_now = limiter
        .lock()
        .map(|mut l| l.allow(org, st.settings.org_rate_per_second))
        .unwrap_or(true);
    let plan = {
        let st2 = st.clone();
        st.db
            .tenant_tx(org, |tx| {
                Box::pin(async move {
                    let Some(msg) = messages::find_for_update(tx, org, id).await? else {
                        jobs::delete(tx, id).await?;
                        return Ok::<_, CoreError>(Plan::Done);
                    };
                    let resume = msg.status == status::DISPATCHING || msg.status == status::UNKNOWN;
                    if msg.status != status::PENDING && !resume {
                        jobs::delete(tx, id).await?;
                        return Ok(Plan::Done);
                    }
                    let Some(account) = accounts::find(tx, org).await? else {
                        // The account was removed after the message was stored.
                        let change = StatusChange {
                            status: Some(status::SIMULATED.into()),
                            status_rank: Some(4),
                            ..Default::default()
                        };
                        messages::update(tx, org, id, &change).await?;
                        messages::add_event(tx, org, id, status::SIMULATED, "dispatcher", None, true).await?;
                        jobs::delete(tx, id).await?;
                        return Ok(Plan::Done);
                    };
                    let now = Utc::now();
                    if !resume {
                        if msg.kind != super::outbound::kind::KEYWORD_REPLY
                            && opt_outs::is_opted_out(tx, org, &msg.to_number).await?
                        {
                            refused("contact_opted_out");
                            fail(tx, org, &msg, "contact_opted_out", "the recipient has opted out").await?;
                            return Ok(Plan::Done);
                        }
                        if waits_for_window(&msg.kind, msg.created_at, now) {
                            let s = settings::find(tx, org).await?;
                            let tz = s.timezone.parse().unwrap_or(chrono_tz::UTC);
                            let w = Window { opens: s.quiet_end, closes: s.quiet_start };
                            let next = w.next_allowed(now, tz);
                            if next > now {
                                let change = StatusChange { send_at: Some(next), ..Default::default() };
                                messages::update(tx, org, id, &change).await?;
                                jobs::reschedule(tx, id, next).await?;
                                metrics::counter!("messaging_deferred_total", "reason" => "quiet_hours").increment(1);
                                return Ok(Plan::Done);
                            }
                        }
                        if !allowed_now {
                            jobs::reschedule(tx, id, now + chrono::Duration::seconds(1)).await?;
                            metrics::counter!("messaging_deferred_total", "reason" => "rate_limit").increment(1);
                            return Ok(Plan::Done);
                        }
                        let change = StatusChange {
                            status: Some(status::DISPATCHING.into()),
                            attempts: Some(msg.attempts + 1),
                            last_attempt_at: Some(Some(now)),
                            ..Default::default()
                        };
                        messages::update(tx, org, id, &change).await?;
                    }
                    let creds = open(&st2, org, &account)?;
                    let body = open_text(&st2.keys, org, BODY_PURPOSE, &msg.body_key_id, &msg.body_sealed)?;
                    let mut msg = msg;
                    if !resume {
                        msg.attempts += 1;
                        msg.last_attempt_at = Some(now);
                    }
                    msg.from_number = match msg.channel.as_str() {
                        "whatsapp" => account.whatsapp_from.clone(),
                        _ => account.from_number.clone(),
                    };
                    if msg.from_number.is_none() && account.messaging_service_sid.is_none() {
                        fail(tx, org, &msg, "no_sender", "the Twilio account has no sender for this channel").await?;
                        return Ok(Plan::Done);
                    }
                    Ok(Plan::Send {
                        msg: Box::new(msg),
                        creds: Box::new(creds),
                        messaging_service: account.messaging_service_sid.clone(),
                        body,
                        lookup_first: resume,
                    })
                })
            })
            .await?
    };
    let Plan::Send {
        msg,
        creds,
        messaging_service,
        body,
        lookup_first,
    } = plan
    else {
        return Ok(());
    };
    let channel: Channel = msg.channel.parse().unwrap_or(Channel::Sms);
    let to = channel.address(&msg.to_number);
    if lookup_first {
        match st.twilio.recent_to(&creds.rest, &to).await {
            Ok(found) => {
                if let Some(m) = adopt(st, org, &msg, &body, found).await? {
                    metrics::counter!("messaging_sends_total", "outcome" => "resolved_by_lookup")
                        .increment(1);
                    return record_accepted(st, org, &msg, m, "lookup").await;
                }
                // Not at Twilio: it was never created. Send it now (counts as a new attempt).
                tracing::info!(org = %org, message = %msg.id, "unknown outcome resolved: not at Twilio; sending");
            }
            Err(e) => {
                tracing::warn!(org = %org, message = %msg.id, error = %e, "lookup of an unknown outcome failed; will retry");
                let at = later(backoff(st.settings.retry_base, msg.attempts));
                return reschedule(st, org, msg.id, at).await;
            }
        }
    }
    let mut form: Vec<(&str, String)> = vec![("To", to)];
    match (messaging_service, &msg.from_number) {
        (Some(ms), _) => form.push(("MessagingServiceSid", ms)),
        (None, Some(f)) => form.push(("From", channel.address(f))),
        (None, None) => {}
    }
    match &msg.content_sid {
        Some(c) => form.push(("ContentSid", c.clone())),
        None => form.push(("Body", body)),
    }
    if st.settings.status_callbacks {
        form.push((
            "StatusCallback",
            format!(
                "{}/api/webhooks/twilio/{}/status",
                st.settings.public_base_url, org
            ),
        ));
    }
    let outcome = st.twilio.create_message(&creds.rest, &form).await;
    settle(st, org, &msg, outcome).await
}

/// A message at Twilio that is ours: same recipient and body, a SID no row of this org has yet.
async fn adopt(
    st: &AppState,
    org: OrgId,
    msg: &MessageRow,
    body: &str,
    found: Vec<TwilioMessage>,
) -> Result<Option<TwilioMessage>, CoreError> {
    for m in found {
        if m.body.as_deref() != Some(body) {
            continue;
        }
        let sid = m.sid.clone();
        let known = st
            .db
            .tenant_tx(org, |tx| {
                Box::pin(async move {
                    Ok::<_, CoreError>(
                        messages::find_by_sid_for_update(tx, org, &sid)
                            .await?
                            .is_some(),
                    )
                })
            })
            .await?;
        if !known {
            tracing::info!(org = %org, message = %msg.id, "unknown outcome resolved: found at Twilio");
            return Ok(Some(m));
        }
    }
    Ok(None)
}

async fn reschedule(
    st: &AppState,
    org: OrgId,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), CoreError> {
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move { jobs::reschedule(tx, id, at).await.map_err(CoreError::from) })
        })
        .await
}

async fn record_accepted(
    st: &AppState,
    org: OrgId,
    msg: &MessageRow,
    m: TwilioMessage,
    source: &'static str,
) -> Result<(), CoreError> {
    let id = msg.id;
    let from = msg.from_number.clone();
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let current = messages::find_for_update(tx, org, id).await?;
                let rank = status::twilio_rank(&m.status).unwrap_or(1);
                let keep = current
                    .as_ref()
                    .is_some_and(|c| c.status_rank >= rank && c.twilio_sid.is_some());
                if !keep {
                    let change = StatusChange {
                        status: Some(if m.status.is_empty() {
                            "queued".into()
                        } else {
                            m.status.clone()
                        }),
                        status_rank: Some(rank),
                        twilio_sid: Some(m.sid.clone()),
                        from_number: Some(from),
                        sent_at: Some(Some(Utc::now())),
                        ..Default::default()
                    };
                    messages::update(tx, org, id, &change).await?;
                    messages::add_event(tx, org, id, &m.status, source, None, true).await?;
                }
                jobs::delete(tx, id).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
    metrics::counter!("messaging_sends_total", "outcome" => "accepted").increment(1);
    Ok(())
}

async fn settle(
    st: &AppState,
    org: OrgId,
    msg: &MessageRow,
    outcome: Result<TwilioMessage, TwilioError>,
) -> Result<(), CoreError> {
    let id = msg.id;
    let max = st.settings.max_attempts;
    match outcome {
        Ok(m) => record_accepted(st, org, msg, m, "api").await,
        Err(TwilioError::Ambiguous(e)) => {
            tracing::warn!(org = %org, message = %id, error = %e, "twilio send outcome unknown; resolving by lookup");
            metrics::counter!("messaging_sends_total", "outcome" => "unknown").increment(1);
            let at = later(st.settings.retry_base);
            st.db
                .tenant_tx(org, |tx| {
                    Box::pin(async move {
                        let change = StatusChange {
                            status: Some(status::UNKNOWN.into()),
                            ..Default::default()
                        };
                        messages::update(tx, org, id, &change).await?;
                        messages::add_event(tx, org, id, status::UNKNOWN, "dispatcher", None, true)
                            .await?;
                        jobs::reschedule(tx, id, at).await?;
                        Ok::<_, CoreError>(())
                    })
                })
                .await
        }
        Err(e) => {
            let (code, class, retry_after) = match &e {
                TwilioError::NotSent(_) => (None, ErrorClass::Retry, None),
                TwilioError::Api {
                    code, retry_after, ..
                } => {
                    let class = if e.http_retryable() {
                        ErrorClass::Retry
                    } else {
                        code.map_or(ErrorClass::Permanent, classify)
                    };
                    (*code, class, *retry_after)
                }
                TwilioError::Ambiguous(_) => (None, ErrorClass::Retry, None),
            };
            let twilio_message = match &e {
                TwilioError::Api { message, .. } => message.clone(),
                other => other.to_string(),
            };
            if class == ErrorClass::Retry && msg.attempts < max {
                let delay = retry_after
                    .unwrap_or_else(|| backoff(st.settings.retry_base, msg.attempts - 1));
                tracing::info!(org = %org, message = %id, attempt = msg.attempts, code = ?code, "twilio send will be retried");
                metrics::counter!("messaging_sends_total", "outcome" => "retry").increment(1);
                let at = later(delay);
                return st
                    .db
                    .tenant_tx(org, |tx| {
                        Box::pin(async move {
                            let change = StatusChange {
                                status: Some(status::PENDING.into()),
                                ..Default::default()
                            };
                            messages::update(tx, org, id, &change).await?;
                            messages::add_event(
                                tx,
                                org,
                                id,
                                status::PENDING,
                                "retry",
                                code.map(|c| c.to_string()).as_deref(),
                                true,
                            )
                            .await?;
                            jobs::reschedule(tx, id, at).await?;
                            Ok::<_, CoreError>(())
                        })
                    })
                    .await;
            }
            let code_s = code.map_or_else(|| "retries_exhausted".to_string(), |c| c.to_string());
            let why = match code {
                Some(c) => reason(c, &twilio_message),
                None => format!(
                    "Twilio could not be reached after {} attempts",
                    msg.attempts
                ),
            };
            let msg = msg.clone();
            st.db
                .tenant_tx(org, |tx| {
                    Box::pin(async move {
                        if class == ErrorClass::OptedOut
                            && opt_outs::add(tx, org, &msg.to_number, "twilio_21610", None, None)
                                .await?
                        {
                            bus::enqueue(
                                tx,
                                org,
                                &ContactOptedOutV1 {
                                    phone: msg.to_number.clone(),
                                    channel: event_channel(&msg.channel),
                                    keyword: None,
                                    opted_out_at: Utc::now(),
                                },
                            )
                            .await?;
                        }
                        fail(tx, org, &msg, &code_s, &why).await
                    })
                })
                .await
        }
    }
}

/// Ends `msg` as `failed` with `code` and `why`, drops its job and emits `message.failed.v1`.
pub async fn fail(
    tx: &mut diesel_async::AsyncPgConnection,
    org: OrgId,
    msg: &MessageRow,
    code: &str,
    why: &str,
) -> Result<(), CoreError> {
    let change = StatusChange {
        status: Some(status::FAILED.into()),
        status_rank: Some(4),
        error_code: Some(Some(code.to_string())),
        error_reason: Some(Some(why.to_string())),
        ..Default::default()
    };
    messages::update(tx, org, msg.id, &change).await?;
    messages::add_event(
        tx,
        org,
        msg.id,
        status::FAILED,
        "dispatcher",
        Some(code),
        true,
    )
    .await?;
    jobs::delete(tx, msg.id).await?;
    bus::enqueue(
        tx,
        org,
        &MessageFailedV1 {
            message_id: msg.id,
            to_number: msg.to_number.clone(),
            channel: event_channel(&msg.channel),
            template_key: msg.template_key.clone(),
            error_code: Some(code.to_string()),
            failed_at: Utc::now(),
        },
    )
    .await?;
    metrics::counter!("messaging_sends_total", "outcome" => "failed").increment(1);
    Ok(())
}

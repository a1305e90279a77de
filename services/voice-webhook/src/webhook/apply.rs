//! Fire-and-forget messages: logged durably (sealed payload) before anything else, then applied
//! in the org's tenant transaction together with marking the log row `applied`, so an apply that
//! fails leaves the row `failed` and a replay applies it exactly once.

use std::time::Duration;

use chrono::Utc;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use events::payloads::{CallDirection, CallEndedV1, CallStartedV1};
use serde_json::{Value, json};
use servicekit::ApiError;
use tenancy::OrgId;
use uuid::Uuid;

use crate::domain::message::{self, Kind};
use crate::domain::status;
use crate::state::VoiceState;
use crate::store::calls::{self, CallRow, NewCall, ReportFields};
use crate::store::deliveries::{self, LogRow, Waiting};
use crate::store::numbers::{self, Route};

pub const PAYLOAD_PURPOSE: &str = "voice.webhook_payload";
pub const TRANSCRIPT_PURPOSE: &str = "voice.call_transcript";

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("database unavailable")]
    Pool(#[from] servicekit::db::PoolUnavailable),
    #[error("{0}")]
    Other(String),
}

impl From<ApplyError> for ApiError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Db(d) => d.into(),
            ApplyError::Pool(p) => p.into(),
            ApplyError::Other(o) => ApiError::internal(anyhow::anyhow!(o)),
        }
    }
}

fn seal(
    st: &VoiceState,
    org: Option<Uuid>,
    body: &[u8],
) -> Result<servicekit::crypto::Sealed, ApiError> {
    st.keys
        .encrypt(org.unwrap_or(Uuid::nil()), PAYLOAD_PURPOSE, body)
        .map_err(ApiError::internal)
}

/// Wakes a background apply worker of this process after a delivery was logged (workers also
/// look every second, and at start, so a wake-up that is missed delays nothing for long).
static WAKE: std::sync::LazyLock<tokio::sync::Notify> =
    std::sync::LazyLock::new(tokio::sync::Notify::new);

/// The log row of a message: sealed with its org (nil when unknown) as associated data.
fn log_row(
    st: &VoiceState,
    route: Option<&Route>,
    t: &str,
    msg: &Value,
    body: &[u8],
    dedupe_key: Option<String>,
    outcome: &'static str,
) -> Result<LogRow, ApiError> {
    let org = route.map(|r| r.org_id);
    Ok(LogRow {
        id: Uuid::new_v4(),
        org_id: org,
        message_type: t.to_string(),
        vapi_call_id: message::call_id(msg).map(str::to_string),
        dedupe_key,
        sealed: seal(st, org, body)?,
        outcome,
        received_at: Utc::now(),
        phone_number_id: route.and_then(|r| r.phone_number_id),
        agent_id: route.and_then(|r| r.agent_id),
    })
}

/// Logs a message whose org could not be resolved (answered per type by the caller).
pub async fn record_unknown_tenant(
    st: &VoiceState,
    t: &str,
    msg: &Value,
    body: &[u8],
) -> Result<(), ApiError> {
    metrics::counter!("voice_webhook_unknown_tenant_total").increment(1);
    let row = log_row(st, None, t, msg, body, None, deliveries::UNKNOWN_TENANT)?;
    st.logger.log(row).await.map(|_| ())
}

/// Logs a fire-and-forget message durably and returns: Vapi gets its 200 once the message is in
/// the delivery log, and a background worker applies it (`apply_waiting`). A duplicate (same
/// Vapi idempotency key) is acknowledged and never applied again; a message of a type that
/// changes nothing (transcript, hang, conversation-update, unknown types) is logged as applied;
/// one whose org is unknown is logged as such. An apply that fails later leaves the row `failed`
/// for `voice-webhook replay`.
pub async fn log_for_apply(
    st: &VoiceState,
    route: Option<&Route>,
    t: &str,
    msg: &Value,
    body: &[u8],
) -> Result<(), ApiError> {
    if t == "hang" {
        metrics::counter!("voice_hang_total").increment(1);
    }
    let outcome = match (route, message::kind(t)) {
        (None, _) => {
            metrics::counter!("voice_webhook_unknown_tenant_total").increment(1);
            deliveries::UNKNOWN_TENANT
        }
        (Some(_), Kind::StatusUpdate | Kind::EndOfCallReport) => deliveries::RECEIVED,
        (Some(_), _) => deliveries::APPLIED,
    };
    let row = log_row(
        st,
        route,
        t,
        msg,
        body,
        message::dedupe_key(t, msg),
        outcome,
    )?;
    if !st.logger.log(row).await? {
        metrics::counter!("voice_webhook_duplicates_total").increment(1);
    } else if outcome == deliveries::RECEIVED {
        WAKE.notify_one();
    }
    Ok(())
}

/// Starts `VOICE_APPLY_WORKERS` background workers applying logged deliveries: what is waiting
/// at start (a process that stopped between logging and applying) first, then each new one.
pub fn spawn_appliers(st: &VoiceState) {
    for _ in 0..st.settings.apply_workers {
        let st = st.clone();
        tokio::spawn(async move {
            let batch = st.settings.apply_batch;
            loop {
                match apply_waiting(&st, batch).await {
                    Ok(n) if n as i64 >= batch => continue,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "applying logged vapi messages failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), WAKE.notified()).await;
            }
        });
    }
}

/// Applies up to `limit` waiting deliveries in one transaction (grouped by org, one tenant switch
/// per org) and marks them applied in one statement. When any of them fails, that transaction is
/// rolled back and the batch is applied again one delivery per savepoint, so the failing ones are
/// recorded `failed` with their error and the others applied. Returns how many were taken.
pub async fn apply_waiting(st: &VoiceState, limit: i64) -> Result<usize, ApplyError> {
    let keys = st.keys.clone();
    let fast = st
        .db
        .system_tx(|tx| Box::pin(async move { apply_claimed(tx, &keys, limit, false).await }))
        .await;
    match fast {
        Ok(n) => Ok(n),
        Err(e) => {
            tracing::debug!(error = %e, "a batch of vapi messages failed; applying one by one");
            let keys = st.keys.clone();
            st.db
                .system_tx(|tx| {
                    Box::pin(async move { apply_claimed(tx, &keys, limit, true).await })
                })
                .await
        }
    }
}

async fn apply_claimed(
    tx: &mut AsyncPgConnection,
    keys: &servicekit::crypto::KeyRing,
    limit: i64,
    one_by_one: bool,
) -> Result<usize, ApplyError> {
    let mut rows = deliveries::claim_waiting(tx, limit).await?;
    // By org, each org's rows still in the order they arrived (a stable sort).
    rows.sort_by_key(|w| w.org_id);
    let mut current = None;
    let mut applied = Vec::with_capacity(rows.len());
    for w in &rows {
        let Some(org) = w.org_id.map(OrgId) else {
            continue;
        };
        if current != Some(org) {
            tenancy::set_tenant(tx, org).await?;
            current = Some(org);
        }
        if !one_by_one {
            apply_logged(tx, keys, org, w).await?;
            applied.push(w.id);
            continue;
        }
        match tx
            .transaction(async |sp| apply_logged(sp, keys, org, w).await)
            .await
        {
            Ok(()) => applied.push(w.id),
            Err(e) => {
                let error = e.to_string();
                tracing::warn!(delivery = %w.id, error = %error, "applying a vapi message failed; kept for replay");
                metrics::counter!("voice_webhook_apply_failures_total").increment(1);
                deliveries::finish(tx, w.id, Some(&error)).await?;
            }
        }
    }
    deliveries::mark_applied(tx, &applied).await?;
    metrics::counter!("voice_webhook_applied_total").increment(applied.len() as u64);
    Ok(rows.len())
}

/// Applies one logged delivery with the route its request resolved.
async fn apply_logged(
    tx: &mut AsyncPgConnection,
    keys: &servicekit::crypto::KeyRing,
    org: OrgId,
    w: &Waiting,
) -> Result<(), ApplyError> {
    let msg = open_message(keys, org, &w.key_id, &w.payload)?;
    let route = Route {
        kind: String::new(),
        key: String::new(),
        org_id: org.as_uuid(),
        phone_number_id: w.phone_number_id,
        agent_id: w.agent_id,
    };
    apply(tx, keys, org, Some(&route), &msg).await
}

/// The `message` object of a logged payload.
fn open_message(
    keys: &servicekit::crypto::KeyRing,
    org: OrgId,
    key_id: &str,
    payload: &[u8],
) -> Result<Value, ApplyError> {
    let plain = keys
        .decrypt(
            org.as_uuid(),
            PAYLOAD_PURPOSE,
            &servicekit::crypto::Sealed {
                key_id: key_id.to_string(),
                ciphertext: payload.to_vec(),
            },
        )
        .map_err(|e| ApplyError::Other(e.to_string()))?;
    let mut envelope: Value =
        serde_json::from_slice(&plain).map_err(|e| ApplyError::Other(e.to_string()))?;
    Ok(envelope
        .get_mut("message")
        .map(Value::take)
        .unwrap_or(Value::Null))
}

/// What a fire-and-forget message changes, inside the org's tenant transaction.
pub async fn apply(
    tx: &mut AsyncPgConnection,
    keys: &servicekit::crypto::KeyRing,
    org: OrgId,
    route: Option<&Route>,
    msg: &Value,
) -> Result<(), ApplyError> {
    let t = message::normalized_type(msg);
    let kind = message::kind(&t);
    if !matches!(kind, Kind::StatusUpdate | Kind::EndOfCallReport) {
        return Ok(()); // logged only: transcript, hang, conversation-update, unknown types
    }
    let Some(call) = ensure_call(tx, org, route, msg).await? else {
        return Ok(()); // no call id: nothing to attach it to
    };
    match kind {
        Kind::StatusUpdate => {
            let s = message::status(msg).unwrap_or("unknown");
            let at = message::timestamp(msg);
            let updated = calls::advance_status(
                tx,
                org,
                call.id,
                s,
                status::rank(s),
                at,
                message::ended_reason(msg),
            )
            .await?;
            if s == "in-progress"
                && updated.is_some()
                && calls::claim_started_event(tx, org, call.id).await?
            {
                bus::enqueue(
                    tx,
                    org,
                    &CallStartedV1 {
                        call_id: call.id,
                        vapi_call_id: call.vapi_call_id.clone(),
                        agent_id: call.agent_id,
                        direction: direction(&call),
                        caller_number: caller_number(&call),
                        started_at: at,
                    },
                )
                .await?;
            }
        }
        Kind::EndOfCallReport => {
            let r = message::report(msg);
            let started = r.started_at.or(call.started_at);
            let ended = r
                .ended_at
                .or(call.ended_at)
                .unwrap_or_else(|| message::timestamp(msg));
            let duration =
                started.map(|s| i32::try_from((ended - s).num_seconds()).unwrap_or(i32::MAX));
            let fields = ReportFields {
                ended_reason: Some(r.ended_reason.clone()),
                started_at: started,
                ended_at: Some(ended),
                duration_seconds: duration,
                cost_usd: r.cost,
                summary: r.summary.clone(),
                structured_data: r.structured_data.clone(),
                success_evaluation: r.success_evaluation.clone(),
                recording_url: r.recording_url.clone(),
            };
            let Some(row) = calls::record_report(tx, org, call.id, &fields).await? else {
                return Ok(()); // this call's report was recorded before
            };
            if r.transcript.is_some() || r.messages.is_some() {
                let plain =
                    json!({ "transcript": r.transcript, "messages": r.messages }).to_string();
                let sealed = keys
                    .encrypt(org.as_uuid(), TRANSCRIPT_PURPOSE, plain.as_bytes())
                    .map_err(|e| ApplyError::Other(e.to_string()))?;
                calls::upsert_transcript(tx, org, row.id, &sealed).await?;
            }
            bus::enqueue(
                tx,
                org,
                &CallEndedV1 {
                    call_id: row.id,
                    vapi_call_id: row.vapi_call_id.clone(),
                    agent_id: row.agent_id,
                    direction: direction(&row),
                    caller_number: caller_number(&row),
                    caller_name: row.caller_name.clone(),
                    started_at: row.started_at,
                    ended_at: ended,
                    duration_seconds: u32::try_from(row.duration_seconds.unwrap_or(0).max(0))
                        .unwrap_or(0),
                    ended_reason: r.ended_reason,
                    booked: row.booked,
                    success_evaluation: row.success_evaluation.clone(),
                },
            )
            .await?;
        }
        _ => {}
    }
    Ok(())
}

fn direction(c: &CallRow) -> CallDirection {
    if c.direction == "outbound" {
        CallDirection::Outbound
    } else {
        CallDirection::Inbound
    }
}

/// The other party's number: the caller of an inbound call, the callee of an outbound one.
fn caller_number(c: &CallRow) -> Option<String> {
    if c.direction == "outbound" {
        c.to_number.clone()
    } else {
        c.from_number.clone()
    }
}

/// The call row for the message's Vapi call id (created on first sight, with our phone number and
/// its agent), and the call id remembered in the routing table for later messages.
pub async fn ensure_call(
    tx: &mut AsyncPgConnection,
    org: OrgId,
    route: Option<&Route>,
    msg: &Value,
) -> Result<Option<CallRow>, ApplyError> {
    let Some(vapi_id) = message::call_id(msg) else {
        return Ok(None);
    };
    if let Some(existing) = calls::find_call_by_vapi(tx, org, vapi_id).await? {
        return Ok(Some(existing));
    }
    let number_id = route.and_then(|r| r.phone_number_id);
    // A number's route carries the agent assigned to it (kept in step by the numbers API).
    let mut agent_id = route.and_then(|r| r.agent_id);
    if agent_id.is_none() {
        agent_id = crate::store::agents::default_agent(tx, org)
            .await?
            .map(|a| a.id);
    }
    let dir = message::direction(msg);
    let clinic = message::clinic_number(msg).map(str::to_string);
    let other = message::customer_number(msg).map(str::to_string);
    let (from, to) = if dir == "outbound" {
        (clinic, other)
    } else {
        (other, clinic)
    };
    let row = calls::ensure_call(
        tx,
        &NewCall {
            org_id: org.as_uuid(),
            vapi_call_id: vapi_id.to_string(),
            agent_id,
            phone_number_id: number_id,
            direction: dir.to_string(),
            from_number: from,
            to_number: to,
            caller_name: message::customer_name(msg).map(str::to_string),
            status: "queued".into(),
            status_rank: status::rank("queued"),
        },
    )
    .await?;
    numbers::remember(tx, numbers::ROUTE_CALL, vapi_id, org, row.agent_id).await?;
    Ok(Some(row))
}

/// `voice-webhook replay --id X | --failed`: applies logged deliveries that are not applied yet,
/// each in its org's transaction with the row locked, so two replays never apply one twice.
pub async fn replay(st: &VoiceState, ids: Option<Vec<Uuid>>) -> anyhow::Result<(usize, usize)> {
    let ids = match ids {
        Some(ids) => ids,
        None => {
            st.db
                .system_tx(|tx| {
                    Box::pin(async move {
                        deliveries::failed_ids(tx, 10_000)
                            .await
                            .map_err(ApplyError::from)
                    })
                })
                .await?
        }
    };
    let (mut applied, mut failed) = (0, 0);
    for id in ids {
        let found = st
            .db
            .system_tx(|tx| {
                Box::pin(async move { deliveries::find(tx, id).await.map_err(ApplyError::from) })
            })
            .await?;
        let Some(d) = found else {
            eprintln!("{id}: no such delivery");
            failed += 1;
            continue;
        };
        let Some(org) = d.org_id.map(OrgId) else {
            eprintln!("{id}: its org is unknown; nothing to apply");
            failed += 1;
            continue;
        };
        let keys = st.keys.clone();
        let result = st
            .db
            .tenant_tx(org, |tx| {
                Box::pin(async move {
                    let Some(d) = deliveries::claim_for_replay(tx, id).await? else {
                        return Ok(false);
                    };
                    let msg = open_message(&keys, org, &d.key_id, &d.payload)?;
                    let candidates = super::route_candidates(&msg);
                    let refs: Vec<(&str, &str)> =
                        candidates.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    let route = numbers::resolve(tx, &refs)
                        .await?
                        .filter(|r| r.org_id == org.as_uuid());
                    apply(tx, &keys, org, route.as_ref(), &msg).await?;
                    deliveries::finish(tx, id, None).await?;
                    Ok::<_, ApplyError>(true)
                })
            })
            .await;
        match result {
            Ok(true) => {
                applied += 1;
                println!("{id}: applied");
            }
            Ok(false) => println!("{id}: already applied (or being replayed); skipped"),
            Err(e) => {
                failed += 1;
                let error = e.to_string();
                eprintln!("{id}: failed again: {error}");
                st.db
                    .system_tx(|tx| {
                        Box::pin(async move {
                            deliveries::finish(tx, id, Some(&error))
                                .await
                                .map_err(ApplyError::from)
                        })
                    })
                    .await?;
            }
        }
    }
    Ok((applied, failed))
}

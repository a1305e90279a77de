//! Fire-and-forget messages: logged durably (sealed payload) before anything else, then applied
//! in the org's tenant transaction together with marking the log row `applied`, so an apply that
//! fails leaves the row `failed` and a replay applies it exactly once.

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
use crate::store::deliveries::{self, NewDelivery};
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

/// Logs a message whose org could not be resolved (answered per type by the caller).
pub async fn record_unknown_tenant(
    st: &VoiceState,
    t: &str,
    msg: &Value,
    body: &[u8],
) -> Result<(), ApiError> {
    metrics::counter!("voice_webhook_unknown_tenant_total").increment(1);
    let sealed = seal(st, None, body)?;
    let (t, call) = (t.to_string(), message::call_id(msg).map(str::to_string));
    st.db
        .system_tx(|tx| {
            Box::pin(async move {
                deliveries::insert(
                    tx,
                    &NewDelivery {
                        org_id: None,
                        message_type: &t,
                        vapi_call_id: call.as_deref(),
                        dedupe_key: None,
                        sealed: &sealed,
                        outcome: deliveries::UNKNOWN_TENANT,
                    },
                )
                .await
                .map_err(ApiError::from)
            })
        })
        .await
        .map(|_| ())
}

/// Logs a fire-and-forget message, then applies it — one tenant transaction: the log row is
/// inserted, the apply runs inside a savepoint, and a failed apply is rolled back to the
/// savepoint and recorded on the log row (`failed`, with the error) before the commit. A duplicate
/// (same Vapi idempotency key) is acknowledged without being applied again. An apply failure is
/// not returned: the message is safe in the log and Vapi does not retry anyway.
pub async fn log_and_apply(
    st: &VoiceState,
    route: Option<&Route>,
    t: &str,
    msg: &Value,
    body: &[u8],
) -> Result<(), ApiError> {
    if t == "hang" {
        metrics::counter!("voice_hang_total").increment(1);
    }
    let org = route.map(|r| r.org_id);
    let sealed = seal(st, org, body)?;
    let dedupe = message::dedupe_key(t, msg);
    let (t, call) = (t.to_string(), message::call_id(msg).map(str::to_string));
    let Some(route) = route.cloned() else {
        metrics::counter!("voice_webhook_unknown_tenant_total").increment(1);
        let logged = st
            .db
            .system_tx(|tx| {
                Box::pin(async move {
                    let d = NewDelivery {
                        org_id: None,
                        message_type: &t,
                        vapi_call_id: call.as_deref(),
                        dedupe_key: dedupe.as_deref(),
                        sealed: &sealed,
                        outcome: deliveries::UNKNOWN_TENANT,
                    };
                    deliveries::insert(tx, &d).await.map_err(ApiError::from)
                })
            })
            .await?;
        if logged.is_none() {
            metrics::counter!("voice_webhook_duplicates_total").increment(1);
        }
        return Ok(());
    };
    let org = OrgId(route.org_id);
    let keys = st.keys.clone();
    let msg = msg.clone();
    let outcome = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let d = NewDelivery {
                    org_id: Some(org.as_uuid()),
                    message_type: &t,
                    vapi_call_id: call.as_deref(),
                    dedupe_key: dedupe.as_deref(),
                    sealed: &sealed,
                    outcome: deliveries::RECEIVED,
                };
                let Some(id) = deliveries::insert(tx, &d).await? else {
                    return Ok::<_, ApplyError>(Logged::Duplicate);
                };
                let applied = tx
                    .transaction(async |sp| {
                        apply(sp, &keys, org, Some(&route), &msg).await?;
                        deliveries::finish(sp, id, None).await?;
                        Ok::<_, ApplyError>(())
                    })
                    .await;
                match applied {
                    Ok(()) => Ok(Logged::Applied),
                    Err(e) => {
                        let error = e.to_string();
                        deliveries::finish(tx, id, Some(&error)).await?;
                        Ok(Logged::Failed(id, error))
                    }
                }
            })
        })
        .await?;
    match outcome {
        Logged::Applied => {}
        Logged::Duplicate => metrics::counter!("voice_webhook_duplicates_total").increment(1),
        Logged::Failed(id, error) => {
            tracing::warn!(delivery = %id, error = %error, "applying a vapi message failed; kept for replay");
            metrics::counter!("voice_webhook_apply_failures_total").increment(1);
        }
    }
    Ok(())
}

enum Logged {
    Applied,
    Duplicate,
    Failed(Uuid, String),
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
                    let plain = keys
                        .decrypt(
                            org.as_uuid(),
                            PAYLOAD_PURPOSE,
                            &servicekit::crypto::Sealed {
                                key_id: d.key_id,
                                ciphertext: d.payload,
                            },
                        )
                        .map_err(|e| ApplyError::Other(e.to_string()))?;
                    let envelope: Value = serde_json::from_slice(&plain)
                        .map_err(|e| ApplyError::Other(e.to_string()))?;
                    let msg = envelope.get("message").cloned().unwrap_or(Value::Null);
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

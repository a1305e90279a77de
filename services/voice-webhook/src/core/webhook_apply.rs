//! Applying logged fire-and-forget messages (status updates, end-of-call reports) in the org's
//! tenant transaction together with marking the log row `applied`, so an apply that fails
//! leaves the row `failed` and a replay applies it exactly once. The loop that calls
//! [`apply_waiting`] is `workers::apply`; `voice-webhook replay` calls [`replay`].

use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use serde_json::{Value, json};
use tenancy::OrgId;
use uuid::Uuid;

use crate::core::call_record::ensure_call;
use crate::core::tenant_route::route_candidates;
use crate::domain::call::CallStatus;
use crate::domain::message::{self, Kind};
use crate::domain::sealing;
use crate::events::publish;
use crate::state::VoiceState;
use crate::store::calls::{self, ReportFields};
use crate::store::deliveries::{self, Waiting};
use crate::store::numbers::{self, Route};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("database unavailable")]
    Pool(#[from] servicekit::db::PoolUnavailable),
    /// The logged payload (or the transcript to seal) could not be opened, parsed or sealed.
    #[error("{0}")]
    Payload(String),
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
    metrics::counter!("voice_webhook_applied_total")
        .increment(u64::try_from(applied.len()).unwrap_or(u64::MAX));
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
        org_id: org,
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
            sealing::WEBHOOK_PAYLOAD,
            &servicekit::crypto::Sealed {
                key_id: key_id.to_string(),
                ciphertext: payload.to_vec(),
            },
        )
        .map_err(|e| ApplyError::Payload(e.to_string()))?;
    let mut envelope: Value =
        serde_json::from_slice(&plain).map_err(|e| ApplyError::Payload(e.to_string()))?;
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
            let status = CallStatus::parse(message::status(msg).unwrap_or("unknown"));
            let at = message::timestamp(msg);
            let updated =
                calls::advance_status(tx, org, call.id, &status, at, message::ended_reason(msg))
                    .await?;
            if status == CallStatus::InProgress
                && updated.is_some()
                && calls::claim_started_event(tx, org, call.id).await?
            {
                publish::call_started(tx, org, &call, at).await?;
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
                    .encrypt(org.as_uuid(), sealing::CALL_TRANSCRIPT, plain.as_bytes())
                    .map_err(|e| ApplyError::Payload(e.to_string()))?;
                calls::upsert_transcript(tx, org, row.id, &sealed).await?;
            }
            publish::call_ended(tx, org, &row, ended, r.ended_reason).await?;
        }
        _ => {}
    }
    Ok(())
}

/// `voice-webhook replay --id X | --failed`: applies logged deliveries that are not applied yet,
/// each in its org's transaction with the row locked, so two replays never apply one twice.
pub async fn replay(st: &VoiceState, ids: Option<Vec<Uuid>>) -> Result<(usize, usize), ApplyError> {
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
                    let candidates = route_candidates(&msg);
                    let refs: Vec<(&str, &str)> =
                        candidates.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    let route = numbers::resolve(tx, &refs)
                        .await?
                        .filter(|r| r.org_id == org);
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

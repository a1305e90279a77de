//! Logging Vapi messages in the delivery log (sealed payload, with the route their request
//! resolved) through the group-commit writer: Vapi gets its 200 once a fire-and-forget message
//! is durable, and a background worker applies it (`core::webhook_apply`).

use chrono::Utc;
use serde_json::Value;
use uuid::Uuid;

use crate::domain::message::{self, Kind};
use crate::domain::sealing;
use crate::state::VoiceState;
use crate::store::deliveries::{self, LogRow};
use crate::store::numbers::Route;
use crate::workers::log_writer::LogWriteError;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("sealing the payload failed: {0}")]
    Sealing(#[source] anyhow::Error),
    #[error(transparent)]
    Write(#[from] LogWriteError),
}

/// Wakes a background apply worker of this process after a delivery was logged (workers also
/// look every second, and at start, so a wake-up that is missed delays nothing for long).
static WAKE: std::sync::LazyLock<tokio::sync::Notify> =
    std::sync::LazyLock::new(tokio::sync::Notify::new);

/// Waits until a delivery was logged for apply (or forever: callers bound it).
pub async fn logged() {
    WAKE.notified().await;
}

/// The log row of a message: sealed with its org (nil when unknown) as associated data.
fn log_row(
    st: &VoiceState,
    route: Option<&Route>,
    t: &str,
    msg: &Value,
    body: &[u8],
    dedupe_key: Option<String>,
    outcome: &'static str,
) -> Result<LogRow, LogError> {
    let org = route.map(|r| r.org_id);
    let sealed = st
        .keys
        .encrypt(
            org.map_or(Uuid::nil(), |o| o.as_uuid()),
            sealing::WEBHOOK_PAYLOAD,
            body,
        )
        .map_err(|e| LogError::Sealing(e.into()))?;
    Ok(LogRow {
        id: Uuid::new_v4(),
        org_id: org,
        message_type: t.to_string(),
        vapi_call_id: message::call_id(msg).map(str::to_string),
        dedupe_key,
        sealed,
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
) -> Result<(), LogError> {
    metrics::counter!("voice_webhook_unknown_tenant_total").increment(1);
    let row = log_row(st, None, t, msg, body, None, deliveries::UNKNOWN_TENANT)?;
    st.logger.log(row).await?;
    Ok(())
}

/// Logs a fire-and-forget message durably and returns. A duplicate (same Vapi idempotency key)
/// is acknowledged and never applied again; a message of a type that changes nothing
/// (transcript, hang, conversation-update, unknown types) is logged as applied; one whose org
/// is unknown is logged as such. An apply that fails later leaves the row `failed` for
/// `voice-webhook replay`.
pub async fn log_for_apply(
    st: &VoiceState,
    route: Option<&Route>,
    t: &str,
    msg: &Value,
    body: &[u8],
) -> Result<(), LogError> {
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

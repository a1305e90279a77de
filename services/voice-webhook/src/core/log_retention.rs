//! Retention of the webhook delivery log: messages of types voice does not act on (we no longer
//! request them, but an assistant configured elsewhere may still send them) are deleted after
//! `VOICE_CHATTER_RETENTION_HOURS`, in batches; everything voice acts on is kept.

use chrono::Utc;

use crate::domain::message::ACTED_ON;
use crate::state::VoiceState;
use crate::store::deliveries;
use crate::store::error::StoreError;

/// Rows one delete statement takes at most.
const BATCH: i64 = 5_000;

/// Deletes chatter older than the retention; returns how many rows went.
pub async fn prune_chatter(st: &VoiceState) -> Result<usize, StoreError> {
    let keep = chrono::Duration::from_std(st.settings.chatter_retention)
        .unwrap_or_else(|_| chrono::Duration::hours(24));
    let before = Utc::now() - keep;
    let mut total = 0;
    loop {
        let n = st
            .db
            .system_tx(|tx| {
                Box::pin(async move {
                    deliveries::delete_chatter_before(tx, &ACTED_ON, before, BATCH)
                        .await
                        .map_err(StoreError::from)
                })
            })
            .await?;
        total += n;
        if i64::try_from(n).unwrap_or(i64::MAX) < BATCH {
            break;
        }
    }
    if total > 0 {
        metrics::counter!("voice_webhook_chatter_pruned_total")
            .increment(u64::try_from(total).unwrap_or(0));
        tracing::info!(
            rows = total,
            "pruned logged webhook chatter past its retention"
        );
    }
    Ok(total)
}

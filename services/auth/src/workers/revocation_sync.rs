//! The revocation rewriter (ADR 0011): every `AUTH_REVOCATION_SYNC_MS` it makes sure every
//! session revoked within an access token's lifetime has its Redis mark, rewriting the marks a
//! Redis restart, an eviction or a failed write lost (`core::revocations::sync`).

use std::time::Duration;

use crate::core::revocations;
use crate::state::AppState;

pub fn spawn(st: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let started = std::time::Instant::now();
            match revocations::sync(&st).await {
                Ok(0) => {}
                Ok(n) => {
                    metrics::counter!("auth_revocation_marks_restored_total")
                        .increment(u64::try_from(n).unwrap_or(0));
                    tracing::warn!(restored = n, "revocation marks were missing from Redis");
                }
                Err(e) => {
                    metrics::counter!("auth_revocation_sync_failures_total").increment(1);
                    tracing::warn!(error = %e, "revocation marks could not be checked");
                }
            }
            metrics::histogram!("auth_revocation_sync_seconds")
                .record(started.elapsed().as_secs_f64());
        }
    })
}

//! The dispatcher: claims due send jobs (any replica, `FOR UPDATE SKIP LOCKED` with a lease) and
//! sends each through `core::dispatch`. Woken at once when a send becomes due now, otherwise it
//! polls. A crash mid-send leaves the job leased; when the lease ends another pass finds the
//! message `dispatching` and resolves it by lookup, never by sending again blindly.

use futures_util::StreamExt as _;
use tenancy::OrgId;

use crate::core::CoreError;
use crate::core::dispatch::{self, RateLimiter};
use crate::state::AppState;
use crate::store::jobs;

const BATCH: i64 = 32;

/// Runs until the bus shuts down (SIGTERM), finishing the sends in hand first. `in_flight` sends
/// of a batch run at once, each holding at most one pooled connection at a time (half the pool
/// at most, so the API and the consumer keep theirs).
pub fn spawn(st: AppState, stop: &bus::Shutdown, in_flight: usize) -> tokio::task::JoinHandle<()> {
    let mut stopping = stop.subscribe();
    stop.spawn(async move {
        let limiter = std::sync::Mutex::new(RateLimiter::default());
        loop {
            if stopping.is_set() {
                return;
            }
            let found = match tick(&st, &limiter, in_flight).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "dispatcher pass failed");
                    0
                }
            };
            if found == 0 {
                tokio::select! {
                    () = tokio::time::sleep(st.settings.poll_interval) => {}
                    () = st.wake.notified() => {}
                    () = stopping.wait() => return,
                }
            }
        }
    })
}

/// One pass: claims a batch and sends it, `in_flight` at a time (a claimed job is this
/// process's alone until its lease ends, so sends of one batch never race each other).
pub async fn tick(
    st: &AppState,
    limiter: &std::sync::Mutex<RateLimiter>,
    in_flight: usize,
) -> Result<usize, CoreError> {
    let lease =
        chrono::Duration::from_std(st.settings.lease).unwrap_or(chrono::Duration::seconds(60));
    let claimed = st
        .db
        .system_tx(|tx| {
            Box::pin(async move { jobs::claim(tx, BATCH, lease).await.map_err(CoreError::from) })
        })
        .await?;
    let n = claimed.len();
    futures_util::stream::iter(claimed)
        .for_each_concurrent(in_flight.max(1), |job| async move {
            if let Err(e) = dispatch::process(st, limiter, &job).await {
                // The job keeps its lease and is tried again when it ends.
                tracing::warn!(org = %OrgId(job.org_id), message = %job.message_id, error = %e, "send failed to settle");
            }
        })
        .await;
    Ok(n)
}

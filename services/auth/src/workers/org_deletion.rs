//! The deletion worker: every `AUTH_ORG_DELETION_POLL_SECS` it executes the org deletions whose
//! cancel window has passed (`core::orgs::execute_due_deletions`). Every auth instance runs one;
//! `FOR UPDATE SKIP LOCKED` keeps two of them from executing the same deletion.

use std::time::Duration;

use crate::core::orgs;
use crate::state::AppState;

pub fn spawn(st: AppState, poll: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match orgs::execute_due_deletions(&st).await {
                Ok(0) => {}
                Ok(n) => {
                    metrics::counter!("auth_org_deletions_executed_total")
                        .increment(u64::try_from(n).unwrap_or(0));
                    tracing::info!(deleted = n, "scheduled org deletions executed");
                }
                Err(e) => tracing::warn!(error = %e, "org deletions could not run"),
            }
            tokio::time::sleep(poll).await;
        }
    })
}

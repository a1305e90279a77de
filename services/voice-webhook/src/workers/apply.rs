//! The webhook apply loop: `VOICE_APPLY_WORKERS` background workers applying logged deliveries
//! (`core::webhook_apply`): what is waiting at start (a process that stopped between logging
//! and applying) first, then each new one as it is logged.

use std::time::Duration;

use crate::core::webhook_apply::apply_waiting;
use crate::core::webhook_log;
use crate::state::VoiceState;

/// Starts the workers on the current runtime.
pub fn spawn_appliers(st: &VoiceState) {
    for _ in 0..st.settings.apply_workers {
        let st = st.clone();
        tokio::spawn(async move {
            let batch = st.settings.apply_batch;
            loop {
                match apply_waiting(&st, batch).await {
                    Ok(n) if i64::try_from(n).unwrap_or(i64::MAX) >= batch => continue,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "applying logged vapi messages failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), webhook_log::logged()).await;
            }
        });
    }
}

//! The retention loop: every `VOICE_RETENTION_INTERVAL_SECS`, delete logged webhook chatter past
//! its retention (`core::log_retention`).

use crate::core::log_retention::prune_chatter;
use crate::state::VoiceState;

/// Starts the loop on the current runtime.
pub fn spawn_retention(st: &VoiceState) {
    let st = st.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(st.settings.retention_interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = prune_chatter(&st).await {
                tracing::warn!(error = %e, "pruning the webhook log failed; retrying later");
            }
        }
    });
}

//! Deletes a test app's exchanges and queues from the shared broker when the app is dropped
//! (through the management-free AMQP API: the names are derived from the prefix).

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};

const SERVICES: [&str; 5] = [
    "auth",
    "voice-webhook",
    "calendar",
    "messaging",
    "lead-scoring",
];

/// Deletes everything a service could have declared under `prefix` (unknown names are ignored);
/// retry queues are named by their delay (`<q>.retry.<ms>ms`), hence `retry_delays_ms`.
pub fn delete_prefixed(prefix: &str, retry_delays_ms: &[u64]) {
    let prefix = prefix.to_string();
    let retry_delays_ms = retry_delays_ms.to_vec();
    let what = format!("queues {prefix}*");
    // Drop runs inside the test's runtime: the cleanup runs on a thread of its own, bounded.
    crate::cleanup_bounded(
        &what,
        std::time::Duration::from_secs(20),
        move || async move {
            let Ok(conn) =
                Connection::connect(&crate::config::amqp_url(), ConnectionProperties::default())
                    .await
            else {
                return;
            };
            for svc in SERVICES {
                let q = format!("{prefix}{svc}.events");
                let retries = retry_delays_ms.iter().map(|ms| format!("{q}.retry.{ms}ms"));
                for name in [q.clone(), format!("{q}.dlq")].into_iter().chain(retries) {
                    // A failed delete closes the channel: one channel per attempt.
                    if let Ok(chan) = conn.create_channel().await {
                        let _ = chan
                            .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                            .await;
                    }
                }
                if let Ok(chan) = conn.create_channel().await {
                    let _ = chan
                        .exchange_delete(
                            format!("{q}.dlx").as_str().into(),
                            ExchangeDeleteOptions::default(),
                        )
                        .await;
                }
            }
            if let Ok(chan) = conn.create_channel().await {
                let _ = chan
                    .exchange_delete(
                        format!("{prefix}voxanne.events").as_str().into(),
                        ExchangeDeleteOptions::default(),
                    )
                    .await;
            }
            let _ = conn.close(200, "cleanup".into()).await;
        },
    );
}

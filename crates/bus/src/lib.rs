//! RabbitMQ via lapin. For now: one managed connection that (re)connects in the background and
//! reports its state to `/ready`. Topology, outbox relay, inbox and consumers come with the
//! event-bus work (see issue "Event bus").

use std::sync::Arc;
use std::time::Duration;

use lapin::{Connection, ConnectionProperties};
use tokio::sync::RwLock;

pub use events;

#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    name: String,
    conn: RwLock<Option<Connection>>,
}

impl Bus {
    /// Returns immediately; the connection is made (and remade) by a background task, so a
    /// service starts while the broker is away and turns ready when it comes back.
    pub fn start(url: String, connection_name: String) -> Self {
        let bus = Bus {
            inner: Arc::new(Inner {
                url,
                name: connection_name,
                conn: RwLock::new(None),
            }),
        };
        let task = bus.clone();
        tokio::spawn(async move { task.keep_connected().await });
        bus
    }

    pub async fn is_connected(&self) -> bool {
        self.inner
            .conn
            .read()
            .await
            .as_ref()
            .is_some_and(|c| c.status().connected())
    }

    async fn keep_connected(self) {
        let mut delay = Duration::from_millis(200);
        loop {
            if !self.is_connected().await {
                let props = ConnectionProperties::default()
                    .with_connection_name(self.inner.name.clone().into());
                match tokio::time::timeout(
                    Duration::from_secs(5),
                    Connection::connect(&self.inner.url, props),
                )
                .await
                {
                    Ok(Ok(conn)) => {
                        tracing::info!("connected to the message broker");
                        *self.inner.conn.write().await = Some(conn);
                        delay = Duration::from_millis(200);
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "message broker unreachable"),
                    Err(_) => tracing::warn!("message broker connection timed out"),
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
            if self.is_connected().await {
                delay = Duration::from_secs(1);
            }
        }
    }
}

//! One AMQP connection per process, (re)made on demand. We do not rely on lapin's auto-recovery:
//! after a broker restart or a cut connection every user (relay, consumer) asks for a fresh
//! channel, declares what it needs, and carries on. Deliveries received on the dead connection
//! cannot be acked (the `bool` of `ack` says so); the broker redelivers them and the inbox
//! recognises the duplicates.

use std::sync::Arc;
use std::time::Duration;

use lapin::{Channel, Connection, ConnectionProperties};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use crate::config::BusSettings;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("broker unreachable: {0}")]
    Connect(String),
    #[error("broker error: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("broker operation timed out")]
    Timeout,
}

#[derive(Clone)]
pub struct Connector {
    url: SecretString,
    name: String,
    conn: Arc<Mutex<Option<Connection>>>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Connector {
    pub fn new(settings: &BusSettings) -> Self {
        Self::with_url(settings.amqp_url.clone(), &settings.service)
    }

    pub fn with_url(url: SecretString, name: &str) -> Self {
        Connector {
            url,
            name: name.to_string(),
            conn: Arc::new(Mutex::new(None)),
        }
    }

    /// Connects when there is no live connection.
    pub async fn ensure_connected(&self) -> Result<(), BusError> {
        let mut guard = self.conn.lock().await;
        if guard.as_ref().is_some_and(|c| c.status().connected()) {
            return Ok(());
        }
        if let Some(old) = guard.take() {
            // Best effort: the old connection is usually already dead.
            let _ = tokio::time::timeout(
                Duration::from_millis(200),
                old.close(320, "reconnecting".into()),
            )
            .await;
        }
        let props = ConnectionProperties::default().with_connection_name(self.name.clone().into());
        let conn = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect(self.url.expose_secret(), props),
        )
        .await
        .map_err(|_| BusError::Timeout)?
        .map_err(|e| BusError::Connect(e.to_string()))?;
        tracing::info!(connection = %self.name, "connected to the message broker");
        metrics::counter!("bus_connections_opened_total").increment(1);
        *guard = Some(conn);
        Ok(())
    }

    /// A new channel on the live connection (connecting first when needed).
    pub async fn channel(&self) -> Result<Channel, BusError> {
        self.ensure_connected().await?;
        let guard = self.conn.lock().await;
        let conn = guard
            .as_ref()
            .ok_or_else(|| BusError::Connect("no connection".into()))?;
        Ok(tokio::time::timeout(CONNECT_TIMEOUT, conn.create_channel())
            .await
            .map_err(|_| BusError::Timeout)??)
    }

    pub async fn is_connected(&self) -> bool {
        self.conn
            .lock()
            .await
            .as_ref()
            .is_some_and(|c| c.status().connected())
    }

    /// Closes the connection (tests, shutdown).
    pub async fn close(&self) {
        if let Some(c) = self.conn.lock().await.take() {
            // A cut connection never answers close-ok: do not wait for it.
            let _ = tokio::time::timeout(Duration::from_secs(1), c.close(200, "bye".into())).await;
        }
    }
}

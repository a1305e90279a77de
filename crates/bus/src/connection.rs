//! One AMQP connection per process, (re)made on demand. We do not rely on lapin's auto-recovery:
//! after a broker restart or a cut connection every user (relay, consumer) asks for a fresh
//! channel, declares what it needs, and carries on. Deliveries received on the dead connection
//! cannot be acked (the `bool` of `ack` says so); the broker redelivers them and the inbox
//! recognises the duplicates.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// A queue exists with other arguments than this process would declare (for example after
    /// `BUS_DELIVERY_LIMIT` changed): queue arguments are immutable in RabbitMQ.
    #[error(
        "queue {queue} exists with other arguments than configured ({detail}); consuming it as it is — see docs/runbooks/dead-letters.md#changing-queue-arguments"
    )]
    TopologyMismatch { queue: String, detail: String },
}

impl BusError {
    /// The broker refused a declaration as inequivalent (`406 PRECONDITION_FAILED`).
    pub fn is_precondition_failed(&self) -> bool {
        match self {
            BusError::Amqp(e) => match e.kind() {
                lapin::ErrorKind::ProtocolError(p) => p.get_id() == 406,
                _ => e.to_string().contains("PRECONDITION_FAILED"),
            },
            _ => false,
        }
    }
}

/// What the process knows about its broker, for `/ready` (informational) and `/metrics`:
/// `bus_broker_connected{service}` (0/1) and `bus_topology_mismatch{queue}` (0/1).
pub struct BusHealth {
    service: String,
    connected: AtomicBool,
    mismatch: std::sync::Mutex<Option<(String, String)>>,
}

impl BusHealth {
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    pub(crate) fn set_connected(&self, up: bool) {
        self.connected.store(up, Ordering::SeqCst);
        metrics::gauge!("bus_broker_connected", "service" => self.service.clone()).set(if up {
            1.0
        } else {
            0.0
        });
    }

    /// The topology mismatch this process found, if any (cleared by a clean declaration).
    pub fn topology_mismatch(&self) -> Option<String> {
        self.mismatch
            .lock()
            .ok()
            .and_then(|m| m.as_ref().map(|(_, detail)| detail.clone()))
    }

    /// Records (or clears, `detail = None`) a mismatch on `queue`.
    pub(crate) fn set_topology_mismatch(&self, queue: &str, detail: Option<String>) {
        metrics::gauge!("bus_topology_mismatch", "queue" => queue.to_string())
            .set(if detail.is_some() { 1.0 } else { 0.0 });
        if let Ok(mut m) = self.mismatch.lock() {
            *m = detail.map(|d| (queue.to_string(), d));
        }
    }
}

#[derive(Clone)]
pub struct Connector {
    url: SecretString,
    name: String,
    conn: Arc<Mutex<Option<Connection>>>,
    health: Arc<BusHealth>,
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
            health: Arc::new(BusHealth {
                service: name.to_string(),
                connected: AtomicBool::new(false),
                mismatch: std::sync::Mutex::new(None),
            }),
        }
    }

    /// Broker health as last observed (never waits on the broker).
    pub fn health(&self) -> &Arc<BusHealth> {
        &self.health
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
        self.health.set_connected(false);
        let props = ConnectionProperties::default().with_connection_name(self.name.clone().into());
        let conn = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect(self.url.expose_secret(), props),
        )
        .await
        .map_err(|_| BusError::Timeout)?
        .map_err(|e| BusError::Connect(e.to_string()))?;
        self.health.set_connected(true);
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
        let up = self
            .conn
            .lock()
            .await
            .as_ref()
            .is_some_and(|c| c.status().connected());
        if !up {
            self.health.set_connected(false);
        }
        up
    }

    /// Whether the connection is up, without waiting: a connect in progress counts as down.
    pub fn peek_connected(&self) -> bool {
        match self.conn.try_lock() {
            Ok(guard) => {
                let up = guard.as_ref().is_some_and(|c| c.status().connected());
                if !up {
                    self.health.set_connected(false);
                }
                up
            }
            Err(_) => self.health.connected(),
        }
    }

    /// Closes the connection (tests, shutdown).
    pub async fn close(&self) {
        self.health.set_connected(false);
        if let Some(c) = self.conn.lock().await.take() {
            // A cut connection never answers close-ok: do not wait for it.
            let _ = tokio::time::timeout(Duration::from_secs(1), c.close(200, "bye".into())).await;
        }
    }
}

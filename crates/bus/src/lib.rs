//! The event bus over RabbitMQ (lapin): topology, the transactional outbox and its relay, the
//! consumer runner with inbox de-duplication, retries and dead-lettering, and DLQ operations.
//! Delivery is at-least-once; effects are exactly-once (ARCHITECTURE §5). Design and the traps it
//! avoids: docs/adr/0004-event-bus.md.

pub mod config;
pub mod connection;
pub mod consumer;
pub mod dlq;
pub mod headers;
pub mod outbox;
pub mod relay;
pub mod shutdown;
pub mod topology;

use std::sync::Arc;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use futures_util::future::BoxFuture;
use servicekit::ops::ReadinessCheck;

pub use config::{BusSettings, Names};
pub use connection::{BusHealth, Connector};
pub use consumer::{Consumer, HandlerError};
pub use events;
pub use outbox::enqueue;
pub use relay::Relay;
pub use shutdown::Shutdown;

/// The outbox and inbox tables, applied in every service's schema before its own migrations.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/_bus");

/// One service's handle on the bus.
#[derive(Clone)]
pub struct Bus {
    pub settings: BusSettings,
    pub connector: Connector,
    /// Stops the consumers and the relay started from this bus (`Bus::shutdown`).
    pub stop: Arc<Shutdown>,
}

impl Bus {
    pub fn new(settings: BusSettings) -> Self {
        let connector = Connector::new(&settings);
        Bus {
            settings,
            connector,
            stop: Arc::new(Shutdown::default()),
        }
    }

    /// Graceful stop (SIGTERM): every consumer started from this bus cancels its subscription,
    /// applies and acks what it holds; the relay publishes what is due. Waits up to `grace`, then
    /// closes the connection. Returns whether everything stopped in time.
    pub async fn shutdown(&self, grace: std::time::Duration) -> bool {
        let finished = self.stop.stop(grace).await;
        self.connector.close().await;
        finished
    }

    pub fn names(&self) -> Names {
        self.settings.names()
    }

    /// Creates the bus of a service process: declares its queue bound to the events it consumes
    /// (per the catalogue, so nothing published before its handlers run is lost) and starts its
    /// outbox relay.
    pub fn start(
        settings: &BusSettings,
        common: &servicekit::CommonSettings,
        platform: &servicekit::Platform,
    ) -> Self {
        let bus = Bus::new(settings.clone());
        let declarer = bus.clone();
        let stopping = bus.stop.subscribe();
        tokio::spawn(async move {
            let mut stopping = stopping;
            tokio::select! {
                () = declarer.declare_until_done() => {}
                () = stopping.wait() => {}
            }
        });
        Relay::new(&bus, platform.pg.clone(), common.database_url.clone()).spawn();
        bus
    }

    /// The event types this service consumes, from `crates/events`.
    pub fn consumed_types(&self) -> Vec<&'static str> {
        events::catalogue::consumed_by(&self.settings.service)
    }

    /// Declares the service's topology, retrying while the broker is away.
    pub async fn declare_until_done(&self) {
        if self.consumed_types().is_empty() {
            return; // a pure producer needs only the exchange, which its relay declares
        }
        let mut backoff = std::time::Duration::from_millis(200);
        loop {
            let attempt = async {
                let chan =
                    topology::declare_on(&self.connector, &self.settings, &self.consumed_types())
                        .await?;
                let _ = chan.close(200, "declared".into()).await;
                Ok::<_, connection::BusError>(())
            };
            match attempt.await {
                Ok(()) => return,
                Err(e) => tracing::warn!(error = %e, "cannot declare the bus topology yet"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
        }
    }

    /// Deletes this service's queues and exchanges (tests and teardown of throw-away stacks).
    pub async fn delete_topology(&self) {
        use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
        let names = self.names();
        if let Ok(chan) = self.connector.channel().await {
            for q in names.retry.iter().chain([&names.queue, &names.dlq]) {
                let _ = chan
                    .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
            for x in [&names.exchange, &names.dlx] {
                let _ = chan
                    .exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default())
                    .await;
            }
        }
        self.connector.close().await;
    }

    /// `/ready`'s `bus` entry. Informational: the outbox buffers events while the broker is
    /// away, so a broker blip must not take every pod out of the load balancer. It reports the
    /// connection as last seen (never waits on the broker); `bus_broker_connected` and the alert
    /// rules in `deploy/monitoring/` carry the signal.
    pub fn readiness(&self) -> Arc<dyn ReadinessCheck> {
        Arc::new(BusReady(self.connector.clone()))
    }
}

struct BusReady(Connector);

impl ReadinessCheck for BusReady {
    fn name(&self) -> &'static str {
        "bus"
    }
    fn required(&self) -> bool {
        false
    }
    fn check(&self) -> BoxFuture<'_, bool> {
        Box::pin(
            async move { self.0.peek_connected() && self.0.health().topology_mismatch().is_none() },
        )
    }
}

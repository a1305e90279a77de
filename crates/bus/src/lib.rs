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
pub mod topology;

use std::sync::Arc;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use futures_util::future::BoxFuture;
use servicekit::ops::ReadinessCheck;

pub use config::{BusSettings, Names};
pub use connection::Connector;
pub use consumer::{Consumer, HandlerError};
pub use events;
pub use outbox::enqueue;
pub use relay::Relay;

/// The outbox and inbox tables, applied in every service's schema before its own migrations.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/_bus");

/// One service's handle on the bus.
#[derive(Clone)]
pub struct Bus {
    pub settings: BusSettings,
    pub connector: Connector,
}

impl Bus {
    pub fn new(settings: BusSettings) -> Self {
        let connector = Connector::new(&settings);
        Bus {
            settings,
            connector,
        }
    }

    pub fn names(&self) -> Names {
        self.settings.names()
    }

    /// Creates the bus of a service process and starts its outbox relay.
    pub fn start(
        settings: &BusSettings,
        common: &servicekit::CommonSettings,
        platform: &servicekit::Platform,
    ) -> Self {
        let bus = Bus::new(settings.clone());
        Relay::new(&bus, platform.pg.clone(), common.database_url.clone()).spawn();
        bus
    }

    /// `/ready`'s `bus` entry: connects when not connected (bounded by a short timeout).
    pub fn readiness(&self) -> Arc<dyn ReadinessCheck> {
        Arc::new(BusReady(self.connector.clone()))
    }
}

struct BusReady(Connector);

impl ReadinessCheck for BusReady {
    fn name(&self) -> &'static str {
        "bus"
    }
    fn check(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move { self.0.ensure_connected().await.is_ok() })
    }
}

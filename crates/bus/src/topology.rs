//! Declares the exchanges and queues, idempotently, at start (and again after a reconnect).
//!
//! ```text
//! voxanne.events (topic) --type--> <svc>.events (quorum, x-delivery-limit, DLX <svc>.events.dlx,
//!                                                at-least-once dead-lettering, reject-publish)
//! failed handler: ack + confirmed copy via the default exchange to <svc>.events.retry.<ms>ms
//! <svc>.events.retry.<ms>ms (quorum, x-message-ttl = ms) --expired--> "" / <svc>.events
//! <svc>.events.dlx (fanout) --> <svc>.events.dlq (quorum, no consumer)
//! ```
//! Retries are plain publishes of a copy (stripped of `x-death`), never a dead-letter cycle
//! through the work queue: RabbitMQ silently drops cycles without a `rejected` reason, which is
//! what a `delivery_limit` dead-letter into a retry loop would be. The work queue's DLX points only
//! at the DLQ.
//!
//! Queue arguments are immutable. Retry queues carry their delay in their name, so a new
//! `BUS_RETRY_DELAYS_MS` declares new ones. A work queue declared earlier with other arguments
//! (a changed `BUS_DELIVERY_LIMIT`, or a queue from before at-least-once dead-lettering) is
//! adopted as it is — consumed, bound, and reported (`bus_topology_mismatch`, an error log) —
//! instead of failing every session on `PRECONDITION_FAILED` (ADR 0015).

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use crate::config::{BusSettings, Names};
use crate::connection::{BusError, Connector};

fn quorum() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// The events exchange (what a publisher needs).
pub async fn declare_exchange(chan: &Channel, names: &Names) -> Result<(), BusError> {
    chan.exchange_declare(
        names.exchange.as_str().into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        },
        FieldTable::default(),
    )
    .await?;
    Ok(())
}

/// The work queue's arguments. Dead-lettering is at-least-once (the broker keeps a message
/// until the DLQ has confirmed it; the default, at-most-once, loses it if that publish fails),
/// which RabbitMQ allows only with `x-overflow = reject-publish`.
pub fn work_queue_args(settings: &BusSettings, names: &Names) -> FieldTable {
    let mut work = quorum();
    work.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongInt(settings.delivery_limit),
    );
    work.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(names.dlx.as_str().into()),
    );
    work.insert(
        "x-dead-letter-strategy".into(),
        AMQPValue::LongString("at-least-once".into()),
    );
    work.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    work
}

/// How to treat an existing work queue.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WorkQueue {
    /// Declare it with our arguments (fails with `PRECONDITION_FAILED` on a mismatch).
    Declare,
    /// Only check that it exists (a passive declare ignores arguments).
    Adopt,
}

/// Everything a consumer of `event_types` needs: exchange, work queue and bindings, retry queues,
/// dead-letter exchange and queue. A work queue with other arguments is
/// `BusError::TopologyMismatch` (and `chan` is closed by the broker); `declare_on` handles that.
pub async fn declare_consumer(
    chan: &Channel,
    settings: &BusSettings,
    event_types: &[&str],
) -> Result<Names, BusError> {
    declare_consumer_as(chan, settings, event_types, WorkQueue::Declare).await
}

/// Declares the consumer topology on a fresh channel of `connector` and returns that channel.
/// A work queue that exists with other arguments is adopted as it is on a second channel and
/// reported in the connector's health, so a changed setting never wedges a consumer.
pub async fn declare_on(
    connector: &Connector,
    settings: &BusSettings,
    event_types: &[&str],
) -> Result<Channel, BusError> {
    let chan = connector.channel().await?;
    match declare_consumer(&chan, settings, event_types).await {
        Ok(_) => {
            connector
                .health()
                .set_topology_mismatch(&settings.names().queue, None);
            Ok(chan)
        }
        Err(e @ BusError::TopologyMismatch { .. }) => {
            tracing::error!(error = %e, "bus topology mismatch");
            connector
                .health()
                .set_topology_mismatch(&settings.names().queue, Some(e.to_string()));
            let chan = connector.channel().await?;
            declare_consumer_as(&chan, settings, event_types, WorkQueue::Adopt).await?;
            Ok(chan)
        }
        Err(e) => Err(e),
    }
}

async fn declare_consumer_as(
    chan: &Channel,
    settings: &BusSettings,
    event_types: &[&str],
    mode: WorkQueue,
) -> Result<Names, BusError> {
    let names = settings.names();
    declare_exchange(chan, &names).await?;

    chan.exchange_declare(
        names.dlx.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        },
        FieldTable::default(),
    )
    .await?;
    chan.queue_declare(names.dlq.as_str().into(), durable(), quorum())
        .await?;
    chan.queue_bind(
        names.dlq.as_str().into(),
        names.dlx.as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;

    match mode {
        WorkQueue::Declare => {
            let declared = chan
                .queue_declare(
                    names.queue.as_str().into(),
                    durable(),
                    work_queue_args(settings, &names),
                )
                .await
                .map_err(BusError::from);
            match declared {
                Ok(_) => {}
                Err(e) if e.is_precondition_failed() => {
                    return Err(BusError::TopologyMismatch {
                        queue: names.queue.clone(),
                        detail: e.to_string(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        WorkQueue::Adopt => {
            chan.queue_declare(
                names.queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..durable()
                },
                FieldTable::default(),
            )
            .await?;
        }
    }
    for t in event_types {
        chan.queue_bind(
            names.queue.as_str().into(),
            names.exchange.as_str().into(),
            (*t).into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }

    for (queue, delay) in names.retry.iter().zip(&settings.retry_delays) {
        let mut args = quorum();
        args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
        );
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("".into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(names.queue.as_str().into()),
        );
        chan.queue_declare(queue.as_str().into(), durable(), args)
            .await?;
    }
    Ok(names)
}

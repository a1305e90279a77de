//! Declares the exchanges and queues, idempotently, at start (and again after a reconnect).
//!
//! ```text
//! voxanne.events (topic) --type--> <svc>.events (quorum, x-delivery-limit, DLX <svc>.events.dlx)
//! failed handler: ack + confirmed copy via the default exchange to <svc>.events.retry.<n>
//! <svc>.events.retry.<n> (quorum, x-message-ttl = delay n) --expired--> "" / <svc>.events
//! <svc>.events.dlx (fanout) --> <svc>.events.dlq (quorum, no consumer)
//! ```
//! Retries are plain publishes of a copy (stripped of `x-death`), never a dead-letter cycle
//! through the work queue: RabbitMQ silently drops cycles without a `rejected` reason, which is
//! what a `delivery_limit` dead-letter into a retry loop would be. The work queue's DLX points only
//! at the DLQ.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use crate::config::{BusSettings, Names};
use crate::connection::BusError;

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

/// Everything a consumer of `event_types` needs: exchange, work queue and bindings, retry queues,
/// dead-letter exchange and queue.
pub async fn declare_consumer(
    chan: &Channel,
    settings: &BusSettings,
    event_types: &[&str],
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

    let mut work = quorum();
    work.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongInt(settings.delivery_limit),
    );
    work.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(names.dlx.as_str().into()),
    );
    chan.queue_declare(names.queue.as_str().into(), durable(), work)
        .await?;
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

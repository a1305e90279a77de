//! The consumer runner. Per delivery: decode the envelope, then in the tenant transaction of its
//! org (from the envelope) insert `inbox(consumer, event_id)` and run the handler; ack only after
//! the commit. Deliveries already received are applied together — one transaction per org with
//! a multi-row inbox insert; when a handler fails there, its event fails alone and the others are
//! applied one by one, so one failing handler never takes another event with it. A duplicate (the inbox row exists) is acked without running the handler. A failing
//! handler is retried through the TTL queues (a confirmed copy with `x-retry = n`, then ack), and
//! after the last retry parked in the DLQ with the error recorded; an undecodable message is parked
//! at once. Consumer crashes are bounded by the work queue's `x-delivery-limit`.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use events::{Envelope, Event};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt as _, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation};
use opentelemetry::trace::TraceContextExt as _;
use servicekit::db::PoolUnavailable;
use tenancy::{Db, OrgId};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::config::{BusSettings, Names};
use crate::connection::{BusError, Connector};
use crate::headers;
use crate::outbox::inbox;

/// Why a handler did not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The message can never be processed as it is: parked at once, not retried.
    #[error("undecodable: {0}")]
    Undecodable(String),
    /// Worth retrying (a dependency was down, a conflict, a bug fixed by a deploy).
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("database unavailable")]
    Pool(#[from] PoolUnavailable),
    /// The handler panicked; treated like `Failed` (retried, then dead-lettered).
    #[error("handler panicked: {0}")]
    Panicked(String),
}

/// The text of a caught panic (`panic!("…")` carries a `&str` or a `String`).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".into())
}

type Handler = Arc<
    dyn for<'c> Fn(&'c mut AsyncPgConnection, Envelope) -> BoxFuture<'c, Result<(), HandlerError>>
        + Send
        + Sync,
>;

pub struct Consumer {
    settings: BusSettings,
    names: Names,
    connector: Connector,
    db: Db,
    handlers: HashMap<&'static str, Handler>,
    stop: Arc<crate::Shutdown>,
}

enum Applied {
    Yes,
    Duplicate,
}

/// How a group transaction failed: at event `i` (with its error), or as a whole.
enum GroupError {
    At(usize, HandlerError),
    Tx(HandlerError),
}

impl From<diesel::result::Error> for GroupError {
    fn from(e: diesel::result::Error) -> Self {
        GroupError::Tx(HandlerError::Db(e))
    }
}

impl From<PoolUnavailable> for GroupError {
    fn from(e: PoolUnavailable) -> Self {
        GroupError::Tx(HandlerError::Pool(e))
    }
}

/// Deliveries applied in one go, and how many such batches may be in flight.
const MAX_BATCH: usize = 64;
const MAX_CONCURRENT_BATCHES: usize = 4;
const GROUPS_IN_PARALLEL: usize = 2;

struct Item {
    delivery: Delivery,
    attempt: u32,
    env: Envelope,
    handler: Handler,
    span: tracing::Span,
}

impl Consumer {
    pub fn new(bus: &crate::Bus, db: Db) -> Self {
        Consumer {
            settings: bus.settings.clone(),
            names: bus.names(),
            connector: bus.connector.clone(),
            db,
            handlers: HashMap::new(),
            stop: bus.stop.clone(),
        }
    }

    /// Registers the handler of event `E`. It runs inside the tenant transaction of the event's
    /// org, after the inbox insert; returning `Err` rolls both back.
    pub fn on<E, F>(mut self, handler: F) -> Self
    where
        E: Event,
        F: for<'c> Fn(
                &'c mut AsyncPgConnection,
                Envelope<E>,
            ) -> BoxFuture<'c, Result<(), HandlerError>>
            + Send
            + Sync
            + 'static,
    {
        let handler = Arc::new(handler);
        self.handlers.insert(
            E::TYPE,
            Arc::new(move |conn, env: Envelope| {
                let handler = handler.clone();
                Box::pin(async move {
                    let typed = env
                        .into_event::<E>()
                        .map_err(|e| HandlerError::Undecodable(e.to_string()))?;
                    // A panicking handler is a failing handler: its transaction rolls back, it
                    // takes the retry path and then the DLQ, and its batch-mates are applied.
                    // Uncaught, the panic would kill the batch task and leave every delivery of
                    // the batch unacked until the channel closes (consumer timeout: 30 min).
                    AssertUnwindSafe(handler(conn, typed))
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|panic| Err(HandlerError::Panicked(panic_message(&*panic))))
                })
            }),
        );
        self
    }

    pub fn event_types(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.handlers.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Declares the topology now (so events published before the first delivery are queued).
    pub async fn declare(&self) -> Result<(), BusError> {
        let chan =
            crate::topology::declare_on(&self.connector, &self.settings, &self.event_types())
                .await?;
        let _ = chan.close(200, "declared".into()).await;
        Ok(())
    }

    /// Consumes until the bus shuts down (`Bus::shutdown`: it finishes what it holds first) or
    /// the task is dropped, reconnecting after broker restarts or cut connections.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        let stop = self.stop.clone();
        let stopping = stop.subscribe();
        stop.spawn(Arc::new(self).run(stopping))
    }

    async fn run(self: Arc<Self>, mut stopping: crate::shutdown::Stopping) {
        let mut backoff = Duration::from_millis(100);
        while !stopping.is_set() {
            match self.session(&mut stopping).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX), "consumer lost the broker")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stopping.wait() => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        tracing::info!(queue = %self.names.queue, "consumer stopped");
    }

    /// One connection's worth of consuming; returns when the stream ends or on shutdown (after
    /// cancelling the subscription and settling every delivery it received).
    async fn session(
        self: &Arc<Self>,
        stopping: &mut crate::shutdown::Stopping,
    ) -> Result<(), BusError> {
        let chan =
            crate::topology::declare_on(&self.connector, &self.settings, &self.event_types())
                .await?;
        chan.basic_qos(self.settings.prefetch, BasicQosOptions::default())
            .await?;
        // Retry and park copies go through a second channel in confirm mode.
        let publisher = self.connector.channel().await?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let tag = format!(
            "{}-{}",
            self.settings.service,
            uuid::Uuid::new_v4().simple()
        );
        let mut stream = chan
            .basic_consume(
                self.names.queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(queue = %self.names.queue, "consuming");
        // Deliveries already received are applied together (one transaction per org, a savepoint
        // per event): per-event round trips, not per-event transactions, set the pace. Several
        // batches run at once, bounded so the pool is not exhausted.
        let batches = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_BATCHES));
        'stream: loop {
            // Wait for a delivery, but look at the channel every second: after a silent cut the
            // stream may never end, and the consumer must notice and reconnect.
            let first = tokio::select! {
                d = stream.next() => d,
                () = stopping.wait() => {
                    self.stop_consuming(&chan, &tag, &mut stream, &batches, &publisher).await;
                    break 'stream;
                }
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    if chan.status().connected() { continue } else { break 'stream }
                }
            };
            let Some(Ok(first)) = first else { break };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match futures_util::FutureExt::now_or_never(stream.next()) {
                    Some(Some(Ok(d))) => batch.push(d),
                    Some(_) => {
                        self.clone().spawn_batch(&batches, &publisher, batch).await;
                        break 'stream;
                    }
                    None => break,
                }
            }
            self.clone().spawn_batch(&batches, &publisher, batch).await;
        }
        // Every batch of this session settles on this session's channels before they close. On a
        // graceful stop that is the point (finish and ack what we hold). After a lost connection
        // nothing more can be acked on these channels, and the broker redelivers whatever was
        // not (the inbox skips what was applied): wait only briefly, so a batch stuck on a dead
        // channel can never keep this consumer from reconnecting.
        let all = u32::try_from(MAX_CONCURRENT_BATCHES).unwrap_or(u32::MAX);
        let settle = if stopping.is_set() {
            Duration::from_secs(60)
        } else {
            Duration::from_secs(5)
        };
        if tokio::time::timeout(settle, batches.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!(
                queue = %self.names.queue,
                waited_ms = u64::try_from(settle.as_millis()).unwrap_or(u64::MAX),
                "batches of the ended session did not settle; reconnecting (unacked deliveries are redelivered)"
            );
        }
        if stopping.is_set() {
            let _ = publisher.close(200, "shutting down".into()).await;
            let _ = chan.close(200, "shutting down".into()).await;
        }
        Ok(())
    }

    /// Shutdown: no new deliveries (basic.cancel), then what the broker had already sent — the
    /// prefetched deliveries waiting in the stream — is applied and acked like any other batch.
    async fn stop_consuming(
        self: &Arc<Self>,
        chan: &Channel,
        tag: &str,
        stream: &mut lapin::Consumer,
        batches: &Arc<tokio::sync::Semaphore>,
        publisher: &Channel,
    ) {
        tracing::info!(queue = %self.names.queue, "shutting down: cancelling the subscription");
        if let Err(e) = chan
            .basic_cancel(tag.into(), BasicCancelOptions::default())
            .await
        {
            tracing::warn!(error = %e, "could not cancel the subscription");
        }
        // cancel-ok follows every delivery sent before it: what is buffered now is all we hold.
        let mut held = Vec::new();
        while let Some(Some(Ok(d))) = futures_util::FutureExt::now_or_never(stream.next()) {
            held.push(d);
            if held.len() == MAX_BATCH {
                self.clone()
                    .spawn_batch(batches, publisher, std::mem::take(&mut held))
                    .await;
            }
        }
        if !held.is_empty() {
            self.clone().spawn_batch(batches, publisher, held).await;
        }
    }

    async fn spawn_batch(
        self: Arc<Self>,
        limit: &Arc<tokio::sync::Semaphore>,
        publisher: &Channel,
        batch: Vec<Delivery>,
    ) {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let publisher = publisher.clone();
        tokio::spawn(async move {
            self.handle_batch(&publisher, batch).await;
            drop(permit);
        });
    }

    async fn handle_batch(&self, publisher: &Channel, batch: Vec<Delivery>) {
        // Decode first: what cannot be decoded or has no handler is parked at once.
        let mut by_org: HashMap<uuid::Uuid, Vec<Item>> = HashMap::new();
        for d in batch {
            let attempt = d
                .properties
                .headers()
                .as_ref()
                .and_then(|h| headers::get_u32(h, headers::RETRY))
                .unwrap_or(0);
            let env: Envelope = match serde_json::from_slice(&d.data) {
                Ok(e) => e,
                Err(e) => {
                    self.park(
                        publisher,
                        &d,
                        attempt,
                        &format!("undecodable envelope: {e}"),
                        "undecodable",
                    )
                    .await;
                    continue;
                }
            };
            let Some(handler) = self.handlers.get(env.event_type.as_str()).cloned() else {
                self.park(
                    publisher,
                    &d,
                    attempt,
                    &format!("no handler for {}", env.event_type),
                    "unhandled",
                )
                .await;
                continue;
            };
            let span = self.span_for(&d, &env);
            by_org.entry(env.org_id).or_default().push(Item {
                delivery: d,
                attempt,
                env,
                handler,
                span,
            });
        }
        // Org groups are independent transactions: a few run side by side (bounded, so a consumer
        // holds at most MAX_CONCURRENT_BATCHES × GROUPS_IN_PARALLEL connections).
        futures_util::StreamExt::for_each_concurrent(
            futures_util::stream::iter(by_org),
            GROUPS_IN_PARALLEL,
            |(org, items)| self.apply_group(publisher, OrgId(org), items),
        )
        .await;
    }

    /// Applies one org's events. Common path: one transaction, one multi-row inbox insert, the
    /// handlers, one commit. If a handler fails, that transaction rolls back; the failing event
    /// is settled as failed, the ones before it are re-applied one by one and the ones after it
    /// run one by one — so each delivery succeeds or fails on its own.
    async fn apply_group(&self, publisher: &Channel, org: OrgId, items: Vec<Item>) {
        if items.len() == 1 {
            for item in items {
                let outcome = self.apply_each(org, &item).await;
                self.settle(publisher, item, outcome).await;
            }
            return;
        }
        let work: Vec<(Envelope, Handler, tracing::Span)> = items
            .iter()
            .map(|i| (i.env.clone(), i.handler.clone(), i.span.clone()))
            .collect();
        let consumer = self.settings.service.clone();
        let together = self
            .db
            .tenant_tx(org, move |tx| {
                Box::pin(async move {
                    let rows: Vec<_> = work
                        .iter()
                        .map(|(env, _, _)| {
                            (
                                inbox::consumer.eq(consumer.clone()),
                                inbox::event_id.eq(env.id),
                                inbox::org_id.eq(env.org_id),
                                inbox::event_type.eq(env.event_type.clone()),
                            )
                        })
                        .collect();
                    // A set consumed by the first copy: the same event twice in one batch is
                    // inserted once and applied once.
                    let mut fresh: std::collections::HashSet<uuid::Uuid> =
                        diesel::insert_into(inbox::table)
                            .values(rows)
                            .on_conflict_do_nothing()
                            .returning(inbox::event_id)
                            .get_results::<uuid::Uuid>(tx)
                            .await
                            .map_err(|e| GroupError::At(0, HandlerError::Db(e)))?
                            .into_iter()
                            .collect();
                    let mut applied = Vec::with_capacity(work.len());
                    for (i, (env, handler, span)) in work.into_iter().enumerate() {
                        if fresh.remove(&env.id) {
                            handler(tx, env)
                                .instrument(span)
                                .await
                                .map_err(|e| GroupError::At(i, e))?;
                            applied.push(Applied::Yes);
                        } else {
                            applied.push(Applied::Duplicate);
                        }
                    }
                    Ok::<_, GroupError>(applied)
                })
            })
            .await;
        match together {
            Ok(applied) => {
                for (item, a) in items.into_iter().zip(applied) {
                    self.settle(publisher, item, Ok(a)).await;
                }
            }
            Err(GroupError::At(failed, why)) => {
                let mut why = Some(why);
                for (i, item) in items.into_iter().enumerate() {
                    let outcome = match (i == failed).then(|| why.take()).flatten() {
                        Some(e) => Err(e),
                        None => self.apply_each(org, &item).await,
                    };
                    self.settle(publisher, item, outcome).await;
                }
            }
            // The transaction itself failed (begin, commit, pool): each event on its own.
            Err(GroupError::Tx(e)) => {
                tracing::warn!(error = %e, events = items.len(), "group transaction failed; applying its events one by one");
                for item in items {
                    let outcome = self.apply_each(org, &item).await;
                    self.settle(publisher, item, outcome).await;
                }
            }
        }
    }

    /// One event in its own tenant transaction: inbox insert, then the handler.
    async fn apply_each(&self, org: OrgId, item: &Item) -> Result<Applied, HandlerError> {
        let (env, handler, consumer) = (
            item.env.clone(),
            item.handler.clone(),
            self.settings.service.clone(),
        );
        self.db
            .tenant_tx(org, move |tx| {
                Box::pin(async move {
                    let fresh = diesel::insert_into(inbox::table)
                        .values((
                            inbox::consumer.eq(&consumer),
                            inbox::event_id.eq(env.id),
                            inbox::org_id.eq(env.org_id),
                            inbox::event_type.eq(&env.event_type),
                        ))
                        .on_conflict_do_nothing()
                        .execute(tx)
                        .await?;
                    if fresh == 0 {
                        return Ok(Applied::Duplicate);
                    }
                    handler(tx, env).await.map(|()| Applied::Yes)
                })
            })
            .instrument(item.span.clone())
            .await
    }

    fn span_for(&self, d: &Delivery, env: &Envelope) -> tracing::Span {
        let span = tracing::info_span!(
            "process",
            otel.name = %format!("process {}", self.names.queue),
            otel.kind = "consumer",
            messaging.system = "rabbitmq",
            messaging.operation.type = "process",
            messaging.destination.name = %self.names.queue,
            messaging.message.id = %env.id,
            event_type = %env.event_type,
            org = %env.org_id,
        );
        // The consumer span continues the trace of the request that enqueued the event and links
        // to it (several deliveries of one event are several consumer spans, one producer).
        let producer = d
            .properties
            .headers()
            .as_ref()
            .map(|h| {
                opentelemetry::global::get_text_map_propagator(|p| {
                    p.extract(&headers::AmqpExtractor(h))
                })
            })
            .filter(|cx| cx.span().span_context().is_valid());
        if let Some(cx) = producer {
            let sc = cx.span().span_context().clone();
            let _ = span.set_parent(cx);
            span.add_link(sc);
        }
        span
    }

    async fn settle(
        &self,
        publisher: &Channel,
        item: Item,
        outcome: Result<Applied, HandlerError>,
    ) {
        let Item {
            delivery: d,
            attempt,
            env,
            span,
            ..
        } = item;
        let event_type = env.event_type;
        async {
            match outcome {
                Ok(applied) => {
                    let outcome = match applied {
                        Applied::Yes => "applied",
                        Applied::Duplicate => "duplicate",
                    };
                    metrics::counter!("bus_events_consumed_total", "type" => event_type, "outcome" => outcome).increment(1);
                    ack(&d).await;
                }
                Err(HandlerError::Undecodable(why)) => self.park(publisher, &d, attempt, &why, "undecodable").await,
                Err(e) if usize::try_from(attempt).is_ok_and(|a| a < self.settings.retry_delays.len()) => {
                    tracing::warn!(error = %e, attempt = attempt + 1, "handler failed; retrying later");
                    self.retry(publisher, &d, attempt, &e.to_string()).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, attempts = attempt + 1, "handler failed for the last time; dead-lettering");
                    self.park(publisher, &d, attempt, &e.to_string(), "failed").await;
                }
            }
        }
        .instrument(span)
        .await;
    }

    async fn retry(&self, publisher: &Channel, d: &Delivery, attempt: u32, why: &str) {
        let Some(queue) = usize::try_from(attempt)
            .ok()
            .and_then(|a| self.names.retry.get(a))
        else {
            return;
        };
        let mut h = headers::for_copy(d.properties.headers().as_ref());
        headers::set_u32(&mut h, headers::RETRY, attempt + 1);
        headers::set_str(&mut h, headers::LAST_ERROR, &truncate(why));
        if publish_copy(publisher, "", queue, d, h).await {
            metrics::counter!("bus_events_retried_total").increment(1);
            ack(d).await;
        } else {
            // The copy is not safely stored: give the message back to the broker instead.
            nack_requeue(d).await;
        }
    }

    /// Moves a delivery to the DLQ with the reason recorded, then acks it.
    async fn park(&self, publisher: &Channel, d: &Delivery, attempt: u32, why: &str, reason: &str) {
        let mut h = headers::for_copy(d.properties.headers().as_ref());
        headers::set_u32(&mut h, headers::RETRY, attempt);
        headers::set_str(&mut h, headers::LAST_ERROR, &truncate(why));
        headers::set_str(&mut h, "x-parked-reason", reason);
        headers::set_str(&mut h, headers::CONSUMER, &self.settings.service);
        headers::set_str(&mut h, headers::FAILED_AT, &chrono::Utc::now().to_rfc3339());
        headers::set_str(&mut h, "x-original-routing-key", d.routing_key.as_str());
        if publish_copy(publisher, &self.names.dlx, "", d, h).await {
            metrics::counter!("bus_events_dead_lettered_total", "reason" => reason.to_string())
                .increment(1);
            ack(d).await;
        } else {
            nack_requeue(d).await;
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(1000).collect()
}

/// Publishes a copy of `d` with `headers` and waits for the broker's confirm.
pub(crate) async fn publish_copy(
    chan: &Channel,
    exchange: &str,
    routing_key: &str,
    d: &Delivery,
    headers: FieldTable,
) -> bool {
    let mut props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_headers(headers);
    if let Some(id) = d.properties.message_id() {
        props = props.with_message_id(id.clone());
    }
    if let Some(t) = d.properties.kind() {
        props = props.with_type(t.clone());
    }
    let opts = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let Ok(confirm) = chan
        .basic_publish(exchange.into(), routing_key.into(), opts, &d.data, props)
        .await
    else {
        return false;
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), confirm).await,
        Ok(Ok(Confirmation::Ack(None)))
    )
}

async fn ack(d: &Delivery) {
    match d.ack(BasicAckOptions::default()).await {
        Ok(true) => {}
        // Received on a connection that has since died: the broker redelivers, the inbox skips it.
        Ok(false) | Err(_) => metrics::counter!("bus_ack_not_sent_total").increment(1),
    }
}

async fn nack_requeue(d: &Delivery) {
    let _ = d
        .nack(BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        })
        .await;
}

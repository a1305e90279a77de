//! The outbox relay: claims unsent rows with `FOR UPDATE SKIP LOCKED` (so several replicas can
//! run at once on disjoint rows), publishes them with publisher confirms and `mandatory` (an
//! unroutable return is a failure), marks the confirmed ones sent and backs the others off. It
//! polls every `BUS_RELAY_POLL_MS` (an explicit NOTIFY on its channel wakes it early; inserts do
//! not notify, see ADR 0004), backs off while the broker is away, records
//! the lag of the oldest unsent row, and prunes old sent rows.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use futures_util::future::join_all;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation};
use secrecy::ExposeSecret;
use servicekit::db::PgPool;
use tokio::sync::Notify;

use crate::config::{BusSettings, Names};
use crate::connection::{BusError, Connector};
use crate::headers;
use crate::outbox::{OutboxRow, inbox, outbox};

pub struct Relay {
    settings: BusSettings,
    names: Names,
    connector: Connector,
    pool: PgPool,
    /// The database URL for the LISTEN connection (a pooled one cannot hold LISTEN).
    listen_url: secrecy::SecretString,
    stop: std::sync::Arc<crate::Shutdown>,
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Broker(#[from] BusError),
    #[error("database: {0}")]
    Db(String),
}

impl From<diesel::result::Error> for RelayError {
    fn from(e: diesel::result::Error) -> Self {
        RelayError::Db(e.to_string())
    }
}

enum Outcome {
    Sent,
    Failed(String),
}

impl Relay {
    pub fn new(bus: &crate::Bus, pool: PgPool, listen_url: secrecy::SecretString) -> Self {
        Relay {
            settings: bus.settings.clone(),
            names: bus.names(),
            connector: bus.connector.clone(),
            pool,
            listen_url,
            stop: bus.stop.clone(),
        }
    }

    /// Runs until the bus shuts down (after a last flush of what is due) or the task is dropped.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        let stop = self.stop.clone();
        let stopping = stop.subscribe();
        stop.spawn(self.run(stopping))
    }

    async fn run(self, mut stopping: crate::shutdown::Stopping) {
        let wake = std::sync::Arc::new(Notify::new());
        // Aborted with the relay: the listener lives exactly as long as this future.
        let _listener = AbortOnDrop(tokio::spawn(listen(
            self.listen_url.clone(),
            self.names.notify_channel.clone(),
            wake.clone(),
        )));
        let mut chan: Option<Channel> = None;
        let mut backoff = Duration::from_millis(100);
        let mut last_prune = Instant::now() - Duration::from_secs(3600);
        let mut last_lag = Instant::now() - Duration::from_secs(3600);
        loop {
            if stopping.is_set() {
                self.flush(chan.as_ref()).await;
                return;
            }
            if chan.as_ref().is_none_or(|c| !c.status().connected()) {
                match self.open_channel().await {
                    Ok(c) => {
                        chan = Some(c);
                        backoff = Duration::from_millis(100);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX), "relay cannot reach the broker");
                        // The backlog grows exactly while the broker is away: keep measuring it.
                        if last_lag.elapsed() > Duration::from_secs(1) {
                            self.record_lag().await;
                            last_lag = Instant::now();
                        }
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            () = stopping.wait() => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                }
            }
            let Some(c) = chan.as_ref() else { continue };
            match self.relay_batch(c).await {
                Ok(n) if i64::try_from(n).unwrap_or(i64::MAX) >= self.settings.relay_batch => {
                    continue;
                }
                Ok(_) => {
                    // The relay polls every few milliseconds; the lag gauge needs no such rate.
                    if last_lag.elapsed() > Duration::from_secs(1) {
                        self.record_lag().await;
                        last_lag = Instant::now();
                    }
                    if last_prune.elapsed() > Duration::from_secs(600) {
                        self.prune().await;
                        last_prune = Instant::now();
                    }
                    tokio::select! {
                        _ = tokio::time::timeout(self.settings.relay_poll, wake.notified()) => {}
                        () = stopping.wait() => {}
                    }
                }
                Err(RelayError::Broker(e)) => {
                    tracing::warn!(error = %e, "relay lost the broker channel");
                    chan = None;
                }
                Err(RelayError::Db(e)) => {
                    tracing::warn!(error = %e, retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX), "relay cannot reach the database");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Shutdown: publishes every row that is due now (batch after batch), then returns. Rows
    /// backing off after a failure stay for the next relay.
    async fn flush(&self, chan: Option<&Channel>) {
        let opened;
        let chan = match chan.filter(|c| c.status().connected()) {
            Some(c) => c,
            None => match self.open_channel().await {
                Ok(c) => {
                    opened = c;
                    &opened
                }
                Err(e) => {
                    tracing::warn!(error = %e, "relay cannot flush: the broker is away; the outbox keeps the events");
                    return;
                }
            },
        };
        let mut flushed = 0;
        loop {
            match self.relay_batch(chan).await {
                Ok(n) => {
                    flushed += n;
                    if i64::try_from(n).unwrap_or(i64::MAX) < self.settings.relay_batch {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "relay flush stopped; the outbox keeps the rest");
                    break;
                }
            }
        }
        self.record_lag().await;
        tracing::info!(rows = flushed, "relay flushed the outbox and stopped");
    }

    async fn open_channel(&self) -> Result<Channel, BusError> {
        let chan = self.connector.channel().await?;
        chan.confirm_select(ConfirmSelectOptions::default()).await?;
        crate::topology::declare_exchange(&chan, &self.names).await?;
        Ok(chan)
    }

    /// One claimed batch: returns how many rows were claimed.
    async fn relay_batch(&self, chan: &Channel) -> Result<usize, RelayError> {
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|e| RelayError::Db(e.to_string()))?;
        let (claimed, broker_error) = conn
            .transaction::<_, RelayError, _>(async |tx| {
                let rows: Vec<OutboxRow> = outbox::table
                    .filter(outbox::published_at.is_null())
                    .filter(outbox::next_attempt_at.le(diesel::dsl::now))
                    .order(outbox::id.asc())
                    .limit(self.settings.relay_batch)
                    .for_update()
                    .skip_locked()
                    .select(OutboxRow::as_select())
                    .load(tx)
                    .await?;
                if rows.is_empty() {
                    return Ok((0, None));
                }
                let outcomes = self.publish_all(chan, &rows).await;
                let mut sent = Vec::new();
                let mut broker_error = None;
                for (row, outcome) in rows.iter().zip(outcomes) {
                    match outcome {
                        Outcome::Sent => sent.push(row.id),
                        Outcome::Failed(why) => {
                            metrics::counter!("bus_publish_failures_total", "type" => row.event_type.clone()).increment(1);
                            // Exponential per-row backoff: 0.5 s, 1 s, 2 s … capped at a minute.
                            let delay_ms = 500i64.saturating_mul(1i64 << row.attempts.clamp(0, 7)).min(60_000);
                            diesel::update(outbox::table.find(row.id))
                                .set((
                                    outbox::attempts.eq(outbox::attempts + 1),
                                    outbox::last_error.eq(why.chars().take(1000).collect::<String>()),
                                    outbox::next_attempt_at.eq(chrono::Utc::now() + chrono::Duration::milliseconds(delay_ms)),
                                ))
                                .execute(tx)
                                .await?;
                            broker_error.get_or_insert(why);
                        }
                    }
                }
                if !sent.is_empty() {
                    diesel::update(outbox::table.filter(outbox::id.eq_any(&sent)))
                        .set(outbox::published_at.eq(diesel::dsl::now))
                        .execute(tx)
                        .await?;
                    for row in rows.iter().filter(|r| sent.contains(&r.id)) {
                        metrics::counter!("bus_events_published_total", "type" => row.event_type.clone()).increment(1);
                    }
                }
                Ok((rows.len(), broker_error))
            })
            .await?;
        if let Some(why) = broker_error
            && !chan.status().connected()
        {
            return Err(RelayError::Broker(BusError::Connect(why)));
        }
        Ok(claimed)
    }

    /// Publishes every row, then awaits all confirms (they may arrive out of order).
    async fn publish_all(&self, chan: &Channel, rows: &[OutboxRow]) -> Vec<Outcome> {
        let mut pending = Vec::with_capacity(rows.len());
        for row in rows {
            let body = match serde_json::to_vec(&row.envelope()) {
                Ok(b) => b,
                Err(e) => {
                    pending.push(Err(format!("cannot serialise: {e}")));
                    continue;
                }
            };
            let mut h = FieldTable::default();
            if let Some(tp) = &row.traceparent {
                headers::set_str(&mut h, "traceparent", tp);
            }
            headers::set_str(&mut h, "org_id", &row.org_id.to_string());
            let props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(row.event_id.to_string().into())
                .with_type(row.event_type.clone().into())
                .with_content_type("application/json".into())
                .with_timestamp(u64::try_from(row.created_at.timestamp()).unwrap_or(0))
                .with_headers(h);
            let published = chan
                .basic_publish(
                    self.names.exchange.as_str().into(),
                    row.event_type.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &body,
                    props,
                )
                .await;
            pending.push(published.map_err(|e| e.to_string()));
        }
        let timeout = self.settings.confirm_timeout;
        join_all(pending.into_iter().map(|p| async move {
            match p {
                Err(e) => Outcome::Failed(e),
                Ok(confirm) => match tokio::time::timeout(timeout, confirm).await {
                    Ok(Ok(Confirmation::Ack(None))) => Outcome::Sent,
                    Ok(Ok(Confirmation::Ack(Some(_)))) => {
                        Outcome::Failed("unroutable: no queue is bound to this event type".into())
                    }
                    Ok(Ok(Confirmation::Nack(_))) => {
                        Outcome::Failed("broker refused the message (nack)".into())
                    }
                    Ok(Ok(Confirmation::NotRequested)) => {
                        Outcome::Failed("confirms were not enabled".into())
                    }
                    Ok(Err(e)) => Outcome::Failed(e.to_string()),
                    Err(_) => Outcome::Failed("publisher confirm timed out".into()),
                },
            }
        }))
        .await
    }

    /// The age of the oldest unsent row (`bus_outbox_lag_seconds`) and how many rows wait
    /// (`bus_outbox_pending`): the backlog that grows while the broker is away.
    async fn record_lag(&self) {
        #[derive(QueryableByName)]
        struct Lag {
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Double>)]
            seconds: Option<f64>,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            pending: i64,
        }
        let Ok(mut conn) = self.pool.get().await else {
            return;
        };
        let lag: QueryResult<Lag> = diesel::sql_query(
            "SELECT (SELECT extract(epoch FROM now() - created_at)::float8 FROM outbox
                      WHERE published_at IS NULL ORDER BY id LIMIT 1) AS seconds,
                    (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS pending",
        )
        .get_result(&mut conn)
        .await;
        let Ok(lag) = lag else { return };
        metrics::gauge!("bus_outbox_lag_seconds").set(lag.seconds.unwrap_or(0.0));
        #[allow(clippy::as_conversions)] // a row count as a gauge value
        metrics::gauge!("bus_outbox_pending").set(lag.pending as f64);
    }

    async fn prune(&self) {
        let Ok(mut conn) = self.pool.get().await else {
            return;
        };
        let horizon = chrono::Utc::now()
            - chrono::Duration::from_std(self.settings.retention)
                .unwrap_or(chrono::Duration::days(7));
        let sent = diesel::delete(outbox::table.filter(outbox::published_at.lt(horizon)))
            .execute(&mut conn)
            .await;
        let seen = diesel::delete(inbox::table.filter(inbox::processed_at.lt(horizon)))
            .execute(&mut conn)
            .await;
        if let (Ok(s), Ok(i)) = (sent, seen)
            && s + i > 0
        {
            tracing::info!(outbox_rows = s, inbox_rows = i, "pruned old bus rows");
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps a LISTEN connection open and turns notifications into wake-ups; reconnects on failure.
async fn listen(url: secrecy::SecretString, channel: String, wake: std::sync::Arc<Notify>) {
    loop {
        match AsyncPgConnection::establish(url.expose_secret()).await {
            Ok(mut conn) => {
                if diesel::sql_query(format!("LISTEN \"{channel}\""))
                    .execute(&mut conn)
                    .await
                    .is_ok()
                {
                    let mut stream = std::pin::pin!(conn.notifications_stream());
                    while let Some(n) = stream.next().await {
                        if n.is_err() {
                            break;
                        }
                        wake.notify_one();
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "outbox listener cannot connect"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

//! A complete bus for one test: a fresh database (lead-scoring's schema, with the bus tables and an
//! `effects` tenant table), unique exchange and queue names, the relay, and a consumer whose
//! handler records each application in `effects` — so "applied once" is a row count.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bus::{Bus, BusSettings, Consumer, HandlerError, Relay};
use diesel::sql_types::{BigInt, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use events::CallEndedV1;
use runtime::Service;
use servicekit::{CommonSettings, SecretString};
use tenancy::{Db, OrgId};
use testkit::TestDb;
use uuid::Uuid;

/// How the test handler behaves.
#[derive(Default)]
pub struct Behaviour {
    /// Fail this many times per event before succeeding.
    pub fail_first: AtomicU32,
    /// Fail every time while set.
    pub always_fail: AtomicBool,
    /// Events that fail every time (others succeed).
    pub poisoned: Mutex<std::collections::HashSet<Uuid>>,
    /// Events whose handler panics every time.
    pub panicking: Mutex<std::collections::HashSet<Uuid>>,
    /// The handler takes this long before it writes (an in-flight handler at shutdown).
    pub slow: Mutex<Option<Duration>>,
    /// The error text of `always_fail` (default: "scoring backend unavailable (test)").
    pub error_text: Mutex<Option<String>>,
    /// Attempt times per event id.
    pub attempts: Mutex<HashMap<Uuid, Vec<Instant>>>,
}

pub struct Options {
    pub amqp_url: String,
    pub retry_delays_ms: &'static str,
    pub start_consumer: bool,
    pub start_relay: bool,
    pub relay_poll_ms: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            amqp_url: testkit::config::amqp_url(),
            retry_delays_ms: "200,400",
            start_consumer: true,
            start_relay: true,
            relay_poll_ms: "25",
        }
    }
}

pub struct Harness {
    pub db: TestDb,
    pub tenant_db: Db,
    pub bus: Bus,
    pub behaviour: Arc<Behaviour>,
    pub pool: servicekit::db::PgPool,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

pub fn settings(
    db: &TestDb,
    amqp_url: &str,
    retry_delays_ms: &str,
) -> (CommonSettings, BusSettings) {
    settings_with(db, amqp_url, retry_delays_ms, "25")
}

pub fn settings_with(
    db: &TestDb,
    amqp_url: &str,
    retry_delays_ms: &str,
    relay_poll_ms: &str,
) -> (CommonSettings, BusSettings) {
    let prefix = format!("{}.", testkit::unique_name("bus"));
    let env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", db.service_url()),
        ("AMQP_URL", amqp_url.to_string()),
        ("BUS_PREFIX", prefix),
        ("BUS_RETRY_DELAYS_MS", retry_delays_ms.to_string()),
        ("BUS_RELAY_POLL_MS", relay_poll_ms.to_string()),
        ("DB_POOL_SIZE", "12".to_string()),
    ]);
    let common =
        CommonSettings::from_lookup(lead_scoring::LeadScoring::INFO, &|k| env.get(k).cloned())
            .unwrap();
    let bus = BusSettings::from_lookup(&common, &|k| env.get(k).cloned()).unwrap();
    (common, bus)
}

impl Harness {
    pub async fn start(opts: Options) -> Harness {
        let db = TestDb::new(
            lead_scoring::LeadScoring::INFO,
            lead_scoring::LeadScoring::MIGRATIONS,
        )
        .await
        .unwrap();
        let mut owner = AsyncPgConnection::establish(&db.owner_url()).await.unwrap();
        owner
            .batch_execute(
                "CREATE TABLE effects (id bigserial PRIMARY KEY, org_id uuid NOT NULL, event_id uuid NOT NULL, trace_id text,
                                       applied_at timestamptz NOT NULL DEFAULT clock_timestamp(), latency_ms float8);
                 SELECT tenancy.enable_tenant_rls('effects');",
            )
            .await
            .unwrap();
        let (common, bus_settings) = settings_with(
            &db,
            &opts.amqp_url,
            opts.retry_delays_ms,
            opts.relay_poll_ms,
        );
        let pool = servicekit::db::pg_pool(&common.database_url, common.db_pool_size).unwrap();
        let tenant_db = Db::new(pool.clone());
        let bus = Bus::new(bus_settings);
        let behaviour = Arc::new(Behaviour::default());
        let mut h = Harness {
            db,
            tenant_db,
            bus,
            behaviour,
            pool,
            tasks: Vec::new(),
        };
        if opts.start_consumer {
            let consumer = h.consumer();
            consumer.declare().await.unwrap();
            h.tasks.push(consumer.spawn());
        }
        if opts.start_relay {
            h.start_relay();
        }
        h
    }

    pub fn start_consumer(&mut self) {
        self.tasks.push(self.consumer().spawn());
    }

    pub fn start_relay(&mut self) {
        let relay = Relay::new(
            &self.bus,
            self.pool.clone(),
            SecretString::from(self.db.service_url()),
        );
        self.tasks.push(relay.spawn());
    }

    /// lead-scoring's consumer of `call.ended.v1` with the test handler, on a pool of its own
    /// (the writers of a test must not starve it, nor it them).
    pub fn consumer(&self) -> Consumer {
        self.consumer_on(&self.bus)
    }

    /// The test consumer on another `Bus` (other settings, or one shut down on its own).
    pub fn consumer_on(&self, bus: &Bus) -> Consumer {
        let behaviour = self.behaviour.clone();
        let pool = servicekit::db::pg_pool(&SecretString::from(self.db.service_url()), 8).unwrap();
        Consumer::new(bus, Db::new(pool)).on::<CallEndedV1, _>(move |conn, env| {
            let behaviour = behaviour.clone();
            Box::pin(async move {
                let n = {
                    let mut a = behaviour.attempts.lock().unwrap();
                    let v = a.entry(env.id).or_default();
                    v.push(Instant::now());
                    v.len() as u32
                };
                if behaviour.panicking.lock().unwrap().contains(&env.id) {
                    panic!("handler bug on event {} (test)", env.id);
                }
                let slow = *behaviour.slow.lock().unwrap();
                if let Some(pause) = slow {
                    tokio::time::sleep(pause).await;
                }
                if behaviour.poisoned.lock().unwrap().contains(&env.id) {
                    // Write first, then fail: the savepoint must undo this row.
                    diesel::sql_query("INSERT INTO effects (org_id, event_id) VALUES ($1, $2)")
                        .bind::<SqlUuid, _>(env.org_id)
                        .bind::<SqlUuid, _>(env.id)
                        .execute(conn)
                        .await?;
                    return Err(HandlerError::Failed(anyhow::anyhow!("poisoned event (test)")));
                }
                if AtomicBool::load(&behaviour.always_fail, Ordering::SeqCst) {
                    let text = behaviour.error_text.lock().unwrap().clone();
                    let text = text.unwrap_or_else(|| "scoring backend unavailable (test)".into());
                    return Err(HandlerError::Failed(anyhow::anyhow!(text)));
                }
                if n <= AtomicU32::load(&behaviour.fail_first, Ordering::SeqCst) {
                    return Err(HandlerError::Failed(anyhow::anyhow!("transient failure {n} (test)")));
                }
                let latency = (chrono::Utc::now() - env.occurred_at).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                diesel::sql_query("INSERT INTO effects (org_id, event_id, trace_id, latency_ms) VALUES ($1, $2, $3, $4)")
                    .bind::<SqlUuid, _>(env.org_id)
                    .bind::<SqlUuid, _>(env.id)
                    .bind::<Nullable<Text>, _>(servicekit::telemetry::current_trace_id())
                    .bind::<diesel::sql_types::Double, _>(latency)
                    .execute(conn)
                    .await?;
                Ok(())
            })
        })
    }

    /// Enqueues `n` events for `org` in one tenant transaction; rolls it back when `commit` is false.
    pub async fn enqueue(&self, org: OrgId, n: usize, commit: bool) -> Vec<Uuid> {
        let mut ids = Vec::new();
        let res = self
            .tenant_db
            .tenant_tx(org, |tx| {
                Box::pin(async move {
                    let mut ids = Vec::new();
                    for _ in 0..n {
                        ids.push(bus::enqueue(tx, org, &call_ended()).await?);
                    }
                    if commit {
                        Ok(ids)
                    } else {
                        Err(TxError::Rollback(ids))
                    }
                })
            })
            .await;
        match res {
            Ok(v) => ids.extend(v),
            Err(TxError::Rollback(v)) => ids.extend(v),
            Err(e) => panic!("enqueue failed: {e:?}"),
        }
        ids
    }

    /// Applied effects as `(event_id, count)` — read as superuser (every org).
    pub async fn effects(&self) -> HashMap<Uuid, i64> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = SqlUuid)]
            event_id: Uuid,
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut c = self.db.admin_conn().await.unwrap();
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT event_id, count(*) AS n FROM leads.effects GROUP BY event_id",
        )
        .load(&mut c)
        .await
        .unwrap();
        rows.into_iter().map(|r| (r.event_id, r.n)).collect()
    }

    pub async fn unsent(&self) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut c = self.db.admin_conn().await.unwrap();
        let r: Row =
            diesel::sql_query("SELECT count(*) AS n FROM leads.outbox WHERE published_at IS NULL")
                .get_result(&mut c)
                .await
                .unwrap();
        r.n
    }

    /// Polls until `done` holds for the effects, or `timeout` passes; returns the last effects.
    pub async fn wait_for_effects(
        &self,
        timeout: Duration,
        done: impl Fn(&HashMap<Uuid, i64>) -> bool,
    ) -> HashMap<Uuid, i64> {
        eventually(timeout, || self.effects(), done).await
    }

    /// Polls the DLQ until it holds `n` dead letters (or 10 s pass); returns the last listing.
    pub async fn dead_letters_eventually(&self, n: usize) -> Vec<bus::dlq::DeadLetter> {
        eventually(
            Duration::from_secs(10),
            || async { bus::dlq::list(&self.bus, 100).await.unwrap() },
            |l| l.len() == n,
        )
        .await
    }

    /// Deletes this test's exchanges and queues.
    pub async fn cleanup(&self) {
        for t in &self.tasks {
            t.abort();
        }
        self.bus.connector.close().await;
        bus::Bus::new(bus::BusSettings {
            amqp_url: SecretString::from(testkit::config::amqp_url()),
            ..self.bus.settings.clone()
        })
        .delete_topology()
        .await;
    }
}

/// Calls `probe` every 100 ms until `done` holds for its answer or `timeout` passes; returns the
/// last answer (the caller asserts on it, so a timeout shows what was seen).
pub async fn eventually<T, F, Fut>(timeout: Duration, mut probe: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let started = Instant::now();
    loop {
        let answer = probe().await;
        if done(&answer) || started.elapsed() > timeout {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Messages ready in `queue` (a passive declare: fails if the queue does not exist).
pub async fn message_count(chan: &lapin::Channel, queue: &str) -> Result<u32, lapin::Error> {
    let opts = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    Ok(chan
        .queue_declare(queue.into(), opts, lapin::types::FieldTable::default())
        .await?
        .message_count())
}

#[derive(Debug)]
pub enum TxError {
    Rollback(Vec<Uuid>),
    Db(diesel::result::Error),
    Pool,
}

impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Db(e)
    }
}

impl From<servicekit::db::PoolUnavailable> for TxError {
    fn from(_: servicekit::db::PoolUnavailable) -> Self {
        TxError::Pool
    }
}

pub fn call_ended() -> CallEndedV1 {
    use events::Event as _;
    CallEndedV1::example()
}

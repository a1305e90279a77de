//! Lead-scoring benchmark (`make bench`): events scored per second from the bus (call.ended.v1
//! with Vapi's analysis, each folded with the contact's earlier calls and scored), beside the
//! bus's own consumer ceiling measured in the same run (the same consumer runner, inbox and
//! commit, with a handler that does nothing); then the event-to-score latency at a steady 200
//! calls/s (open loop). Real service, Postgres and RabbitMQ. Writes `bench/results/leads.json`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: fail loudly
#![allow(clippy::as_conversions)] // measurement arithmetic: counts and durations to f64

use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use events::{CallAnalysisV1, CallDirection, CallEndedV1, Envelope};
use lapin::BasicProperties;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lead_scoring::LeadScoring;
use serde_json::json;
use tenancy::OrgId;
use testkit::TestApp;
use uuid::Uuid;

const THROUGHPUT_EVENTS: usize = 4_000;
const CONTACTS: usize = 400; // 10 calls each: later events fold a longer history
const RATE: u64 = 200;
const SECONDS: u64 = 10;

fn main() {
    // `cargo test --all-targets` also runs benches (without `--bench`): only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("leads benchmark: skipped (run `make bench`)");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let apps = rt.block_on(run());
    rt.shutdown_timeout(Duration::from_secs(2));
    drop(apps);
}

fn ended(phone: &str, at: chrono::DateTime<Utc>) -> CallEndedV1 {
    CallEndedV1 {
        call_id: Uuid::new_v4(),
        vapi_call_id: "bench".into(),
        agent_id: None,
        direction: CallDirection::Inbound,
        caller_number: Some(phone.into()),
        caller_name: Some("Bench Caller".into()),
        started_at: Some(at),
        ended_at: at + chrono::Duration::seconds(95),
        duration_seconds: 95,
        ended_reason: "customer-ended-call".into(),
        booked: false,
        success_evaluation: None,
        analysis: Some(CallAnalysisV1 {
            intent: Some("price_question".into()),
            service_of_interest: Some("implants".into()),
            quoted_price: Some(3200.0),
            currency: Some("USD".into()),
            urgency: Some("normal".into()),
            summary: Some("Asked the price of implants.".into()),
            ..CallAnalysisV1::default()
        }),
    }
}

struct Publisher {
    chan: lapin::Channel,
    exchange: String,
}

impl Publisher {
    async fn new(settings: &bus::BusSettings) -> Publisher {
        let bus = bus::Bus::new(settings.clone());
        let chan = bus.connector.channel().await.unwrap();
        chan.confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        Publisher {
            chan,
            exchange: bus.names().exchange,
        }
    }

    async fn send(
        &self,
        env: &Envelope,
    ) -> impl std::future::Future<Output = Result<lapin::Confirmation, lapin::Error>> + use<> {
        self.chan
            .basic_publish(
                self.exchange.as_str().into(),
                env.event_type.as_str().into(),
                BasicPublishOptions::default(),
                &serde_json::to_vec(env).unwrap(),
                BasicProperties::default().with_content_type("application/json".into()),
            )
            .await
            .unwrap()
    }
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn inbox_count(app: &TestApp<LeadScoring>, consumer: &str) -> i64 {
    let mut c = app.db.admin_conn().await.unwrap();
    diesel::sql_query(format!(
        "SELECT count(*) AS n FROM leads.inbox WHERE consumer = '{consumer}'"
    ))
    .get_result::<N>(&mut c)
    .await
    .unwrap()
    .n
}

/// Publishes `n` call.ended.v1 over `contacts` numbers as fast as the broker confirms, and
/// returns (events/s consumed, events/s published) once `consumer`'s inbox holds them all.
async fn drain_rate(
    app: &TestApp<LeadScoring>,
    settings: &bus::BusSettings,
    consumer: &str,
    org: OrgId,
    n: usize,
) -> (f64, f64) {
    let p = Publisher::new(settings).await;
    let before = inbox_count(app, consumer).await;
    let base = Utc::now() - chrono::Duration::days(3);
    let t = Instant::now();
    let mut pending = Vec::new();
    for i in 0..n {
        let phone = format!("+1555{:07}", i % CONTACTS);
        let at = base + chrono::Duration::minutes(i as i64);
        let env = Envelope::new(org.as_uuid(), &ended(&phone, at), None).unwrap();
        pending.push(p.send(&env).await);
        if pending.len() == 500 {
            for c in pending.drain(..) {
                c.await.unwrap();
            }
        }
    }
    for c in pending.drain(..) {
        c.await.unwrap();
    }
    let published = n as f64 / t.elapsed().as_secs_f64();
    let want = before + n as i64;
    let deadline = Instant::now() + Duration::from_secs(600);
    while inbox_count(app, consumer).await < want {
        assert!(Instant::now() < deadline, "{consumer} never drained");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (n as f64 / t.elapsed().as_secs_f64(), published)
}

async fn run() -> TestApp<LeadScoring> {
    let auth = std::sync::Arc::new(testkit::TestAuth::start().await);
    let app = testkit::spawn_app_with::<LeadScoring>(auth, &[]).await;
    let settings = app.settings.standard.bus.clone();
    bus::Bus::new(settings.clone()).declare_until_done().await;

    // 1. The bus's own ceiling: the same consumer runner on the same database (inbox insert and
    //    commit per batch), a handler that does nothing, its own exchange and queue.
    let mut ceiling_settings = settings.clone();
    ceiling_settings.service = "bench-noop".into();
    ceiling_settings.prefix = format!("{}ceiling.", settings.prefix);
    let ceiling_bus = bus::Bus::new(ceiling_settings.clone());
    let platform = servicekit::Platform::connect(&app.settings.standard.common).unwrap();
    let noop = bus::Consumer::new(&ceiling_bus, tenancy::Db::new(platform.pg.clone()))
        .on::<CallEndedV1, _>(|_tx, _env| Box::pin(async { Ok::<(), bus::HandlerError>(()) }));
    noop.declare().await.unwrap();
    noop.spawn();
    let (ceiling, ceiling_published) = drain_rate(
        &app,
        &ceiling_settings,
        "bench-noop",
        OrgId::new_random(),
        THROUGHPUT_EVENTS,
    )
    .await;

    // 2. Lead scoring: fold, score, write back, score history, lead.scored.v1 in the outbox.
    let (scored, scored_published) = drain_rate(
        &app,
        &settings,
        "lead-scoring",
        OrgId::new_random(),
        THROUGHPUT_EVENTS,
    )
    .await;

    // 3. Steady 200 calls/s, open loop: each call a new caller; latency = the score row's
    //    commit-side clock minus the publish instant.
    let org = OrgId::new_random();
    let p = Publisher::new(&settings).await;
    let total = (RATE * SECONDS) as usize;
    let mut sent_at = Vec::with_capacity(total);
    let start = tokio::time::Instant::now();
    for i in 0..total {
        tokio::time::sleep_until(start + Duration::from_micros(i as u64 * 1_000_000 / RATE)).await;
        let phone = format!("+1666{:07}", i);
        let env = Envelope::new(org.as_uuid(), &ended(&phone, Utc::now()), None).unwrap();
        sent_at.push((phone, Utc::now()));
        // Confirms are not awaited on the schedule: open loop.
        drop(p.send(&env).await);
    }
    let offered = total as f64 / start.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(120);
    #[derive(QueryableByName)]
    struct Scored {
        #[diesel(sql_type = diesel::sql_types::Text)]
        phone: String,
        #[diesel(sql_type = diesel::sql_types::Timestamptz)]
        at: chrono::DateTime<Utc>,
    }
    let rows: Vec<Scored> = loop {
        let mut c = app.db.admin_conn().await.unwrap();
        let rows: Vec<Scored> = diesel::sql_query(format!(
            "SELECT c.phone_e164 AS phone, min(s.created_at) AS at FROM leads.contacts c \
             JOIN leads.lead_scores s ON s.contact_id = c.id WHERE c.org_id = '{org}' GROUP BY c.phone_e164"
        ))
        .load(&mut c)
        .await
        .unwrap();
        if rows.len() >= total || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let by_phone: std::collections::HashMap<_, _> =
        rows.into_iter().map(|r| (r.phone, r.at)).collect();
    let mut lat: Vec<f64> = sent_at
        .iter()
        .filter_map(|(phone, at)| {
            by_phone
                .get(phone)
                .map(|s| (*s - *at).num_microseconds().unwrap_or(0) as f64 / 1000.0)
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i]
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let out = json!({
        "benchmark": "leads",
        "what": "call.ended.v1 events consumed from RabbitMQ by lead-scoring (contact upsert and lock, the event stored, the contact's whole history folded, features, model v1 score, contact and score history written, lead.scored.v1 in the outbox when the tier or action changes), against the bus's own consumer ceiling (same runner, inbox and commit, a handler that does nothing) measured in the same run; then event-to-score latency at a steady open-loop rate. Server, broker, database and load generator share this machine's cores.",
        "cores": cores,
        "throughput": {
            "events": THROUGHPUT_EVENTS,
            "contacts": CONTACTS,
            "events_scored_per_second": scored.round(),
            "bus_consumer_ceiling_per_second": ceiling.round(),
            "scored_vs_ceiling": (scored / ceiling * 100.0).round() / 100.0,
            "publish_rate_scored_run": scored_published.round(),
            "publish_rate_ceiling_run": ceiling_published.round(),
        },
        "steady": {
            "calls_per_second": RATE,
            "seconds": SECONDS,
            "offered_per_second": offered.round(),
            "calls": total,
            "scored": lat.len(),
            "event_to_score_ms": {"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "max": q(1.0)},
        },
        "measured_at": Utc::now().to_rfc3339(),
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("leads.json"),
        serde_json::to_string_pretty(&out).unwrap(),
    )
    .unwrap();
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
    app
}

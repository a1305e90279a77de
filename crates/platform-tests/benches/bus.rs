//! Event bus benchmark (`make bench`): outbox → relay → RabbitMQ → consumer → handler commit, on
//! the real servers. Measures sustained end-to-end events/s and the commit-to-handler latency
//! distribution at a fixed rate; writes `bench/results/bus.json`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: fail loudly
#![allow(clippy::as_conversions)] // measurement arithmetic: event counts and durations to f64

use std::sync::Arc;
use std::time::{Duration, Instant};

use platform_tests::bus_harness::{Harness, Options};
use tenancy::OrgId;

const THROUGHPUT_EVENTS: usize = 20_000;
const RATES: [usize; 3] = [250, 500, 1_000];
const RATE_SECONDS: u64 = 6;

fn main() {
    // `cargo test --all-targets` also runs benches (without `--bench`): only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("bus benchmark: skipped (run `make bench`)");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    // 0. Each stage alone, to know where the time goes: enqueue with nothing draining, then the
    //    relay alone (into the bound, unconsumed queue), then the consumer alone.
    let mut h = Harness::start(Options {
        start_consumer: false,
        start_relay: false,
        ..Options::default()
    })
    .await;
    h.consumer().declare().await.unwrap();
    let t = Instant::now();
    {
        let writers: Vec<_> = (0..16)
            .map(|_| {
                let db = h.tenant_db.clone();
                let org = OrgId::new_random();
                tokio::spawn(async move {
                    for _ in 0..THROUGHPUT_EVENTS / 160 {
                        db.tenant_tx(org, |tx| {
                            Box::pin(async move {
                                for _ in 0..10 {
                                    bus::enqueue(
                                        tx,
                                        org,
                                        &platform_tests::bus_harness::call_ended(),
                                    )
                                    .await?;
                                }
                                Ok::<_, platform_tests::bus_harness::TxError>(())
                            })
                        })
                        .await
                        .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
    }
    let stage_enqueue = THROUGHPUT_EVENTS as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    h.start_relay();
    while h.unsent().await > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stage_relay = THROUGHPUT_EVENTS as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    h.start_consumer();
    h.wait_for_effects(Duration::from_secs(300), |e| e.len() >= THROUGHPUT_EVENTS)
        .await;
    let stage_consume = THROUGHPUT_EVENTS as f64 / t.elapsed().as_secs_f64();
    h.cleanup().await;
    println!(
        "stages alone: enqueue {stage_enqueue:.0}/s, relay {stage_relay:.0}/s, consume {stage_consume:.0}/s"
    );

    // 0b. The broker's own ceiling for this queue: the same 20,000 messages drained by a bare
    //     consumer that only acks (no decoding, no database). Tells the consumer's cost apart
    //     from the quorum queue's delivery + settlement cost on this machine.
    let stage_broker = broker_drain_rate().await;
    println!("broker alone (bare consume + ack, quorum queue): {stage_broker:.0}/s");

    // 1. Sustained throughput: 16 writers enqueue 20,000 events (10 per transaction) while the
    //    relay and consumer drain; time from the first enqueue to the last handler commit.
    let h = Arc::new(Harness::start(Options::default()).await);
    let started = Instant::now();
    let writers: Vec<_> = (0..16)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move {
                let org = OrgId::new_random();
                for _ in 0..THROUGHPUT_EVENTS / 160 {
                    h.enqueue(org, 10, true).await;
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let enqueue_secs = started.elapsed().as_secs_f64();
    let applied = h
        .wait_for_effects(Duration::from_secs(300), |e| e.len() >= THROUGHPUT_EVENTS)
        .await
        .len();
    let total_secs = started.elapsed().as_secs_f64();
    assert_eq!(applied, THROUGHPUT_EVENTS, "every event applied");
    let throughput = THROUGHPUT_EVENTS as f64 / total_secs;
    h.cleanup().await;
    println!(
        "throughput: {THROUGHPUT_EVENTS} events end to end in {total_secs:.2}s = {throughput:.0} events/s (enqueue alone {:.0}/s)",
        THROUGHPUT_EVENTS as f64 / enqueue_secs
    );

    // 2. Latency at fixed rates: one event per transaction, offered for a few seconds each.
    let mut curve = Vec::new();
    for rate in RATES {
        let (offered, mut latencies) = latency_at(rate).await;
        latencies.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
        let (p50, p99, max) = (pct(0.50), pct(0.99), latencies[latencies.len() - 1]);
        println!(
            "latency at {offered:.0} events/s offered (target {rate}): p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms ({} events)",
            latencies.len()
        );
        curve.push(serde_json::json!({
            "target_events_per_second": rate,
            "offered_events_per_second": offered,
            "events": latencies.len(),
            "p50_ms": p50,
            "p99_ms": p99,
            "max_ms": max,
        }));
    }

    let result = serde_json::json!({
        "benchmark": "bus",
        "measured_at": chrono::Utc::now().to_rfc3339(),
        "cores": cores,
        "throughput": {
            "events": THROUGHPUT_EVENTS,
            "writers": 16,
            "events_per_transaction": 10,
            "seconds": total_secs,
            "events_per_second": throughput,
            "enqueue_events_per_second": THROUGHPUT_EVENTS as f64 / enqueue_secs,
        },
        "stages_alone_events_per_second": { "enqueue": stage_enqueue, "relay": stage_relay, "consume": stage_consume, "broker_consume_ack_only": stage_broker },
        "latency_at_fixed_rates": curve,
        "latency_measured_from": "outbox row created_at (its transaction's time) to the handler's transaction, one event per producing transaction",
        "aims": { "events_per_second": 5000, "p99_ms_at_1000_per_second": 50 },
        "note": "Postgres, RabbitMQ (quorum queues, fsync) and this process share the same cores.",
    });
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/results");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        format!("{dir}/bus.json"),
        serde_json::to_string_pretty(&result).unwrap(),
    )
    .unwrap();
    println!("wrote bench/results/bus.json");
}

async fn broker_drain_rate() -> f64 {
    use futures_util::StreamExt as _;
    use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
    let mut h = Harness::start(Options {
        start_consumer: false,
        start_relay: false,
        ..Options::default()
    })
    .await;
    h.consumer().declare().await.unwrap();
    for _ in 0..THROUGHPUT_EVENTS / 500 {
        h.enqueue(OrgId::new_random(), 500, true).await;
    }
    h.start_relay();
    while h.unsent().await > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let chan = h.bus.connector.channel().await.unwrap();
    chan.basic_qos(256, BasicQosOptions::default())
        .await
        .unwrap();
    let mut stream = chan
        .basic_consume(
            h.bus.names().queue.as_str().into(),
            "bench-drain".into(),
            BasicConsumeOptions::default(),
            Default::default(),
        )
        .await
        .unwrap();
    let t = Instant::now();
    let mut n = 0;
    while n < THROUGHPUT_EVENTS {
        let Some(Ok(d)) = stream.next().await else {
            break;
        };
        d.ack(BasicAckOptions::default()).await.unwrap();
        n += 1;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    h.cleanup().await;
    rate
}

/// Offers `rate` events/s (one per transaction) for `RATE_SECONDS`; returns the achieved offered
/// rate and every event's commit-to-handler latency.
async fn latency_at(rate: usize) -> (f64, Vec<f64>) {
    let h = Arc::new(Harness::start(Options::default()).await);
    let org = OrgId::new_random();
    let total = rate * RATE_SECONDS as usize;
    // One transaction per tick of 1/rate, each spawned so a slow commit does not delay the next.
    let per_tick = (rate / 500).max(1);
    let mut tick = tokio::time::interval(Duration::from_micros(
        1_000_000 * per_tick as u64 / rate as u64,
    ));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut inflight = Vec::with_capacity(total / per_tick);
    for _ in 0..total / per_tick {
        tick.tick().await;
        let h = h.clone();
        inflight.push(tokio::spawn(async move {
            for _ in 0..per_tick {
                h.enqueue(org, 1, true).await;
            }
        }));
    }
    for t in inflight {
        t.await.unwrap();
    }
    let offered = total as f64 / started.elapsed().as_secs_f64();
    h.wait_for_effects(Duration::from_secs(120), |e| e.len() >= total)
        .await;
    let l = latencies(&h).await;
    h.cleanup().await;
    (offered, l)
}

async fn latencies(h: &Harness) -> Vec<f64> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Double)]
        latency_ms: f64,
    }
    let mut c = h.db.admin_conn().await.unwrap();
    let rows: Vec<Row> = diesel_async::RunQueryDsl::load(
        diesel::sql_query("SELECT latency_ms FROM leads.effects"),
        &mut c,
    )
    .await
    .unwrap();
    rows.into_iter().map(|r| r.latency_ms).collect()
}

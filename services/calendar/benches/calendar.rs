//! Calendar benchmark (`make bench`): the voice agent's two live-call calls — internal
//! availability and internal booking — at a steady 500 requests/s (open loop: requests are sent
//! on schedule whether or not earlier ones finished) against the real service, Postgres, Redis
//! and RabbitMQ, with a month of existing appointments. Writes `bench/results/calendar.json`.
//! Aim (issue 5): availability p99 < 10 ms, booking p99 < 20 ms.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: fail loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Duration as Days, Utc};
use diesel_async::SimpleAsyncConnection;
use serde_json::json;
use tenancy::{OrgId, Role};
use testkit::{TestAuth, spawn_app_with};

const RATE: u64 = 500;
const SECONDS: u64 = 10;
const SEEDED_DAYS: i64 = 30;

fn main() {
    // `cargo test --all-targets` also runs benches (without `--bench`): only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("calendar benchmark: skipped (run `make bench`)");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The apps outlive the runtime: their Drop deletes their broker queues, which a still-running
    // consumer task would declare again.
    let apps = rt.block_on(run());
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    drop(apps);
}

#[derive(Debug)]
struct Stats {
    sent: usize,
    ok: usize,
    other: usize,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn stats(mut lat: Vec<Duration>, sent: usize, ok: usize) -> Stats {
    lat.sort();
    let q = |p: f64| {
        if lat.is_empty() {
            return 0.0;
        }
        // A rank from a fraction: float arithmetic on a count that is far below 2^52.
        #[allow(clippy::as_conversions)]
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i].as_secs_f64() * 1000.0
    };
    Stats {
        sent,
        ok,
        other: sent - ok,
        p50_ms: q(0.50),
        p90_ms: q(0.90),
        p99_ms: q(0.99),
        max_ms: q(1.0),
    }
}

/// Sends `rate * SECONDS` requests on a fixed schedule; `make(i)` builds request `i`.
async fn steady<F>(rate: u64, make: F, expect: u16) -> Stats
where
    F: Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let total = usize::try_from(rate * SECONDS).unwrap();
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now();
    let mut handles = Vec::with_capacity(total);
    for i in 0..total {
        let due = start + interval * u32::try_from(i).unwrap();
        tokio::time::sleep_until(due.into()).await;
        let make = make.clone();
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = make(i).send().await;
            let took = t.elapsed();
            (took, r.map(|r| r.status().as_u16()).unwrap_or(0))
        }));
    }
    let mut lat = Vec::with_capacity(total);
    let mut ok = 0;
    for h in handles {
        let (took, status) = h.await.unwrap();
        lat.push(took);
        if status == expect {
            ok += 1;
        }
    }
    stats(lat, total, ok)
}

fn json_of(s: &Stats) -> serde_json::Value {
    json!({"requests": s.sent, "expected_status": s.ok, "other_status": s.other,
           "p50_ms": s.p50_ms, "p90_ms": s.p90_ms, "p99_ms": s.p99_ms, "max_ms": s.max_ms})
}

/// A queue standing in for the consumers of `appointment.*` on this app's bus prefix.
async fn sink_queue(app: &testkit::TestApp<calendar::Calendar>) {
    use lapin::options::{QueueBindOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;
    let bus = bus::Bus::new(app.settings.standard.bus.clone());
    let names = bus.names();
    let chan = bus.connector.channel().await.unwrap();
    bus::topology::declare_exchange(&chan, &names)
        .await
        .unwrap();
    let queue = format!("{}bench.sink", app.bus_prefix);
    chan.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    chan.queue_bind(
        queue.as_str().into(),
        names.exchange.as_str().into(),
        "appointment.#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
}

/// Runs the benchmark; returns the apps so they are dropped after the runtime stops.
async fn run() -> impl Sized {
    let auth = Arc::new(TestAuth::start().await);
    let app = spawn_app_with::<calendar::Calendar>(
        auth,
        &[
            ("DB_POOL_SIZE", "16"),
            ("HTTP_WORKERS", "2"),
            ("RUST_LOG", "warn"),
        ],
    )
    .await;
    let org = OrgId::new_random();
    let admin = app.auth.token(org, Role::Admin);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();

    // The clinic: New York, open every day 00:00–24:00, a two-year window, no notice.
    let all_day = json!([{"start": "00:00", "end": "24:00"}]);
    let r = client
        .put(app.url("/api/calendar/settings"))
        .bearer_auth(&admin)
        .json(&json!({
            "timezone": "America/New_York", "slot_interval_minutes": null, "min_notice_minutes": 0,
            "booking_window_days": 730, "default_buffer_before_minutes": 0,
            "default_buffer_after_minutes": 0, "hold_minutes": 5,
            "weekly_hours": {"monday": all_day, "tuesday": all_day, "wednesday": all_day,
                "thursday": all_day, "friday": all_day, "saturday": all_day, "sunday": all_day},
            "date_overrides": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let service = |name: &str, minutes: i32| {
        let (client, url, admin) = (
            client.clone(),
            app.url("/api/calendar/services"),
            admin.clone(),
        );
        let name = name.to_string();
        async move {
            let r = client
                .post(url)
                .bearer_auth(admin)
                .json(
                    &json!({"name": name, "duration_minutes": minutes, "buffer_after_minutes": 0}),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            r.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let cleaning = service("Cleaning", 30).await;
    let quick = service("Quick check", 5).await;

    // A month of existing appointments: every other half hour, 24 h a day, for 30 days.
    let today = Utc::now().date_naive();
    let first = today + Days::days(1);
    let mut conn = app.db.admin_conn().await.unwrap();
    conn.batch_execute(&format!(
        "INSERT INTO calendar.appointments (org_id, service_id, service_name, starts_at, ends_at,
             block_start, block_end, status, source, contact_phone)
         SELECT '{org}', '{cleaning}', 'Cleaning', t, t + interval '30 minutes', t,
                t + interval '30 minutes', 'booked', 'voice', '+1555010' || lpad((n % 10000)::text, 4, '0')
           FROM generate_series('{first} 00:00:00+00'::timestamptz,
                                '{first} 00:00:00+00'::timestamptz + interval '{SEEDED_DAYS} days' - interval '1 hour',
                                interval '1 hour') WITH ORDINALITY AS g(t, n)"
    ))
    .await
    .unwrap();
    let seeded = SEEDED_DAYS * 24;

    // In production messaging and lead-scoring queues are bound to appointment.*; without one
    // here every event would come back unroutable and the relay would keep retrying it.
    sink_queue(&app).await;

    let svc = app.auth.service_token("voice-webhook");
    let base = app.url(&format!("/internal/v1/orgs/{org}"));

    // Warm-up (connections, prepared statements, JWKS).
    for d in 1..20 {
        let from = (today + Days::days(d))
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        client
            .get(
                reqwest::Url::parse_with_params(
                    &format!("{base}/availability"),
                    &[
                        ("service_id", cleaning.as_str()),
                        ("from", &from.to_rfc3339()),
                        ("to", &(from + Days::days(1)).to_rfc3339()),
                    ],
                )
                .unwrap(),
            )
            .bearer_auth(&svc)
            .send()
            .await
            .unwrap();
    }

    // Availability: one local day of the seeded month per request.
    let (c, b, s, id) = (client.clone(), base.clone(), svc.clone(), cleaning.clone());
    let availability = steady(
        RATE,
        move |i| {
            let from = (first + Days::days(i64::try_from(i).unwrap() % SEEDED_DAYS))
                .and_hms_opt(5, 0, 0)
                .unwrap()
                .and_utc();
            c.get(
                reqwest::Url::parse_with_params(
                    &format!("{b}/availability"),
                    &[
                        ("service_id", id.as_str()),
                        ("from", &from.to_rfc3339()),
                        ("to", &(from + Days::days(1)).to_rfc3339()),
                    ],
                )
                .unwrap(),
            )
            .bearer_auth(&s)
        },
        200,
    )
    .await;

    // Booking: distinct free 5-minute slots after the seeded month, one tool call id each.
    // First one caller at a time (the service time of one booking), then the steady rates.
    let book_from = (first + Days::days(SEEDED_DAYS + 1))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let booker = |offset: usize| {
        let (c, b, s, id, run_id) = (
            client.clone(),
            base.clone(),
            svc.clone(),
            quick.clone(),
            run_id.clone(),
        );
        move |i: usize| {
            let n = offset + i;
            let at = book_from + Days::minutes(5 * i64::try_from(n).unwrap());
            c.post(format!("{b}/appointments"))
                .bearer_auth(&s)
                .header("Idempotency-Key", format!("bench-{run_id}-{n}"))
                .json(&json!({"service_id": id, "starts_at": at.to_rfc3339(),
                    "contact_phone": "+15550100123", "source": "voice"}))
        }
    };
    let one_at_a_time = {
        let make = booker(0);
        let mut lat = Vec::new();
        let mut ok = 0;
        for i in 0..500 {
            let t = Instant::now();
            let r = make(i).send().await.unwrap();
            lat.push(t.elapsed());
            if r.status() == 201 {
                ok += 1;
            }
        }
        stats(lat, 500, ok)
    };
    let booking_250 = steady(250, booker(1_000), 201).await;
    let booking = steady(RATE, booker(10_000), 201).await;

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let out = json!({
        "benchmark": "calendar",
        "what": "internal availability (one local day, 30-minute service) and internal booking (Idempotency-Key, outbox event in the same transaction) at a steady open-loop rate against the real service on this machine (server and load generator share the cores)",
        "rate_per_second": RATE,
        "seconds_per_call": SECONDS,
        "existing_appointments": seeded,
        "cores": cores,
        "availability": json_of(&availability),
        "booking": json_of(&booking),
        "booking_at_250_per_second": json_of(&booking_250),
        "booking_one_caller_sequential": json_of(&one_at_a_time),
        "aim": {"availability_p99_ms": 10, "booking_p99_ms": 20},
        "measured_at": Utc::now().to_rfc3339(),
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("calendar.json"),
        serde_json::to_string_pretty(&out).unwrap(),
    )
    .unwrap();
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
    app
}

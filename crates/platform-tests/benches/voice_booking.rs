//! voice-webhook benchmark (`make bench`): the call simulator against the real voice-webhook and
//! the real calendar service (both on the real Postgres, Redis and RabbitMQ). Measures
//! `tool-calls` latency (check_availability and book_appointment, including the calendar hop) at
//! a steady 200 requests/s, and the sustained rate of end-of-call reports stored with zero loss.
//! Writes `bench/results/voice.json`. (Moved from `services/voice-webhook/benches/voice.rs`: it
//! starts the calendar service, and services share no code.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: fail loudly
#![allow(clippy::as_conversions)] // measurement arithmetic: counts, rates and durations to f64

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel_async::RunQueryDsl as _;
use serde_json::{Value, json};
use tenancy::{OrgId, Role};
use voice_webhook::clients::sim::{SimAuth, SimCall, Simulator};

const SECRET: &str = "bench-vapi-secret";
const RATE: u64 = 200;
const RATE_SECONDS: u64 = 10;
const CLINICS: usize = 12;
const REPORTS: usize = 6_000;
const REPORT_CONCURRENCY: usize = 48;

fn main() {
    // `cargo test --all-targets` also runs benches (without `--bench`): only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("voice benchmark: skipped (run `make bench`)");
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

struct Clinic {
    number: String,
    vapi_number_id: String,
    /// Open slots of the service to book, as RFC 3339.
    slots: Vec<String>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(mut ms: Vec<f64>) -> Value {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    json!({"count": ms.len(), "p50_ms": percentile(&ms, 0.50), "p90_ms": percentile(&ms, 0.90),
           "p99_ms": percentile(&ms, 0.99), "max_ms": ms.last().copied()})
}

/// End-of-call reports applied: the call has its report and the delivery is marked applied.
async fn applied_reports(db: &testkit::TestDb) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = db.admin_conn().await.unwrap();
    diesel::sql_query("SELECT count(*) AS n FROM voice.calls c JOIN voice.webhook_deliveries d ON d.vapi_call_id = c.vapi_call_id \
                       WHERE c.report_received AND d.outcome = 'applied' AND d.message_type = 'end-of-call-report'")
        .get_result::<N>(&mut conn).await.unwrap().n
}

/// Runs the benchmark; returns the apps so they are dropped after the runtime stops.
async fn run() -> impl Sized {
    let auth = Arc::new(testkit::TestAuth::start().await);
    let heavier = [
        ("HTTP_WORKERS", "2"),
        ("DB_POOL_SIZE", "16"),
        ("BUS_RELAY_POLL_MS", "100"),
    ];
    let cal = testkit::spawn_app_with::<calendar::Calendar>(auth.clone(), &heavier).await;
    let token = auth.service_token("voice-webhook");
    let mut env = heavier.to_vec();
    env.extend([
        ("VAPI_WEBHOOK_SECRET", SECRET),
        ("CALENDAR_INTERNAL_URL", cal.address.as_str()),
        ("CALENDAR_SERVICE_TOKEN", token.as_str()),
    ]);
    let voice = testkit::spawn_app_with::<voice_webhook::VoiceWebhook>(auth.clone(), &env).await;
    // Stand-ins for messaging and lead-scoring, which consume voice's call events in production:
    // without a bound queue every call.ended.v1 would be unroutable and retried by the relay.
    let consumers_conn = lapin::Connection::connect(
        &testkit::config::amqp_url(),
        lapin::ConnectionProperties::default(),
    )
    .await
    .unwrap();
    {
        let names = voice.settings.standard.bus.names();
        let chan = consumers_conn.create_channel().await.unwrap();
        bus::topology::declare_exchange(&chan, &names)
            .await
            .unwrap();
        let q = chan
            .queue_declare(
                "".into(),
                lapin::options::QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .unwrap();
        for key in ["call.started.v1", "call.ended.v1"] {
            chan.queue_bind(
                q.name().as_str().into(),
                names.exchange.as_str().into(),
                key.into(),
                Default::default(),
                Default::default(),
            )
            .await
            .unwrap();
        }
    }
    let http = reqwest::Client::new();

    // Clinics known to both services (org.created.v1 through each one's outbox), with a number.
    let mut clinics = Vec::new();
    for i in 0..CLINICS {
        let org = OrgId::new_random();
        let e = events::payloads::OrgCreatedV1 {
            name: format!("Bench clinic {i}"),
            timezone: "America/New_York".into(),
            owner_user_id: uuid::Uuid::new_v4(),
        };
        bus::enqueue(&mut voice.db.service_conn().await.unwrap(), org, &e)
            .await
            .unwrap();
        bus::enqueue(&mut cal.db.service_conn().await.unwrap(), org, &e)
            .await
            .unwrap();
        let admin = auth.token(org, Role::Admin);
        let agent = loop {
            let v: Value = http
                .get(voice.url("/api/voice/agents"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(id) = v["items"][0]["id"].as_str() {
                break id.to_string();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let number = format!("+1555010{i:04}");
        let vapi_number_id = format!("pn-bench-{i}");
        let r = http.post(voice.url("/api/voice/numbers")).bearer_auth(&admin)
            .json(&json!({"number": number, "vapi_phone_number_id": vapi_number_id, "agent_id": agent})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let internal = format!("{}/internal/v1/orgs/{org}", cal.address);
        let services = loop {
            let v: Value = http
                .get(format!("{internal}/services"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if v["items"].as_array().is_some_and(|a| !a.is_empty()) {
                break v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let service = services["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "Follow-up")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let now = chrono::Utc::now();
        let url = reqwest::Url::parse_with_params(
            &format!("{internal}/availability"),
            [
                ("service_id", service.clone()),
                ("from", now.to_rfc3339()),
                ("to", (now + chrono::Duration::days(59)).to_rfc3339()),
            ],
        )
        .unwrap();
        let slots: Value = http
            .get(url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let slots: Vec<String> = slots["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["starts_at"].as_str().unwrap().to_string())
            .collect();
        clinics.push(Clinic {
            number,
            vapi_number_id,
            slots,
        });
    }
    let clinics = Arc::new(clinics);
    let sim = Simulator::new(&voice.address, SimAuth::Secret(SECRET.into())).unwrap();

    // Warm-up: connections, prepared statements, caches.
    for c in clinics.iter() {
        let call = SimCall::new(&c.vapi_number_id, &c.number, "+15550187722");
        sim.send(&call.tool_call(
            "warm",
            "check_availability",
            json!({"service": "Follow-up"}),
        ))
        .await
        .unwrap();
    }

    // 1. tool-calls at a steady RATE/s: alternately check_availability and book_appointment
    //    (each booking a distinct open slot), scheduled open-loop so slow answers do not slow the
    //    offered load.
    let total = (RATE * RATE_SECONDS) as usize;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let due = started + Duration::from_micros(i as u64 * 1_000_000 / RATE);
        tokio::time::sleep_until(due.into()).await;
        let (sim, clinics) = (sim.clone(), clinics.clone());
        tasks.push(tokio::spawn(async move {
            // Pairs (availability, booking) go to the clinics in turn; a clinic's k-th booking
            // takes its k-th open slot, so every booking is for a free slot.
            let j = i / 2;
            let c = &clinics[j % CLINICS];
            let call = SimCall::new(
                &c.vapi_number_id,
                &c.number,
                &format!("+1555020{:04}", i % 10_000),
            );
            let booking = i % 2 == 1;
            let body = if booking {
                let slot = &c.slots[(j / CLINICS) % c.slots.len()];
                call.tool_call(
                    &format!("book-{i}"),
                    "book_appointment",
                    json!({"service": "Follow-up", "start": slot, "patient_name": "Bench Caller"}),
                )
            } else {
                call.tool_call(
                    &format!("avail-{i}"),
                    "check_availability",
                    json!({"service": "Follow-up"}),
                )
            };
            let sent = sim.send(&body).await.unwrap();
            let answered = sent.answer["results"][0].get("result").is_some();
            (
                booking,
                sent.status,
                answered,
                sent.elapsed.as_secs_f64() * 1000.0,
            )
        }));
    }
    let mut avail = Vec::new();
    let mut book = Vec::new();
    let mut not_ok = 0;
    for t in tasks {
        let (booking, status, answered, ms) = t.await.unwrap();
        if status != 200 || !answered {
            not_ok += 1;
        }
        if booking {
            book.push(ms)
        } else {
            avail.push(ms)
        }
    }
    let offered_seconds = started.elapsed().as_secs_f64();
    let mut all = avail.clone();
    all.extend(book.iter().copied());
    let booked = {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = cal.db.admin_conn().await.unwrap();
        diesel::sql_query("SELECT count(*) AS n FROM calendar.appointments WHERE source = 'voice' AND status = 'booked'")
            .get_result::<N>(&mut conn).await.unwrap().n
    };

    // 2. End-of-call reports as fast as they are accepted, then check none was lost.
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..REPORT_CONCURRENCY)
        .map(|_| {
            let (sim, clinics, next) = (sim.clone(), clinics.clone(), next.clone());
            tokio::spawn(async move {
                let mut refused = 0usize;
                loop {
                    let i = std::sync::atomic::AtomicUsize::fetch_add(
                        &next,
                        1,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                    if i >= REPORTS {
                        return refused;
                    }
                    let c = &clinics[i % CLINICS];
                    let call = SimCall::new(&c.vapi_number_id, &c.number, "+15550187722");
                    let sent = sim
                        .send(&call.end_of_call_report("User: thanks, bye.", "Short call."))
                        .await
                        .unwrap();
                    if sent.status != 200 {
                        refused += 1;
                    }
                }
            })
        })
        .collect();
    let mut refused = 0;
    for w in workers {
        refused += w.await.unwrap();
    }
    // Every report has been answered: it is in the delivery log. The background workers may
    // still be applying the last ones; wait for them (never longer than a minute).
    let answered_seconds = started.elapsed().as_secs_f64();
    let mut stored = applied_reports(&voice.db).await;
    let drain_deadline = Instant::now() + Duration::from_secs(60);
    while stored < REPORTS as i64 && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        stored = applied_reports(&voice.db).await;
    }
    let report_seconds = started.elapsed().as_secs_f64();

    let _ = consumers_conn.close(200, "done".into()).await;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let result = json!({
        "benchmark": "voice-webhook",
        "machine": {"cores": cores},
        "setup": {"voice_http_workers": 2, "calendar_http_workers": 2, "db_pool": 16, "clinics": CLINICS,
                  "note": "voice, calendar, Postgres, Redis, RabbitMQ and the load generator share this machine"},
        "tool_calls": {
            "offered_rate_per_s": RATE, "seconds": RATE_SECONDS, "achieved_rate_per_s": total as f64 / offered_seconds,
            "not_answered": not_ok, "appointments_booked": booked,
            "all": summary(all), "check_availability": summary(avail), "book_appointment": summary(book),
            "aim_p99_ms": 25,
        },
        "end_of_call_reports": {
            "sent": REPORTS, "refused": refused, "stored_and_applied": stored, "lost": REPORTS as i64 - stored,
            "answered_seconds": answered_seconds, "answered_per_second": REPORTS as f64 / answered_seconds,
            "seconds": report_seconds, "per_second": REPORTS as f64 / report_seconds, "concurrency": REPORT_CONCURRENCY,
            "note": "answered = logged durably (Vapi has its 200); per_second = until the last one is applied (call row, transcript, call.ended.v1 in the outbox)",
            "aim_per_s": 2000,
        },
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("voice.json"),
        serde_json::to_string_pretty(&result).unwrap(),
    )
    .unwrap();
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    assert_eq!(REPORTS as i64 - stored, 0, "end-of-call reports were lost");
    (cal, voice)
}

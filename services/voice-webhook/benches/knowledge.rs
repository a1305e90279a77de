//! Knowledge base benchmark (`make bench`): Vapi's `knowledge-base-request` against the real
//! voice-webhook (real Postgres, Redis, RabbitMQ; calendar a local fake answering the internal
//! API), at a steady 200 requests/s (open loop), first for a clinic with 500 documents, then the
//! same requests for a clinic with an empty knowledge base, in the same run. Full-text retrieval
//! (no embeddings endpoint). Writes `bench/results/knowledge.json`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: fail loudly
#![allow(clippy::as_conversions)] // measurement arithmetic: counts and durations to f64

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenancy::{OrgId, Role};
use testkit::wiremock::matchers::{method, path_regex};
use testkit::wiremock::{Mock, MockServer, ResponseTemplate};
use voice_webhook::clients::sim::{SimAuth, SimCall, Simulator};

const SECRET: &str = "bench-vapi-secret";
/// Requests per second; `KB_BENCH_RATE` overrides it (a lower rate shows the unsaturated cost).
const RATE: u64 = 200;

#[allow(clippy::disallowed_methods)] // a benchmark knob, not service configuration
fn rate() -> u64 {
    std::env::var("KB_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|r| *r > 0)
        .unwrap_or(RATE)
}
const SECONDS: u64 = 10;
const DOCUMENTS: usize = 500;

fn main() {
    // `cargo test --all-targets` also runs benches (without `--bench`): only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("knowledge benchmark: skipped (run `make bench`)");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The app outlives the runtime: its Drop deletes its broker queues, which a still-running
    // consumer task would declare again.
    let app = rt.block_on(run());
    rt.shutdown_timeout(Duration::from_secs(2));
    drop(app);
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// The 40 documents of the question set, then synthetic clinic documents with varied words up
/// to `DOCUMENTS`.
fn documents() -> Vec<Value> {
    let mut docs: Vec<Value> =
        serde_json::from_str(include_str!("../tests/data/kb/documents.json")).unwrap();
    let topics = [
        "insurance",
        "parking",
        "whitening",
        "implant",
        "crown",
        "filling",
        "cleaning",
        "braces",
        "emergency",
        "children",
        "sedation",
        "payment",
        "billing",
        "records",
        "x-ray",
        "veneer",
        "denture",
        "extraction",
        "gum",
        "fluoride",
    ];
    let words = [
        "appointment",
        "policy",
        "weekday",
        "morning",
        "evening",
        "doctor",
        "hygienist",
        "patient",
        "visit",
        "price",
        "minutes",
        "plan",
        "treatment",
        "office",
        "front desk",
        "reminder",
        "coverage",
        "deductible",
        "follow-up",
        "consultation",
    ];
    let mut i = 0;
    while docs.len() < DOCUMENTS {
        let t = topics[i % topics.len()];
        let body: String = (0..6)
            .map(|j| {
                format!(
                    "Note {i}.{j} on {t}: the {} and the {} are explained at the {} for every {}.",
                    words[(i + j) % words.len()],
                    words[(i * 3 + j) % words.len()],
                    words[(i * 7 + j) % words.len()],
                    words[(i + 5 * j) % words.len()],
                )
            })
            .collect::<Vec<_>>()
            .join("\n\n");
        docs.push(json!({"kind": if i % 3 == 0 { "markdown" } else { "text" },
            "title": format!("Clinic note {i} about {t}"), "tags": [t],
            "body": if i % 3 == 0 { format!("# {t}\n\n{body}\n\n## More\n\n{body}") } else { body }}));
        i += 1;
    }
    docs
}

/// A clinic known to voice (org.created.v1 through its outbox) with a number; returns
/// (org, admin token, number, vapi number id).
async fn clinic(
    voice: &testkit::TestApp<voice_webhook::VoiceWebhook>,
    http: &reqwest::Client,
    i: usize,
) -> (OrgId, String, String, String) {
    let org = OrgId::new_random();
    let e = events::payloads::OrgCreatedV1 {
        name: format!("Bench clinic {i}"),
        timezone: "America/Chicago".into(),
        owner_user_id: uuid::Uuid::new_v4(),
    };
    bus::enqueue(&mut voice.db.service_conn().await.unwrap(), org, &e)
        .await
        .unwrap();
    let admin = voice.auth.token(org, Role::Admin);
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
    let number = format!("+1555030{i:04}");
    let vapi_number_id = format!("pn-kb-bench-{i}");
    let r = http
        .post(voice.url("/api/voice/numbers"))
        .bearer_auth(&admin)
        .json(&json!({"number": number, "vapi_phone_number_id": vapi_number_id, "agent_id": agent}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    (org, admin, number, vapi_number_id)
}

struct Phase {
    latencies: Vec<f64>,
    not_ok: usize,
    with_documents: usize,
}

/// `RATE * SECONDS` knowledge-base-requests on a fixed schedule, questions in turn.
async fn steady(
    sim: &Simulator,
    number: &str,
    vapi_number_id: &str,
    questions: &[String],
) -> Phase {
    let rate = rate();
    let total = (rate * SECONDS) as usize;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let due = started + Duration::from_micros(i as u64 * 1_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        let sim = sim.clone();
        let call = SimCall::new(vapi_number_id, number, "+15550187722");
        let q = questions[i % questions.len()].clone();
        tasks.push(tokio::spawn(async move {
            let body = call.message("knowledge-base-request", json!({
                "messagesOpenAIFormatted": [{"role": "system", "content": "You are the receptionist."},
                                            {"role": "user", "content": q}],
                "messages": [{"role": "user", "message": q, "time": 0, "secondsFromStart": 3.0}]}));
            let t = Instant::now();
            match sim.send(&body).await {
                Ok(sent) => {
                    let docs = sent.answer["documents"].as_array().map_or(0, Vec::len);
                    (sent.status == 200 && sent.answer["documents"].is_array(), docs > 0, sent.elapsed.as_secs_f64() * 1000.0)
                }
                // A transport failure counts as not answered, at the time it took.
                Err(_) => (false, false, t.elapsed().as_secs_f64() * 1000.0),
            }
        }));
    }
    let mut phase = Phase {
        latencies: Vec::with_capacity(total),
        not_ok: 0,
        with_documents: 0,
    };
    for t in tasks {
        let (ok, found, ms) = t.await.unwrap();
        phase.latencies.push(ms);
        if !ok {
            phase.not_ok += 1;
        }
        if found {
            phase.with_documents += 1;
        }
    }
    phase
}

fn summary(mut p: Phase) -> Value {
    p.latencies.sort_by(f64::total_cmp);
    let l = &p.latencies;
    json!({"requests": l.len(), "not_ok": p.not_ok, "answers_with_documents": p.with_documents,
           "p50_ms": percentile(l, 0.50), "p90_ms": percentile(l, 0.90), "p99_ms": percentile(l, 0.99),
           "max_ms": l.last().copied()})
}

async fn run() -> impl Sized {
    let auth = Arc::new(testkit::TestAuth::start().await);
    let calendar = MockServer::start().await;
    let token = auth.service_token("voice-webhook");
    let uri = calendar.uri();
    let voice = testkit::spawn_app_with::<voice_webhook::VoiceWebhook>(
        auth,
        &[
            ("HTTP_WORKERS", "2"),
            ("DB_POOL_SIZE", "16"),
            ("RUST_LOG", "warn"),
            ("VAPI_WEBHOOK_SECRET", SECRET),
            ("CALENDAR_INTERNAL_URL", uri.as_str()),
            ("CALENDAR_SERVICE_TOKEN", token.as_str()),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let (full_org, admin, full_number, full_id) = clinic(&voice, &http, 1).await;
    // Calendar's internal API for the full clinic only (the empty one stays without documents).
    Mock::given(method("GET"))
        .and(path_regex(format!("^/internal/v1/orgs/{full_org}/services$")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"timezone": "America/Chicago", "items": [
            {"id": uuid::Uuid::new_v4(), "name": "Cleaning", "duration_minutes": 30, "price_cents": 9000, "currency": "USD", "active": true},
            {"id": uuid::Uuid::new_v4(), "name": "Filling", "duration_minutes": 45, "price_cents": 18000, "currency": "USD", "active": true}]})))
        .mount(&calendar)
        .await;
    let day = json!([{"start": "08:00", "end": "17:00"}]);
    Mock::given(method("GET"))
        .and(path_regex(format!("^/internal/v1/orgs/{full_org}/clinic$")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"timezone": "America/Chicago",
            "weekly_hours": {"monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day},
            "date_overrides": []})))
        .mount(&calendar)
        .await;
    let (_, empty_admin, empty_number, empty_id) = clinic(&voice, &http, 2).await;

    let loaded = Instant::now();
    {
        use futures_util::StreamExt as _;
        let url = voice.url("/api/voice/knowledge");
        futures_util::stream::iter(documents())
            .map(|d| {
                let (http, url, admin) = (http.clone(), url.clone(), admin.clone());
                async move {
                    let r = http.post(url).bearer_auth(admin)
                        .json(&json!({"kind": d["kind"], "title": d["title"], "body": d["body"], "tags": d["tags"]}))
                        .send().await.unwrap();
                    assert_eq!(r.status(), 201);
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<()>>()
            .await;
    }
    let r = http
        .post(voice.url("/api/voice/knowledge/refresh"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let load_seconds = loaded.elapsed().as_secs_f64();
    let listed: Value = http
        .get(voice.url("/api/voice/knowledge?limit=1"))
        .bearer_auth(&empty_admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        listed["items"].as_array().unwrap().is_empty(),
        "the empty clinic has no documents"
    );

    let questions: Vec<String> =
        serde_json::from_str::<Vec<Value>>(include_str!("../tests/data/kb/questions.json"))
            .unwrap()
            .iter()
            .map(|q| q["q"].as_str().unwrap().to_string())
            .collect();
    // Straight to the app's port: the conformance proxy in front of `address` is test
    // machinery, not part of what a request costs.
    let direct = format!("http://127.0.0.1:{}", voice.port);
    let sim = Simulator::new(&direct, SimAuth::Secret(SECRET.into())).unwrap();
    // Warm-up: connections, prepared statements, the system documents' first refresh.
    for q in questions.iter().take(20) {
        for (n, id) in [(&full_number, &full_id), (&empty_number, &empty_id)] {
            let call = SimCall::new(id, n, "+15550187722");
            sim.send(&call.message(
                "knowledge-base-request",
                json!({
                "messagesOpenAIFormatted": [{"role": "user", "content": q}]}),
            ))
            .await
            .unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let full = steady(&sim, &full_number, &full_id, &questions).await;
    eprintln!("knowledge bench: 500-document phase done");
    let empty = steady(&sim, &empty_number, &empty_id, &questions).await;
    let empty_docs: Value = http
        .get(voice.url("/api/voice/knowledge?limit=1"))
        .bearer_auth(&empty_admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        empty_docs["items"].as_array().unwrap().is_empty(),
        "the empty clinic stayed empty"
    );

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let out = json!({
        "benchmark": "voice-webhook knowledge base",
        "what": "knowledge-base-request (authenticated, routed, full-text retrieval within VOICE_KB_TIMEOUT_MS=300, answered) at a steady open-loop rate; the question set's 55 questions in turn",
        "machine": {"cores": cores},
        "setup": {"voice_http_workers": 2, "db_pool": 16, "retrieval": "full_text",
                  "note": "voice, Postgres, Redis, RabbitMQ, the fake calendar and the load generator share this machine"},
        "rate_per_second": rate(), "seconds": SECONDS,
        "build_profile": if cfg!(debug_assertions) { "dev (unoptimized)" } else { "bench (optimized)" },
        "kb_500_documents": summary(full),
        "kb_empty": summary(empty),
        "documents_loaded": DOCUMENTS, "load_seconds": load_seconds,
        "budget_ms": 300,
        "measured_at": chrono::Utc::now().to_rfc3339(),
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("knowledge.json"),
        serde_json::to_string_pretty(&out).unwrap(),
    )
    .unwrap();
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
    voice
}

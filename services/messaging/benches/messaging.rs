//! Messaging benchmark (`make bench`): confirmations from `appointment.booked.v1` to the fake
//! Twilio's 201 against the real service, Postgres and RabbitMQ — a burst (throughput) and a
//! steady 100 bookings/s (booking-to-send latency) — with the fake Twilio alone measured in the
//! same run as the ceiling, and duplicates counted. Writes `bench/results/messaging.json`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: fail loudly

#[path = "../tests/api/fake_twilio.rs"]
#[allow(dead_code)]
mod fake_twilio;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Duration as Days, Utc};
use events::{AppointmentBookedV1, AppointmentDetails, BookingSource, Envelope};
use fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FROM, FakeTwilio};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use serde_json::json;
use tenancy::{OrgId, Role};
use testkit::{TestAuth, spawn_app_with};
use uuid::Uuid;

const BURST: usize = 2000;
const RATE: u64 = 100;
const SECONDS: u64 = 10;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("messaging benchmark: skipped (run `make bench`)");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let keep = rt.block_on(run());
    rt.shutdown_timeout(Duration::from_secs(2));
    drop(keep);
}

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    if v.is_empty() {
        return 0.0;
    }
    #[allow(clippy::as_conversions)] // a rank from a fraction of a small count
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1000.0
}

fn booked(org: OrgId, phone: String, start: chrono::DateTime<Utc>) -> Envelope {
    let d = AppointmentDetails {
        appointment_id: Uuid::new_v4(),
        service_id: Uuid::new_v4(),
        service_name: "Cleaning".into(),
        starts_at: start,
        ends_at: start + Days::minutes(30),
        timezone: "America/New_York".into(),
        contact_name: Some("Jordan Lee".into()),
        contact_phone: Some(phone),
        source: BookingSource::Voice,
        call_id: None,
        version: 1,
        provider_id: None,
        provider_name: None,
    };
    Envelope::new(org.as_uuid(), &AppointmentBookedV1 { appointment: d }, None).unwrap()
}

/// Publishes one event on `chan`; the returned confirm resolves when the broker has it.
async fn publish(chan: &lapin::Channel, exchange: &str, env: Envelope) -> lapin::PublisherConfirm {
    chan.basic_publish(
        exchange.into(),
        env.event_type.as_str().into(),
        BasicPublishOptions::default(),
        &serde_json::to_vec(&env).unwrap(),
        lapin::BasicProperties::default().with_content_type("application/json".into()),
    )
    .await
    .unwrap()
}

/// The fake Twilio alone: sequential creates from one client (the dispatcher of one replica
/// sends one at a time), the ceiling of the service's throughput on this machine.
async fn fake_alone(fake: &FakeTwilio, n: usize) -> f64 {
    let client = reqwest::Client::new();
    let url = format!(
        "{}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        fake.uri()
    );
    let t = Instant::now();
    for i in 0..n {
        let r = client
            .post(&url)
            .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
            .form(&[
                ("To", format!("+1555090{i:04}")),
                ("From", FROM.to_string()),
                ("Body", "ceiling".into()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    #[allow(clippy::as_conversions)]
    let rate = n as f64 / t.elapsed().as_secs_f64();
    rate
}

async fn run() -> impl Sized {
    let fake = FakeTwilio::start().await;
    let auth = Arc::new(TestAuth::start().await);
    let uri = fake.uri();
    let app = spawn_app_with::<messaging::Messaging>(
        auth,
        &[
            ("TWILIO_API_BASE_URL", uri.as_str()),
            ("PUBLIC_BASE_URL", "https://hooks.example.com"),
            ("MESSAGING_DISPATCH_POLL_MS", "20"),
            ("MESSAGING_ORG_RATE_PER_SECOND", "10000"),
            ("DB_POOL_SIZE", "8"),
        ],
    )
    .await;
    let org = OrgId::new_random();
    let admin = app.auth.token(org, Role::Admin);
    let r = app
        .client
        .put(app.url("/api/messaging/twilio"))
        .bearer_auth(&admin)
        .json(&json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": FROM}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let ceiling = fake_alone(&fake, 1000).await;
    fake.state.lock().unwrap().created.clear();
    fake.state.lock().unwrap().created_at.clear();

    let bus = bus::Bus::new(app.settings.standard.bus.clone());
    bus.declare_until_done().await;
    let chan = bus.connector.channel().await.unwrap();
    chan.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let exchange = bus.names().exchange;
    let start = (Utc::now().date_naive() + Days::days(3))
        .and_hms_opt(15, 0, 0)
        .unwrap()
        .and_utc();
    // Burst: BURST bookings at once; throughput = confirmations at Twilio per second.
    let t0 = Instant::now();
    let mut confirms = Vec::new();
    for i in 0..BURST {
        confirms.push(
            publish(
                &chan,
                &exchange,
                booked(org, format!("+1555030{i:04}"), start),
            )
            .await,
        );
    }
    for c in confirms {
        c.await.unwrap();
    }
    while fake.state.lock().unwrap().created.len() < BURST {
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "burst did not finish"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let burst_secs = t0.elapsed().as_secs_f64();
    #[allow(clippy::as_conversions)]
    let burst_rate = BURST as f64 / burst_secs;

    // Steady: RATE bookings/s for SECONDS; latency = publish → the fake's 201.
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    let total = usize::try_from(RATE * SECONDS).unwrap();
    let tick = Duration::from_micros(1_000_000 / RATE);
    let mut steady_confirms = Vec::new();
    let t1 = Instant::now();
    for i in 0..total {
        let due = t1 + tick * u32::try_from(i).unwrap();
        tokio::time::sleep_until(due.into()).await;
        let phone = format!("+1555040{i:04}");
        sent_at.insert(phone.clone(), Instant::now());
        steady_confirms.push(publish(&chan, &exchange, booked(org, phone, start)).await);
    }
    for c in steady_confirms {
        c.await.unwrap();
    }
    let expected = BURST + total;
    while fake.state.lock().unwrap().created.len() < expected {
        assert!(
            t1.elapsed() < Duration::from_secs(300),
            "steady phase did not finish"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let st = fake.state.lock().unwrap();
    let lat: Vec<Duration> = st
        .created_at
        .iter()
        .filter_map(|(to, at)| sent_at.get(to).map(|s| at.saturating_duration_since(*s)))
        .collect();
    let distinct: HashSet<&str> = st.created.iter().filter_map(|m| m["to"].as_str()).collect();
    let duplicates = st.created.len() - distinct.len();
    let out = json!({
        "benchmark": "messaging",
        "what": "appointment.booked.v1 published to the real service's queue → stored confirmation → dispatcher → the fake Twilio's 201 (one replica, Postgres and RabbitMQ local, load generator on the same cores)",
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "burst": {"bookings": BURST, "seconds": burst_secs, "confirmations_per_second": burst_rate},
        "ceiling_fake_twilio_alone_sequential_per_second": ceiling,
        "ratio_of_ceiling": burst_rate / ceiling,
        "steady": {"rate_per_second": RATE, "seconds": SECONDS, "bookings": total, "measured": lat.len(),
            "booking_to_send_p50_ms": pct(lat.clone(), 0.5), "booking_to_send_p99_ms": pct(lat.clone(), 0.99),
            "booking_to_send_max_ms": pct(lat, 1.0)},
        "sent_to_twilio": st.created.len(),
        "duplicates": duplicates,
        "measured_at": Utc::now().to_rfc3339(),
    });
    drop(st);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("messaging.json"),
        serde_json::to_string_pretty(&out).unwrap(),
    )
    .unwrap();
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
    app
}

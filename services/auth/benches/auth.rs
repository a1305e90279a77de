//! Auth benchmark (`make bench`): writes `bench/results/auth.json`.
//!
//! * token verification as every service does it (EdDSA signature + claims, then the Redis
//!   revocation check), in process, one request at a time: what verification adds to a request;
//! * a protected endpoint over HTTP (`GET /api/orgs/validate/{org}`: verify, revocation check,
//!   one tenant query) with the server on ONE worker thread;
//! * the password grant at the product's argon2id cost.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: fail loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tenancy::{JwtVerifier, Revocations, SessionId};

fn main() {
    // `cargo test --all-targets` also runs benches (without `--bench`): only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("auth benchmark: skipped (run `make bench`)");
        return;
    }
    // The server gets its own single-threaded runtime (one core); the load generator another.
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = testkit::spawn_app_with::<auth::AuthService>(
                Arc::new(testkit::TestAuth::start().await),
                &[
                    ("HTTP_WORKERS", "1"),
                    ("DB_POOL_SIZE", "8"),
                    // The bench times signup's first token pair.
                    ("AUTH_SIGNUP_CONFIRM_EMAIL", "false"),
                ],
            )
            .await;
            tx.send((
                app.address.clone(),
                app.redis_prefix.clone(),
                app.settings.standard.common.jwt.clone(),
            ))
            .unwrap();
            let _ = stop_rx.await;
            drop(app);
        });
    });
    let (address, prefix, jwt) = rx.recv().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(run(address, prefix, jwt));
    let _ = stop_tx.send(());
    server.join().unwrap();
    std::fs::create_dir_all("../../bench/results").unwrap();
    std::fs::write(
        "../../bench/results/auth.json",
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}

#[allow(clippy::as_conversions)] // a percentile index and microseconds: float arithmetic on counts
fn percentiles(mut v: Vec<Duration>) -> serde_json::Value {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)].as_secs_f64() * 1e6;
    json!({"n": v.len(), "p50_us": p(0.50), "p90_us": p(0.90), "p99_us": p(0.99), "max_us": p(1.0)})
}

/// `concurrency` clients in a closed loop for `secs`: requests/s and latency percentiles.
#[allow(clippy::as_conversions)] // requests per second: a float ratio of two counts
async fn closed_loop<F, Fut>(concurrency: usize, secs: u64, f: F) -> serde_json::Value
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let end = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let f = f.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < end {
                    let t = Instant::now();
                    if f().await {
                        lat.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let rps = all.len() as f64 / secs as f64;
    let mut out = percentiles(all);
    out["requests_per_second"] = json!(rps);
    out["errors"] = json!(errors);
    out["concurrency"] = json!(concurrency);
    out
}

async fn run(
    address: String,
    prefix: String,
    mut jwt: servicekit::config::JwtSettings,
) -> serde_json::Value {
    let client = reqwest::Client::new();
    let email = format!("bench-{}@clinic.example", uuid::Uuid::new_v4().simple());
    let password = "correct horse battery staple";
    let t = Instant::now();
    let signup: serde_json::Value = client
        .post(format!("{address}/api/auth/signup"))
        .json(&json!({"email": email, "password": password, "org_name": "Bench Clinic", "org_timezone": "UTC"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signup_ms = t.elapsed().as_secs_f64() * 1e3;
    let token = signup["access_token"].as_str().unwrap().to_string();
    let org = signup["user"]["org_id"].as_str().unwrap().to_string();

    // 1. Verification in process, sequential (what it adds to one request).
    jwt.jwks_url = format!("{address}/.well-known/jwks.json");
    let verifier = JwtVerifier::new(jwt.clone());
    let redis = servicekit::db::redis_pool(&testkit::config::redis_url().into(), 4).unwrap();
    let revocations = Revocations::new(redis, prefix);
    let audiences = jwt.audience.clone();
    verifier.verify(&token, &audiences).await.unwrap(); // warm the JWKS cache

    // 1a. Cold: every token new to the verifier, every session unknown to the revocation memory
    //     (the first request of each session / token).
    let mut cold_tokens = Vec::new();
    let mut refresh = signup["refresh_token"].as_str().unwrap().to_string();
    for _ in 0..2_000 {
        let r: serde_json::Value = client
            .post(format!("{address}/api/auth/token?grant_type=refresh_token"))
            .json(&json!({"refresh_token": refresh}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        refresh = r["refresh_token"].as_str().unwrap().to_string();
        cold_tokens.push(r["access_token"].as_str().unwrap().to_string());
    }
    let cold_revocations = Revocations::new(
        servicekit::db::redis_pool(&testkit::config::redis_url().into(), 4).unwrap(),
        String::from("bench-cold:"),
    );
    let (mut cold_sig, mut cold_rev) = (Vec::new(), Vec::new());
    for t in &cold_tokens {
        // Tokens minted in the same second are byte-identical (EdDSA is deterministic): forget
        // them all so each verification runs in full.
        verifier.forget_verified();
        let t0 = Instant::now();
        let claims = verifier.verify(t, &audiences).await.unwrap();
        let t1 = Instant::now();
        // a random session id: never remembered, always a Redis round trip
        cold_revocations
            .is_revoked(SessionId(uuid::Uuid::new_v4()))
            .await
            .unwrap();
        let t2 = Instant::now();
        assert!(claims.session_id.is_some());
        cold_sig.push(t1 - t0);
        cold_rev.push(t2 - t1);
    }

    // 1b. Warm: the same token again and again (every later request of a session).
    let (mut sig, mut rev, mut both) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..20_000 {
        let t0 = Instant::now();
        let claims = verifier.verify(&token, &audiences).await.unwrap();
        let t1 = Instant::now();
        let revoked = revocations
            .is_revoked(SessionId(claims.session_id.unwrap()))
            .await
            .unwrap();
        let t2 = Instant::now();
        assert!(!revoked);
        sig.push(t1 - t0);
        rev.push(t2 - t1);
        both.push(t2 - t0);
    }

    // 2. A protected endpoint over HTTP, server on one worker thread.
    let url = format!("{address}/api/orgs/validate/{org}");
    let protected = {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        closed_loop(16, 8, move || {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            async move {
                client
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await
    };

    // 3. The password grant at the product's argon2id cost.
    let grant = {
        let client = client.clone();
        let url = format!("{address}/api/auth/token?grant_type=password");
        let body = json!({"email": email, "password": password});
        closed_loop(2, 8, move || {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            async move {
                client
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await
    };

    json!({
        "machine": {"cores": std::thread::available_parallelism().map_or(1, |n| n.get())},
        "argon2": {"algorithm": "argon2id", "m_kib": 19456, "t": 2, "p": 1, "note": "OWASP minimum; AUTH_ARGON2_* to change"},
        "signup_ms": signup_ms,
        "verification_in_process_cold": {
            "note": "first request of a token: EdDSA verify + a Redis EXISTS",
            "signature_and_claims": percentiles(cold_sig),
            "revocation_check_redis": percentiles(cold_rev),
        },
        "verification_in_process": {
            "note": "later requests: remembered token, 'not revoked' remembered for 250 ms",
            "signature_and_claims": percentiles(sig),
            "revocation_check_redis": percentiles(rev),
            "total": percentiles(both),
            "aim": "verification adds < 100 us at p99"
        },
        "protected_endpoint_http_one_worker": protected,
        "password_grant_http_one_worker": grant,
    })
}

//! Issue 14 / ADR 0018: a session from auth's GoTrue-compatible routes, obtained through the
//! real gateway (`deploy/local/nginx.conf`, `testkit::Gateway`), works on every other service
//! (voice-webhook, calendar, messaging, lead-scoring) through the same gateway exactly like our
//! own tokens — and GoTrue's default sign-out (no
//! `scope`: global) ends it there too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::{Gateway, TestAuth};

const GOTRUE: (&str, &str) = ("X-Supabase-Api-Version", "2024-01-01");
const PASSWORD: &str = "correct horse battery staple";

fn email() -> String {
    format!(
        "gw-{}@clinic.example",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// GoTrue's signup through the gateway: the session.
async fn gotrue_signup(c: &reqwest::Client, gw: &Gateway, org_name: &str) -> Value {
    let r = c
        .post(gw.url("/api/auth/signup"))
        .header(GOTRUE.0, GOTRUE.1)
        .json(&json!({"email": email(), "password": PASSWORD,
                      "data": {"org_name": org_name, "timezone": "Europe/London"},
                      "gotrue_meta_security": {"captcha_token": null}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn leads_status(c: &reqwest::Client, gw: &Gateway, token: &str) -> u16 {
    status_of(c, gw, "/api/leads", token).await
}

async fn status_of(c: &reqwest::Client, gw: &Gateway, path: &str, token: &str) -> u16 {
    c.get(gw.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A tenant read of each other service, through the gateway.
const TENANT_READS: [&str; 4] = [
    "/api/voice/agents",
    "/api/calendar/services",
    "/api/messaging/templates",
    "/api/leads",
];

#[tokio::test]
async fn a_gotrue_session_from_the_gateway_works_on_every_other_service_through_the_gateway() {
    let auth = testkit::spawn_app_with::<auth::AuthService>(
        Arc::new(TestAuth::start().await),
        &[
            ("AUTH_ARGON2_M_KIB", "1024"),
            ("AUTH_ARGON2_T", "1"),
            ("AUTH_ARGON2_BELOW_FLOOR", "allow"),
            ("AUTH_SIGNUP_CONFIRM_EMAIL", "false"),
        ],
    )
    .await;
    // lead-scoring trusts auth's JWKS and reads the revocations auth writes, as in production.
    let jwks = auth.url("/.well-known/jwks.json");
    let leads = testkit::spawn_app_with::<lead_scoring::LeadScoring>(
        auth.auth.clone(),
        &[
            ("JWKS_URL", jwks.as_str()),
            ("REDIS_PREFIX", auth.redis_prefix.as_str()),
        ],
    )
    .await;
    let same = [
        ("JWKS_URL", jwks.as_str()),
        ("REDIS_PREFIX", auth.redis_prefix.as_str()),
    ];
    let voice = testkit::spawn_app_with::<voice_webhook::VoiceWebhook>(
        auth.auth.clone(),
        &[
            same[0],
            same[1],
            ("VAPI_WEBHOOK_SECRET", "gateway-test-secret"),
        ],
    )
    .await;
    let cal = testkit::spawn_app_with::<calendar::Calendar>(auth.auth.clone(), &same).await;
    let msg = testkit::spawn_app_with::<messaging::Messaging>(auth.auth.clone(), &same).await;
    let gw = Gateway::start(&[
        ("auth", &auth.address),
        ("voice_webhook", &voice.address),
        ("calendar", &cal.address),
        ("messaging", &msg.address),
        ("lead_scoring", &leads.address),
    ])
    .await;
    let c = reqwest::Client::new();

    let s = gotrue_signup(&c, &gw, "Gateway Dental").await;
    let access = s["access_token"].as_str().unwrap().to_string();
    assert_eq!(s["token_type"], "bearer");
    assert!(s["user"]["app_metadata"]["org_id"].is_string(), "{s}");
    // The tenant route of another service, through the gateway: accepted, this org's (empty) page.
    let r = c
        .get(gw.url("/api/leads"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["items"], json!([]), "{page}");
    // And on every other service, as our own tokens are.
    for path in TENANT_READS {
        assert_eq!(status_of(&c, &gw, path, &access).await, 200, "{path}");
        assert_eq!(status_of(&c, &gw, path, "not-a-token").await, 401, "{path}");
    }
    // No token, or a forged one: refused by lead-scoring (its problem+json, through the gateway).
    let r = c.get(gw.url("/api/leads")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // A signature character changed (not the last: its low bits may be padding).
    let i = access.len() - 10;
    let swapped = if &access[i..=i] == "A" { "B" } else { "A" };
    let forged = format!("{}{swapped}{}", &access[..i], &access[i + 1..]);
    assert_eq!(leads_status(&c, &gw, &forged).await, 401);

    // A refreshed GoTrue session works there too.
    let r = c
        .post(gw.url("/api/auth/token?grant_type=refresh_token"))
        .header(GOTRUE.0, GOTRUE.1)
        .json(&json!({"refresh_token": s["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let refreshed: Value = r.json().await.unwrap();
    let access2 = refreshed["access_token"].as_str().unwrap().to_string();
    for path in TENANT_READS {
        assert_eq!(status_of(&c, &gw, path, &access2).await, 200, "{path}");
    }

    // Another clinic's session is its own tenant: accepted, and its page is its own.
    let other = gotrue_signup(&c, &gw, "Other Clinic").await;
    assert_ne!(
        other["user"]["app_metadata"]["org_id"],
        s["user"]["app_metadata"]["org_id"]
    );
    assert_eq!(
        leads_status(&c, &gw, other["access_token"].as_str().unwrap()).await,
        200
    );

    // GoTrue's sign-out without `scope` is global: the session ends on lead-scoring within a
    // second, while the other clinic's session is untouched.
    let r = c
        .post(gw.url("/api/auth/logout"))
        .header(GOTRUE.0, GOTRUE.1)
        .bearer_auth(&access2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let status = leads_status(&c, &gw, &access2).await;
        if status == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still accepted after a global sign-out: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Ended everywhere, not only where it was first refused: each service learns of the
    // revocation on its own (within a second of it, as for our own sign-out).
    for path in TENANT_READS {
        let other_token = other["access_token"].as_str().unwrap();
        assert_eq!(status_of(&c, &gw, path, other_token).await, 200, "{path}");
        loop {
            let status = status_of(&c, &gw, path, &access2).await;
            if status == 401 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{path} still accepts the session after a global sign-out: {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert!(
        gw.access_log().contains("POST /api/auth/logout"),
        "{}",
        gw.access_log()
    );
}

//! TOTP MFA end to end: enrol, verify, replay, aal2, recovery codes, unenrol, org policy.

use auth::domain::totp;
use serde_json::{Value, json};

use crate::helpers::*;

async fn challenge(app: &AuthApp, token: &str, factor: &str) -> String {
    let b = ok_json(
        post(
            app,
            &format!("/api/auth/factors/{factor}/challenge"),
            Some(token),
            json!({}),
        )
        .await,
        201,
    )
    .await;
    b["id"].as_str().unwrap().to_string()
}

async fn verify(app: &AuthApp, token: &str, factor: &str, body: Value) -> reqwest::Response {
    post(
        app,
        &format!("/api/auth/factors/{factor}/verify"),
        Some(token),
        body,
    )
    .await
}

fn now_code(secret: &[u8]) -> String {
    totp::code_at(
        secret,
        u64::try_from(chrono::Utc::now().timestamp()).unwrap(),
    )
}

pub(crate) struct Enrolled {
    factor: String,
    secret: Vec<u8>,
    pub(crate) aal2_access: String,
    recovery: Vec<String>,
}

pub(crate) async fn enrol(app: &AuthApp, s: &Signed) -> Enrolled {
    let e = ok_json(
        post(
            app,
            "/api/auth/factors",
            Some(&s.access),
            json!({"friendly_name": "phone"}),
        )
        .await,
        201,
    )
    .await;
    let factor = e["id"].as_str().unwrap().to_string();
    let secret = totp::base32_decode(e["totp"]["secret"].as_str().unwrap()).unwrap();
    let ch = challenge(app, &s.access, &factor).await;
    let v = ok_json(
        verify(
            app,
            &s.access,
            &factor,
            json!({"challenge_id": ch, "code": now_code(&secret)}),
        )
        .await,
        200,
    )
    .await;
    Enrolled {
        factor,
        secret,
        aal2_access: v["access_token"].as_str().unwrap().to_string(),
        recovery: v["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect(),
    }
}

#[tokio::test]
async fn totp_enrolment_replay_aal2_and_recovery_codes() {
    let app = spawn().await;
    let s = signup(&app).await;
    let other_device = login(&app, &s.email).await;

    let e = ok_json(
        post(
            &app,
            "/api/auth/factors",
            Some(&s.access),
            json!({"friendly_name": "phone"}),
        )
        .await,
        201,
    )
    .await;
    let uri = e["totp"]["uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Voxanne:"), "{uri}");
    assert!(uri.contains("algorithm=SHA1&digits=6&period=30"), "{uri}");
    assert!(
        e["totp"]["qr_code"].as_str().unwrap().contains("<svg"),
        "an SVG QR code"
    );
    assert_eq!(e["status"], "unverified");
    let factor = e["id"].as_str().unwrap();
    let secret = totp::base32_decode(e["totp"]["secret"].as_str().unwrap()).unwrap();
    assert_eq!(secret.len(), 20, "160-bit secret");

    // A wrong code fails (and is audited); the right one activates the factor.
    let ch = challenge(&app, &s.access, factor).await;
    let wrong = if now_code(&secret) == "000000" {
        "111111"
    } else {
        "000000"
    };
    problem(
        verify(
            &app,
            &s.access,
            factor,
            json!({"challenge_id": ch, "code": wrong}),
        )
        .await,
        401,
        "invalid_mfa_code",
    )
    .await;
    let ch = challenge(&app, &s.access, factor).await;
    let code = now_code(&secret);
    let v = ok_json(
        verify(
            &app,
            &s.access,
            factor,
            json!({"challenge_id": ch, "code": code}),
        )
        .await,
        200,
    )
    .await;
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["aal"], "aal2");
    assert_eq!(c["amr"][0]["method"], "totp");
    let codes: Vec<String> = v["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    let aal2 = v["access_token"].as_str().unwrap().to_string();

    // The same code is never accepted twice, even with a fresh challenge.
    let ch = challenge(&app, &aal2, factor).await;
    problem(
        verify(
            &app,
            &aal2,
            factor,
            json!({"challenge_id": ch, "code": code}),
        )
        .await,
        401,
        "invalid_mfa_code",
    )
    .await;
    // A used challenge cannot be used again.
    problem(
        verify(
            &app,
            &aal2,
            factor,
            json!({"challenge_id": ch, "code": code}),
        )
        .await,
        422,
        "invalid_challenge",
    )
    .await;
    // Enrolling the first factor ended the user's other sessions.
    problem(
        get(
            &app,
            "/api/auth/user",
            other_device["access_token"].as_str().unwrap(),
        )
        .await,
        401,
        "session_revoked",
    )
    .await;

    // A recovery code works once, instead of a code, on a new aal1 session.
    let fresh = login(&app, &s.email).await;
    let t = fresh["access_token"].as_str().unwrap();
    assert_eq!(claims(t)["aal"], "aal1");
    let ch = challenge(&app, t, factor).await;
    let v = ok_json(
        verify(
            &app,
            t,
            factor,
            json!({"challenge_id": ch, "recovery_code": codes[0].to_uppercase()}),
        )
        .await,
        200,
    )
    .await;
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["aal"], "aal2");
    assert_eq!(c["amr"][0]["method"], "mfa/recovery_code");
    assert!(v.get("recovery_codes").is_none(), "codes are shown once");
    let again = login(&app, &s.email).await;
    let t2 = again["access_token"].as_str().unwrap();
    let ch = challenge(&app, t2, factor).await;
    problem(
        verify(
            &app,
            t2,
            factor,
            json!({"challenge_id": ch, "recovery_code": codes[0]}),
        )
        .await,
        401,
        "invalid_mfa_code",
    )
    .await;
    let listed = ok_json(get(&app, "/api/auth/factors", &aal2).await, 200).await;
    assert_eq!(listed["recovery_codes_left"], 9);

    // Removing a verified factor needs aal2.
    let r = delete(&app, &format!("/api/auth/factors/{factor}"), t2).await;
    problem(r, 403, "aal2_required").await;
    let r = delete(&app, &format!("/api/auth/factors/{factor}"), &aal2).await;
    assert_eq!(r.status().as_u16(), 204);

    let log = ok_json(get(&app, "/api/auth/audit?limit=200", &aal2).await, 200).await;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "mfa.enrolled",
        "mfa.verify_failed",
        "mfa.factor_activated",
        "mfa.code_replayed",
        "mfa.recovery_code_used",
        "mfa.recovery_code_failed",
        "mfa.removed",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}

#[tokio::test]
async fn another_users_factor_is_unknown() {
    let app = spawn().await;
    let a = signup(&app).await;
    let b = signup(&app).await;
    let ea = enrol(&app, &a).await;
    let r = post(
        &app,
        &format!("/api/auth/factors/{}/challenge", ea.factor),
        Some(&b.access),
        json!({}),
    )
    .await;
    problem(r, 404, "not_found").await;
    let r = delete(&app, &format!("/api/auth/factors/{}", ea.factor), &b.access).await;
    problem(r, 404, "not_found").await;
    let listed = ok_json(get(&app, "/api/auth/factors", &b.access).await, 200).await;
    assert!(listed["items"].as_array().unwrap().is_empty());
    assert_eq!(ea.recovery.len(), 10);
    assert!(!ea.secret.is_empty());
}

#[tokio::test]
async fn an_org_that_requires_mfa_refuses_aal1_tokens_on_other_services() {
    let app = spawn().await;
    let cal = other_service(&app).await;
    let s = signup(&app).await;
    let e = enrol(&app, &s).await;
    let r = patch(
        &app,
        &format!("/api/orgs/{}", s.org),
        &e.aal2_access,
        json!({"require_mfa": true}),
    )
    .await;
    ok_json(r, 200).await;
    let aal1 = login(&app, &s.email).await;
    let t = aal1["access_token"].as_str().unwrap();
    assert_eq!(claims(t)["app_metadata"]["mfa_required"], true);
    assert_eq!(other_service_status(&cal, t).await, 403);
    problem(
        get(&app, "/api/auth/sessions", t).await,
        403,
        "mfa_required",
    )
    .await;
    // The way to aal2 stays open.
    let ch = challenge(&app, t, &e.factor).await;
    // The current code works unless it is still the enrolment's step (then it is, rightly, a
    // replay): a recovery code is the way through in that case.
    let r = verify(
        &app,
        t,
        &e.factor,
        json!({"challenge_id": ch, "code": now_code(&e.secret)}),
    )
    .await;
    let upgraded = if r.status().as_u16() == 200 {
        ok_json(r, 200).await
    } else {
        let ch = challenge(&app, t, &e.factor).await;
        ok_json(
            verify(
                &app,
                t,
                &e.factor,
                json!({"challenge_id": ch, "recovery_code": e.recovery[0]}),
            )
            .await,
            200,
        )
        .await
    };
    let t2 = upgraded["access_token"].as_str().unwrap();
    assert_eq!(other_service_status(&cal, t2).await, 200);
    // Only admins change the policy.
    let r = patch(
        &app,
        &format!("/api/orgs/{}", s.org),
        t2,
        json!({"session_lifetime_secs": 10}),
    )
    .await;
    problem(r, 422, "invalid_field").await;
}

#[tokio::test]
async fn mfa_attempts_are_limited_per_factor() {
    let app = spawn().await;
    let s = signup(&app).await;
    let e = ok_json(
        post(&app, "/api/auth/factors", Some(&s.access), json!({})).await,
        201,
    )
    .await;
    let factor = e["id"].as_str().unwrap();
    let secret = totp::base32_decode(e["totp"]["secret"].as_str().unwrap()).unwrap();
    let wrong = if now_code(&secret) == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        let ch = challenge(&app, &s.access, factor).await;
        problem(
            verify(
                &app,
                &s.access,
                factor,
                json!({"challenge_id": ch, "code": wrong}),
            )
            .await,
            401,
            "invalid_mfa_code",
        )
        .await;
    }
    // Even the right code waits now.
    let ch = challenge(&app, &s.access, factor).await;
    let r = verify(
        &app,
        &s.access,
        factor,
        json!({"challenge_id": ch, "code": now_code(&secret)}),
    )
    .await;
    assert!(r.headers().contains_key("retry-after"));
    problem(r, 429, "rate_limited").await;
    let log = ok_json(
        get(&app, "/api/auth/audit?action=mfa.rate_limited", &s.access).await,
        200,
    )
    .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1);
}

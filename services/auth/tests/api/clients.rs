//! The GoTrue (Supabase Auth) dialect of `/api/auth` (ADR 0018): the official clients drive it
//! unchanged through the real gateway (`deploy/local/nginx.conf`, `testkit::Gateway`), and what
//! it issues works on another service exactly like our own tokens (through the gateway on
//! lead-scoring: `crates/platform-tests/tests/flows/gotrue_gateway.rs`).

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::*;

pub(crate) const GOTRUE: (&str, &str) = ("X-Supabase-Api-Version", "2024-01-01");

/// Held while a client's dependencies are checked or installed: tests run in parallel, and a
/// second `npm ci` (which starts by deleting `node_modules`) or `python3 -m venv` would pull the
/// files from under a client script another test is running.
static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The venv with the pinned `supabase-auth` (tests/clients/py/requirements.txt), made once.
pub(crate) fn python() -> PathBuf {
    let _installing = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let venv = testkit::config::target_dir().join("clients-py");
    let py = venv.join("bin/python");
    let reqs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/py/requirements.txt");
    let stamp = venv.join("requirements.txt");
    let wanted = std::fs::read_to_string(&reqs).unwrap();
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap()
            .success();
        assert!(ok, "python3 -m venv failed");
        let ok = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "-r"])
            .arg(&reqs)
            .status()
            .unwrap()
            .success();
        assert!(ok, "pip install -r {reqs:?} failed");
        std::fs::write(&stamp, wanted).unwrap();
    }
    py
}

fn gotrue_post(
    app: &AuthApp,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> reqwest::RequestBuilder {
    let mut r = app
        .client
        .post(app.url(path))
        .header(GOTRUE.0, GOTRUE.1)
        .json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r
}

fn jwt_header(jwt: &str) -> Value {
    use base64::Engine as _;
    let h = jwt.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(h)
            .unwrap(),
    )
    .unwrap()
}

/// `node_modules` for tests/clients/js from its package-lock (`npm ci`), made once per lock.
pub(crate) fn node_modules() -> PathBuf {
    let _installing = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/js");
    let lock = std::fs::read_to_string(dir.join("package-lock.json")).unwrap();
    let stamp = dir.join("node_modules/.voxanne-lock");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(lock.as_str()) {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "npm ci in {dir:?} failed");
        std::fs::write(&stamp, lock).unwrap();
    }
    dir
}

/// Runs one client's flow script against `app` behind the gateway and checks what it printed
/// and left behind.
async fn official_client_flow(
    app: &AuthApp,
    program: fn() -> (PathBuf, PathBuf),
    org_name: &str,
    timezone: &str,
) {
    let other = other_service(app).await;
    let gw = testkit::Gateway::start(&[("auth", &app.address)]).await;
    let email = unique_email();
    let url = gw.url("/api/auth");
    let mail = email.clone();
    let out = tokio::task::spawn_blocking(move || {
        let (exe, script) = program();
        Command::new(exe)
            .arg(script)
            .arg(url)
            .arg(mail)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the client flow failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(stdout.lines().last(), Some("ALL OK"), "{stdout}");
    // Every call went through the gateway.
    let log = gw.access_log();
    for call in [
        "POST /api/auth/signup",
        "POST /api/auth/token?grant_type=password",
        "POST /api/auth/token?grant_type=refresh_token",
        "GET /api/auth/user",
        "PUT /api/auth/user",
        "POST /api/auth/factors",
        "POST /api/auth/logout?scope=global",
        "POST /api/auth/logout?scope=others",
        "POST /api/auth/recover",
    ] {
        assert!(
            log.contains(call),
            "{call} not in the gateway's log:\n{log}"
        );
    }
    for s in [
        "signup",
        "wrong_password",
        "sign_in",
        "get_user",
        "refresh",
        "mfa_verify",
        "list_factors",
        "update_user",
        "sign_out_others",
        "sign_out_global",
        "recover",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("STEP {s} "))),
            "step {s} missing:\n{stdout}"
        );
    }
    let wrong: Value = serde_json::from_str(
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("STEP wrong_password "))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        wrong,
        json!({"code": "invalid_credentials", "error": "AuthApiError", "status": 400})
    );
    // What the client set is what the database holds.
    let expected = json!({"org_name": org_name, "timezone": timezone, "plan": "pro"});
    assert_eq!(
        count(
            app,
            &format!(
                "SELECT count(*) AS n FROM auth.users WHERE email = '{email}' AND user_metadata = '{expected}'::jsonb"
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(app, &format!("SELECT count(*) AS n FROM auth.organizations WHERE name = '{org_name}' AND timezone = '{timezone}'")).await,
        1
    );
    assert_eq!(
        count(app, &format!("SELECT count(*) AS n FROM auth.mail_outbox WHERE to_email = '{email}' AND kind = 'recovery'")).await,
        1,
        "the reset link was mailed"
    );
    // The aal2 token the client held before its global sign out: ES256, GoTrue's amr objects,
    // and refused by another service now that its session is revoked.
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ACCESS_TOKEN "))
        .unwrap()
        .to_string();
    assert_eq!(jwt_header(&token)["alg"], "ES256");
    let c = claims(&token);
    assert_eq!(c["aal"], "aal2");
    assert!(
        c["amr"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["method"].is_string() && e["timestamp"].is_i64()),
        "{c}"
    );
    refused_within_a_second(&other, &token).await;
}

fn python_flow() -> (PathBuf, PathBuf) {
    (
        python(),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/py/flow.py"),
    )
}

fn js_flow() -> (PathBuf, PathBuf) {
    (PathBuf::from("node"), node_modules().join("flow.mjs"))
}

#[tokio::test]
async fn the_official_python_client_signs_up_in_mfa_metadata_and_out() {
    let app = spawn().await;
    official_client_flow(&app, python_flow, "Sunrise Dental", "America/New_York").await;
}

#[tokio::test]
async fn the_official_js_client_signs_up_in_mfa_metadata_and_out() {
    let app = spawn().await;
    official_client_flow(&app, js_flow, "Harbour Physio", "Europe/London").await;
}

#[tokio::test]
async fn a_gotrue_session_works_on_another_service_and_carries_gotrue_claims() {
    let app = spawn().await;
    let other = other_service(&app).await;
    let email = unique_email();
    // What supabase-js sends on signUp: unknown fields included.
    let r = gotrue_post(
        &app,
        "/api/auth/signup",
        None,
        json!({"email": email, "password": PASSWORD, "data": {"full_name": "Dr Ada"},
               "gotrue_meta_security": {"captcha_token": null},
               "code_challenge": null, "code_challenge_method": null}),
    )
    .send()
    .await
    .unwrap();
    let s = ok_json(r, 200).await;
    assert_eq!(s["user"]["user_metadata"], json!({"full_name": "Dr Ada"}));
    assert_eq!(s["user"]["display_name"], "Dr Ada");
    assert_eq!(s["user"]["aud"], "authenticated");
    assert_eq!(s["user"]["phone"], "");
    assert_eq!(s["user"]["is_anonymous"], false);
    assert_eq!(s["user"]["app_metadata"]["provider"], "email");
    let org = s["user"]["app_metadata"]["org_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(s["user"]["app_metadata"]["org_role"], "owner");
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM auth.organizations WHERE id = '{org}' AND name = 'My organization' AND timezone = 'UTC'")).await,
        1,
        "no org_name/timezone in data: the defaults"
    );
    // Password grant as supabase-py sends it (`data: {}`, `gotrue_meta_security`).
    let r = gotrue_post(
        &app,
        "/api/auth/token?grant_type=password",
        None,
        json!({"email": email, "password": PASSWORD, "data": {}, "gotrue_meta_security": {"captcha_token": null}}),
    )
    .send()
    .await
    .unwrap();
    let p = ok_json(r, 200).await;
    let access = p["access_token"].as_str().unwrap();
    assert_eq!(jwt_header(access)["alg"], "ES256");
    let c = claims(access);
    assert_eq!(c["app_metadata"]["org_id"], org.as_str());
    assert_eq!(c["amr"][0]["method"], "password");
    assert!(c["amr"][0]["timestamp"].is_i64());
    assert_eq!(other_service_status(&other, access).await, 200);
    // Refresh through the GoTrue dialect: still valid elsewhere.
    let r = gotrue_post(
        &app,
        "/api/auth/token?grant_type=refresh_token",
        None,
        json!({"refresh_token": p["refresh_token"]}),
    )
    .send()
    .await
    .unwrap();
    let p2 = ok_json(r, 200).await;
    assert_eq!(
        other_service_status(&other, p2["access_token"].as_str().unwrap()).await,
        200
    );
    // The refresh token just rotated away, presented again past the grace: GoTrue's error.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = gotrue_post(
        &app,
        "/api/auth/token?grant_type=refresh_token",
        None,
        json!({"refresh_token": p["refresh_token"]}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-supabase-api-version"], "2024-01-01");
    let e: Value = r.json().await.unwrap();
    assert!(e["code"].is_string() && e["code"] == e["error_code"], "{e}");
    assert!(e["message"].is_string() && e["msg"] == e["message"], "{e}");
    // That reuse revoked the session everywhere (our rule, unchanged by the dialect).
    refused_within_a_second(&other, p2["access_token"].as_str().unwrap()).await;
    // Here too, in GoTrue's terms: 403 session_not_found (auth-js then drops its session); no
    // token at all: 401 no_authorization. Our dialect keeps problem+json (401 session_revoked).
    let user = |token: Option<&str>, go: bool| {
        let mut r = app.client.get(app.url("/api/auth/user"));
        if go {
            r = r.header(GOTRUE.0, GOTRUE.1);
        }
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let r = user(p2["access_token"].as_str(), true).await.unwrap();
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], "session_not_found");
    let r = user(None, true).await.unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], "no_authorization");
    problem(
        user(p2["access_token"].as_str(), false).await.unwrap(),
        401,
        "session_revoked",
    )
    .await;
}

#[tokio::test]
async fn gotrue_errors_and_field_rules_per_dialect() {
    let app = spawn().await;
    let s = signup(&app).await;
    // Wrong password: GoTrue's 400 invalid_credentials with the header; ours stays problem+json.
    let r = gotrue_post(
        &app,
        "/api/auth/token?grant_type=password",
        None,
        json!({"email": s.email, "password": "wrong password entirely"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-supabase-api-version"], "2024-01-01");
    assert_eq!(r.headers()["content-type"], "application/json");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], "invalid_credentials");
    problem(
        password_grant(&app, &s.email, "wrong password entirely").await,
        401,
        "invalid_credentials",
    )
    .await;
    // Unknown fields: ignored in the GoTrue dialect, refused in ours.
    let r = post(
        &app,
        "/api/auth/token?grant_type=password",
        None,
        json!({"email": s.email, "password": PASSWORD, "gotrue_meta_security": {}}),
    )
    .await;
    problem(r, 422, "invalid_field").await;
    // Signing up a registered email (confirmation off): GoTrue's user_already_exists.
    let r = gotrue_post(
        &app,
        "/api/auth/signup",
        None,
        json!({"email": s.email, "password": PASSWORD}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], "user_already_exists");
    // A weak password: GoTrue's weak_password with reasons (the Python client needs them).
    let r = gotrue_post(
        &app,
        "/api/auth/signup",
        None,
        json!({"email": unique_email(), "password": "short"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], "weak_password");
    assert!(
        e["weak_password"]["reasons"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );
    // Wrong types are still refused (400 validation_failed), and `data` must be an object.
    for body in [
        json!({"email": 5, "password": PASSWORD}),
        json!({"email": unique_email(), "password": PASSWORD, "data": "x"}),
        json!({"email": unique_email()}),
    ] {
        let r = gotrue_post(&app, "/api/auth/signup", None, body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["code"], "validation_failed", "{body}");
    }
    // Oversized metadata is refused before it is stored.
    let big = "x".repeat(9000);
    let r = app
        .client
        .put(app.url("/api/auth/user"))
        .header(GOTRUE.0, GOTRUE.1)
        .bearer_auth(&s.access)
        .json(&json!({"data": {"blob": big}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // An email change is not offered: refused, not silently ignored.
    let r = app
        .client
        .put(app.url("/api/auth/user"))
        .header(GOTRUE.0, GOTRUE.1)
        .bearer_auth(&s.access)
        .json(&json!({"email": "someone-else@clinic.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A password change without the current password: GoTrue's current_password_required; with
    // it, the change goes through the GoTrue dialect too.
    let change = |body: Value| {
        app.client
            .put(app.url("/api/auth/user"))
            .header(GOTRUE.0, GOTRUE.1)
            .bearer_auth(&s.access)
            .json(&body)
            .send()
    };
    let r = change(json!({"password": "a brand new passphrase", "code_challenge": null}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], "current_password_required");
    let r = change(
        json!({"password": "a brand new passphrase", "current_password": PASSWORD, "nonce": null}),
    )
    .await
    .unwrap();
    let u = ok_json(r, 200).await;
    assert_eq!(u["id"], s.user.as_str());
    assert_eq!(
        password_grant(&app, &s.email, "a brand new passphrase")
            .await
            .status(),
        200
    );
    // Magic links / one-time codes are not offered: GoTrue's otp_disabled.
    let r = gotrue_post(
        &app,
        "/api/auth/otp",
        None,
        json!({"email": s.email, "create_user": true, "data": null, "gotrue_meta_security": {}}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], "otp_disabled");
    // Settings.
    let st: Value = app
        .client
        .get(app.url("/api/auth/settings"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(st["external"]["email"], true);
    assert_eq!(st["mailer_autoconfirm"], true);
}

#[tokio::test]
async fn gotrue_pending_signup_answers_a_bare_user_the_same_for_a_registered_email() {
    let app = spawn_with(&[("AUTH_SIGNUP_CONFIRM_EMAIL", "true")]).await;
    let email = unique_email();
    let first = gotrue_post(
        &app,
        "/api/auth/signup",
        None,
        json!({"email": email, "password": PASSWORD, "data": {"org_name": "North Clinic"}}),
    )
    .send()
    .await
    .unwrap();
    let first = ok_json(first, 200).await;
    assert!(first.get("access_token").is_none());
    assert_eq!(first["email"], email.as_str());
    assert!(first["confirmation_sent_at"].is_string());
    let again = gotrue_post(
        &app,
        "/api/auth/signup",
        None,
        json!({"email": email, "password": PASSWORD, "data": {"org_name": "North Clinic"}}),
    )
    .send()
    .await
    .unwrap();
    let again = ok_json(again, 200).await;
    assert_ne!(
        first["id"], again["id"],
        "a random id for the registered email"
    );
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&first), keys(&again), "the same shape either way");
    assert_eq!(first["identities"], json!([]));
    assert_eq!(again["identities"], json!([]));
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM auth.organizations WHERE name = 'North Clinic'"
        )
        .await,
        1
    );
}

/// Runs a client's mailed-token script (tests/clients/{py,js}/mailed.*) against `app` behind
/// the gateway, answering every `MAIL <kind> <email>` with the token (or nonce) of the newest
/// mail of that kind from the outbox; its stdout.
async fn mailed_client_flow(app: &AuthApp, exe: PathBuf, script: PathBuf) -> String {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
    let gw = testkit::Gateway::start(&[("auth", &app.address)]).await;
    let email = unique_email();
    let mut child = tokio::process::Command::new(exe)
        .arg(script)
        .arg(gw.url("/api/auth"))
        .arg(&email)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut out = String::new();
    while let Ok(Some(line)) =
        tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
            .await
            .expect("the client script answers within 60 s")
    {
        out.push_str(&line);
        out.push('\n');
        if let Some(rest) = line.strip_prefix("MAIL ") {
            let (kind, to) = rest.split_once(' ').unwrap();
            assert_eq!(to, email);
            let body = last_mail(app, to).await;
            let marker = match kind {
                "verify_email" => "verify-email#token=",
                "recovery" => "reset-password#token=",
                "reauthentication" => "Your confirmation code: ",
                other => panic!("unknown mail kind {other}"),
            };
            let token = after(&body, marker).to_string();
            stdin
                .write_all(format!("{token}\n").as_bytes())
                .await
                .unwrap();
            stdin.flush().await.unwrap();
        }
    }
    let done = child.wait_with_output().await.unwrap();
    assert!(
        done.status.success(),
        "the client failed:\n{out}\n{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(out.lines().last(), Some("ALL OK"), "{out}");
    for s in [
        "resend",
        "verify_signup",
        "reauthenticate_password",
        "recovery",
    ] {
        assert!(out.contains(&format!("STEP {s} ")), "{s} missing:\n{out}");
    }
    let log = gw.access_log();
    for call in [
        "POST /api/auth/resend",
        "POST /api/auth/verify",
        "GET /api/auth/reauthenticate",
        "PUT /api/auth/user",
    ] {
        assert!(
            log.contains(call),
            "{call} not in the gateway's log:\n{log}"
        );
    }
    // Two confirmation links (signup, resend), two nonces, one reset link.
    for (kind, n) in [
        ("verify_email", 2),
        ("reauthentication", 2),
        ("recovery", 1),
    ] {
        assert_eq!(
            count(app, &format!("SELECT count(*) AS n FROM auth.mail_outbox WHERE to_email = '{email}' AND kind = '{kind}'")).await,
            n,
            "{kind}"
        );
    }
    out
}

#[tokio::test]
async fn the_official_python_client_verifies_resends_reauthenticates_and_recovers() {
    let app = spawn_with(&[("AUTH_SIGNUP_CONFIRM_EMAIL", "true")]).await;
    let out = mailed_client_flow(
        &app,
        python(),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/py/mailed.py"),
    )
    .await;
    assert!(
        out.contains(r#"STEP verify_signup {"amr": ["otp"]}"#),
        "{out}"
    );
}

#[tokio::test]
async fn the_official_js_client_verifies_resends_reauthenticates_and_recovers() {
    let app = spawn_with(&[("AUTH_SIGNUP_CONFIRM_EMAIL", "true")]).await;
    mailed_client_flow(
        &app,
        PathBuf::from("node"),
        node_modules().join("mailed.mjs"),
    )
    .await;
}

//! Accounts, tokens, sessions, limits.

use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn signup_login_refresh_logout_round_trip_and_org_created_once() {
    let app = spawn().await;
    // Listen on this app's exchange for org.created.v1 before anything happens.
    let bus = bus::Bus::new(app.settings.standard.bus.clone());
    let chan = bus.connector.channel().await.unwrap();
    bus::topology::declare_exchange(&chan, &bus.names())
        .await
        .unwrap();
    let q = chan
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    chan.queue_bind(
        q.name().as_str().into(),
        bus.names().exchange.as_str().into(),
        "org.created.v1".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();

    let s = signup(&app).await;
    let c = claims(&s.access);
    assert_eq!(c["app_metadata"]["org_id"], s.org.as_str());
    assert_eq!(c["app_metadata"]["org_role"], "owner");
    assert_eq!(c["aal"], "aal1");
    assert_eq!(c["sub"], s.user.as_str());
    assert!(c["session_id"].is_string());
    let me = ok_json(get(&app, "/api/auth/user", &s.access).await, 200).await;
    assert_eq!(me["email"], s.email.as_str());

    let logged = login(&app, &s.email).await;
    for f in [
        "access_token",
        "refresh_token",
        "expires_in",
        "expires_at",
        "user",
    ] {
        assert!(!logged[f].is_null(), "{f} missing: {logged}");
    }
    assert_eq!(logged["token_type"], "bearer");
    let rotated = ok_json(
        refresh(&app, logged["refresh_token"].as_str().unwrap()).await,
        200,
    )
    .await;
    assert_ne!(rotated["refresh_token"], logged["refresh_token"]);
    let access = rotated["access_token"].as_str().unwrap();
    ok_json(get(&app, "/api/auth/user", access).await, 200).await;

    let r = app
        .client
        .post(app.url("/api/auth/logout"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    problem(
        get(&app, "/api/auth/user", access).await,
        401,
        "session_revoked",
    )
    .await;
    problem(
        refresh(&app, rotated["refresh_token"].as_str().unwrap()).await,
        401,
        "session_revoked",
    )
    .await;
    // The signup session is a different device and still works.
    ok_json(get(&app, "/api/auth/user", &s.access).await, 200).await;

    // org.created.v1: exactly one message for this signup.
    let mut consumer = chan
        .basic_consume(
            q.name().as_str().into(),
            "t".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(20), consumer.next())
        .await
        .expect("org.created.v1 published")
        .unwrap()
        .unwrap();
    let env: serde_json::Value = serde_json::from_slice(&first.data).unwrap();
    assert_eq!(env["type"], "org.created.v1");
    assert_eq!(env["org_id"], s.org.as_str());
    assert_eq!(env["payload"]["timezone"], "America/New_York");
    assert!(
        tokio::time::timeout(Duration::from_secs(2), consumer.next())
            .await
            .is_err(),
        "a second org.created.v1 arrived"
    );
}

/// Issue 11 item 7b. With signup confirmation (the product default) a registered email is
/// answered like a new one: same status, same JSON keys, no tokens; the account is untouched
/// (no new user, no new session, its password still works); its owner gets an "account exists"
/// mail and the attacker's address gets nothing. On the old code the second signup was a 409
/// `email_taken` (and a new signup returned tokens).
#[tokio::test]
async fn signup_with_a_registered_email_answers_like_a_new_signup_and_mails_the_owner() {
    let app = spawn_with(&[("AUTH_SIGNUP_CONFIRM_EMAIL", "true")]).await;
    let body = |email: &str, password: &str| json!({"email": email, "password": password, "org_name": "Cedar Point Physio", "org_timezone": "America/New_York"});
    // The victim signs up, confirms the mailed link, logs in.
    let victim = unique_email();
    let r = post(&app, "/api/auth/signup", None, body(&victim, PASSWORD)).await;
    let new_status = r.status().as_u16();
    let new_answer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(new_status, 201, "{new_answer}");
    assert!(new_answer.get("access_token").is_none(), "{new_answer}");
    assert!(new_answer.get("refresh_token").is_none(), "{new_answer}");
    // Not confirmed yet: the right password is answered like a wrong one.
    problem(
        password_grant(&app, &victim, PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    let token = after(&last_mail(&app, &victim).await, "verify-email#token=").to_string();
    ok_json(
        post(
            &app,
            "/api/auth/verify",
            None,
            json!({"type": "email", "token": token}),
        )
        .await,
        200,
    )
    .await;
    let first = login(&app, &victim).await;
    let user_id = first["user"]["id"].as_str().unwrap().to_string();
    let users_before = count(&app, "SELECT count(*) AS n FROM auth.users").await;
    let sessions_before = count(
        &app,
        &format!("SELECT count(*) AS n FROM auth.sessions WHERE user_id = '{user_id}'"),
    )
    .await;
    let mails_before = count(&app, "SELECT count(*) AS n FROM auth.mail_outbox").await;

    // The attacker signs up with the victim's email (other case, other password) and a fresh one.
    let attacker_password = "attacker password 12345";
    let r = post(
        &app,
        "/api/auth/signup",
        None,
        body(&victim.to_uppercase(), attacker_password),
    )
    .await;
    let taken_status = r.status().as_u16();
    let taken: serde_json::Value = r.json().await.unwrap();
    let fresh = unique_email();
    let r = post(
        &app,
        "/api/auth/signup",
        None,
        body(&fresh, attacker_password),
    )
    .await;
    let fresh_status = r.status().as_u16();
    let fresh_answer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(taken_status, fresh_status, "{taken} vs {fresh_answer}");
    assert_eq!(taken_status, 201);
    fn keys(v: &serde_json::Value) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(o) = v.as_object() {
            for (k, sub) in o {
                out.push(k.clone());
                out.extend(keys(sub).into_iter().map(|s| format!("{k}.{s}")));
            }
        }
        out.sort();
        out
    }
    assert_eq!(keys(&taken), keys(&fresh_answer));
    assert_eq!(keys(&taken), keys(&new_answer));
    assert!(taken.get("access_token").is_none() && taken.get("refresh_token").is_none());
    // It echoes what the attacker typed, never the stored address or id.
    assert_eq!(taken["user"]["email"], victim.to_uppercase());
    assert_ne!(taken["user"]["id"], json!(user_id));
    assert_eq!(taken["user"]["email_verified"], false);
    assert_eq!(fresh_answer["user"]["email_verified"], false);

    // The account is untouched: one new user (the fresh signup), no new session, and the
    // victim's password still works while the attacker's does not.
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM auth.users").await,
        users_before + 1
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) AS n FROM auth.sessions WHERE user_id = '{user_id}'")
        )
        .await,
        sessions_before
    );
    problem(
        password_grant(&app, &victim, attacker_password).await,
        401,
        "invalid_credentials",
    )
    .await;
    // The attacker's fresh account is unconfirmed: its own password is refused the same way,
    // so logging in after the signup tells nothing either.
    problem(
        password_grant(&app, &fresh, attacker_password).await,
        401,
        "invalid_credentials",
    )
    .await;
    let again = login(&app, &victim).await;
    assert_eq!(again["user"]["id"], json!(user_id));

    // The owner got an "account exists" mail at the stored address; the only other new mail is
    // the fresh signup's own verification. Nothing went to the attacker's spelling of the address.
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM auth.mail_outbox WHERE kind = 'account_exists' AND to_email = '{victim}'")).await,
        1
    );
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM auth.mail_outbox").await,
        mails_before + 2
    );
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM auth.mail_outbox WHERE kind = 'verify_email' AND to_email = '{fresh}'")).await,
        1
    );
    let mail = last_mail(&app, &victim).await;
    assert!(mail.contains("already has one"), "{mail}");
    // Again within the hour: the same answer, but no second mail (no inbox flooding).
    let r = post(
        &app,
        "/api/auth/signup",
        None,
        body(&victim, attacker_password),
    )
    .await;
    assert_eq!(r.status().as_u16(), 201);
    let again: serde_json::Value = r.json().await.unwrap();
    assert_eq!(keys(&again), keys(&fresh_answer));
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM auth.mail_outbox WHERE kind = 'account_exists' AND to_email = '{victim}'")).await,
        1
    );
    assert!(
        !mail.contains(attacker_password) && !mail.contains("token="),
        "{mail}"
    );
}

#[tokio::test]
async fn signup_refuses_bad_input_and_duplicates() {
    let app = spawn().await;
    let s = signup(&app).await;
    let base = json!({"email": unique_email(), "password": PASSWORD, "org_name": "X", "org_timezone": "Europe/London"});
    let mut dup = base.clone();
    dup["email"] = json!(s.email.to_uppercase());
    problem(
        post(&app, "/api/auth/signup", None, dup).await,
        409,
        "email_taken",
    )
    .await;
    let mut weak = base.clone();
    weak["password"] = json!("short");
    let b = problem(
        post(&app, "/api/auth/signup", None, weak).await,
        422,
        "weak_password",
    )
    .await;
    assert_eq!(b["field"], "password");
    let mut bad_email = base.clone();
    bad_email["email"] = json!("not-an-email");
    assert_eq!(
        problem(
            post(&app, "/api/auth/signup", None, bad_email).await,
            422,
            "invalid_field"
        )
        .await["field"],
        "email"
    );
    let mut bad_tz = base.clone();
    bad_tz["org_timezone"] = json!("not a zone");
    assert_eq!(
        problem(
            post(&app, "/api/auth/signup", None, bad_tz).await,
            422,
            "invalid_field"
        )
        .await["field"],
        "org_timezone"
    );
    let r = app
        .client
        .post(app.url("/api/auth/signup"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    problem(r, 400, "malformed_json").await;
    problem(
        post(&app, "/api/auth/token?grant_type=magic", None, json!({})).await,
        400,
        "unsupported_grant_type",
    )
    .await;
}

#[tokio::test]
async fn refresh_rotation_grace_then_reuse_kills_the_session_everywhere() {
    let app = spawn().await;
    let cal = other_service(&app).await;
    let s = signup(&app).await;
    let first = ok_json(refresh(&app, &s.refresh).await, 200).await;
    // Concurrent tab: the old token again, inside the grace interval, gets the current pair.
    let again = ok_json(refresh(&app, &s.refresh).await, 200).await;
    assert_eq!(again["refresh_token"], first["refresh_token"]);
    let access = first["access_token"].as_str().unwrap().to_string();
    assert_eq!(other_service_status(&cal, &access).await, 200);

    tokio::time::sleep(Duration::from_millis(2500)).await; // past AUTH_REFRESH_GRACE_SECS=2
    problem(
        refresh(&app, &s.refresh).await,
        401,
        "refresh_token_already_used",
    )
    .await;
    // The whole session is dead: its access token on another service, and its current refresh token.
    refused_within_a_second(&cal, &access).await;
    refused_within_a_second(&cal, &s.access).await;
    problem(
        refresh(&app, first["refresh_token"].as_str().unwrap()).await,
        401,
        "session_revoked",
    )
    .await;
    // ... and the audit log says so (read from a new session).
    let fresh = login(&app, &s.email).await;
    let log = ok_json(
        get(
            &app,
            "/api/auth/audit?action=refresh.reuse_detected",
            fresh["access_token"].as_str().unwrap(),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1, "{log}");
    // A forged counter or a garbage token is refused without harm.
    problem(refresh(&app, "garbage").await, 401, "invalid_refresh_token").await;
}

#[tokio::test]
async fn a_revoked_session_is_refused_by_another_service() {
    let app = spawn().await;
    let cal = other_service(&app).await;
    let s = signup(&app).await;
    let laptop = login(&app, &s.email).await;
    let laptop_access = laptop["access_token"].as_str().unwrap();
    let list = ok_json(get(&app, "/api/auth/sessions", &s.access).await, 200).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|i| i["current"] == true).count(), 1);
    let laptop_id = claims(laptop_access)["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(other_service_status(&cal, laptop_access).await, 200);

    // Another user cannot revoke it (their view: no such session).
    let stranger = signup(&app).await;
    let r = delete(
        &app,
        &format!("/api/auth/sessions/{laptop_id}"),
        &stranger.access,
    )
    .await;
    problem(r, 404, "not_found").await;
    assert_eq!(other_service_status(&cal, laptop_access).await, 200);

    let r = delete(&app, &format!("/api/auth/sessions/{laptop_id}"), &s.access).await;
    assert_eq!(r.status().as_u16(), 204);
    refused_within_a_second(&cal, laptop_access).await;
    assert_eq!(
        other_service_status(&cal, &s.access).await,
        200,
        "the current session is untouched"
    );
    let list = ok_json(get(&app, "/api/auth/sessions", &s.access).await, 200).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn password_change_needs_the_current_password_and_ends_other_sessions() {
    let app = spawn().await;
    let s = signup(&app).await;
    let other = login(&app, &s.email).await;
    let r = put(
        &app,
        "/api/auth/user",
        &s.access,
        json!({"password": "a brand new passphrase"}),
    )
    .await;
    problem(r, 422, "missing_field").await;
    let r = app
        .client
        .put(app.url("/api/auth/user"))
        .bearer_auth(&s.access)
        .json(
            &json!({"password": "a brand new passphrase", "current_password": "wrong wrong wrong"}),
        )
        .send()
        .await
        .unwrap();
    problem(r, 401, "invalid_credentials").await;
    let r = put(&app, "/api/auth/user", &s.access, json!({"password": "a brand new passphrase", "current_password": PASSWORD, "display_name": "Lee"})).await;
    assert_eq!(ok_json(r, 200).await["display_name"], "Lee");
    problem(
        get(
            &app,
            "/api/auth/user",
            other["access_token"].as_str().unwrap(),
        )
        .await,
        401,
        "session_revoked",
    )
    .await;
    ok_json(get(&app, "/api/auth/user", &s.access).await, 200).await;
    let r = password_grant(&app, &s.email, PASSWORD).await;
    problem(r, 401, "invalid_credentials").await;
    let r = password_grant(&app, &s.email, "a brand new passphrase").await;
    ok_json(r, 200).await;
}

#[tokio::test]
async fn the_sixth_failed_login_gets_429_and_a_security_event() {
    let app = spawn().await;
    let s = signup(&app).await;
    for _ in 0..5 {
        let r = password_grant(&app, &s.email, "not the password").await;
        problem(r, 401, "invalid_credentials").await;
    }
    // Even the right password is refused while the account is locked out.
    let r = password_grant(&app, &s.email, PASSWORD).await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900);
    problem(r, 429, "rate_limited").await;
    let log = ok_json(
        get(&app, "/api/auth/user/security-events", &s.access).await,
        200,
    )
    .await;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "login.failed").count(),
        5,
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "login.rate_limited")
            .count(),
        1,
        "{actions:?}"
    );
    let entry = &log["items"][0];
    assert!(
        entry["ip"].is_string() && entry["created_at"].is_string(),
        "{entry}"
    );
    // An unknown email answers exactly like a wrong password.
    let r = password_grant(&app, &unique_email(), PASSWORD).await;
    problem(r, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn client_credentials_give_service_tokens_only_to_configured_clients() {
    let app = spawn().await;
    let ok = ok_json(
        post(
            &app,
            "/api/auth/token?grant_type=client_credentials",
            None,
            json!({"client_id": "voice-webhook", "client_secret": CLIENT_SECRET}),
        )
        .await,
        200,
    )
    .await;
    let c = claims(ok["access_token"].as_str().unwrap());
    assert_eq!(c["sub"], "service:voice-webhook");
    assert_eq!(c["role"], "service");
    assert_eq!(c["aud"], "voxanne-internal");
    assert!(ok["refresh_token"].is_null());
    // A service token is not a user token: tenant routes refuse it.
    problem(
        get(&app, "/api/auth/user", ok["access_token"].as_str().unwrap()).await,
        401,
        "invalid_token",
    )
    .await;
    for (id, secret) in [
        ("voice-webhook", "wrong-secret-wrong-secret"),
        ("calendar", CLIENT_SECRET),
    ] {
        let r = post(
            &app,
            "/api/auth/token?grant_type=client_credentials",
            None,
            json!({"client_id": id, "client_secret": secret}),
        )
        .await;
        problem(r, 401, "invalid_client").await;
    }
}

#[tokio::test]
async fn logout_scopes() {
    let app = spawn().await;
    let s = signup(&app).await;
    let a = login(&app, &s.email).await;
    let b = login(&app, &s.email).await;
    let r = app
        .client
        .post(app.url("/api/auth/logout?scope=others"))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    for t in [&a, &b] {
        problem(
            get(&app, "/api/auth/user", t["access_token"].as_str().unwrap()).await,
            401,
            "session_revoked",
        )
        .await;
    }
    ok_json(get(&app, "/api/auth/user", &s.access).await, 200).await;
    let c = login(&app, &s.email).await;
    let r = app
        .client
        .post(app.url("/api/auth/logout?scope=global"))
        .bearer_auth(c["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    problem(
        get(&app, "/api/auth/user", &s.access).await,
        401,
        "session_revoked",
    )
    .await;
    let r = app
        .client
        .post(app.url("/api/auth/logout?scope=everything"))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        401,
        "a revoked session cannot even ask"
    );
}

#[tokio::test]
async fn only_the_gateway_appended_forwarded_address_is_believed() {
    for (trust, want) in [("true", "10.1.2.3"), ("false", "127.0.0.1")] {
        let app = spawn_with(&[("AUTH_TRUST_FORWARDED_FOR", trust)]).await;
        let s = signup(&app).await;
        let r = app
            .client
            .post(app.url("/api/auth/token?grant_type=password"))
            .header("x-forwarded-for", "6.6.6.6, 10.1.2.3")
            .header("user-agent", "Clinic Laptop/1.0")
            .json(&json!({"email": s.email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let t = ok_json(r, 200).await;
        let list = ok_json(
            get(
                &app,
                "/api/auth/sessions",
                t["access_token"].as_str().unwrap(),
            )
            .await,
            200,
        )
        .await;
        let current = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["current"] == true)
            .unwrap()
            .clone();
        assert_eq!(current["ip"], want, "trust={trust}");
        assert_eq!(current["user_agent"], "Clinic Laptop/1.0");
    }
}

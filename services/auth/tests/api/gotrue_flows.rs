//! GoTrue's mailed-token routes in the GoTrue dialect (ADR 0018): `GET /reauthenticate` and the
//! nonce accepted by `PUT /user`, `POST /verify` with GoTrue's bodies answering a session,
//! `POST /resend`, and `POST /logout` without a scope (GoTrue's default: global).

use serde_json::{Value, json};

use crate::clients::GOTRUE;
use crate::helpers::*;

fn go(r: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
    let r = r.header(GOTRUE.0, GOTRUE.1);
    match token {
        Some(t) => r.bearer_auth(t),
        None => r,
    }
}

async fn gotrue_error(r: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(r.headers()["x-supabase-api-version"], "2024-01-01");
    let e = ok_json(r, status).await;
    assert_eq!(e["code"], code, "{e}");
    e
}

async fn reauthenticate(app: &AuthApp, token: &str) -> reqwest::Response {
    go(
        app.client.get(app.url("/api/auth/reauthenticate")),
        Some(token),
    )
    .send()
    .await
    .unwrap()
}

async fn change_password(app: &AuthApp, token: &str, body: Value) -> reqwest::Response {
    go(app.client.put(app.url("/api/auth/user")), Some(token))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The nonce of the newest reauthentication mail to `email`.
async fn nonce(app: &AuthApp, email: &str) -> String {
    let mail = last_mail(app, email).await;
    let code = after(&mail, "Your confirmation code: ").to_string();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{mail}"
    );
    code
}

#[tokio::test]
async fn a_mailed_reauthentication_nonce_changes_the_password_once() {
    let app = spawn().await;
    let a = signup(&app).await;
    let b = signup(&app).await;
    let r = reauthenticate(&app, &a.access).await;
    assert_eq!(ok_json(r, 200).await, json!({}));
    let n = nonce(&app, &a.email).await;
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM auth.email_tokens WHERE purpose = 'reauthentication' AND used_at IS NULL AND token_hash <> sha256(convert_to('{n}', 'UTF8'))")).await,
        1,
        "stored hashed (with its user), one live"
    );
    // Another user's token with A's nonce: refused (a nonce is its user's only).
    let r = change_password(
        &app,
        &b.access,
        json!({"password": "b brand new passphrase", "nonce": n}),
    )
    .await;
    gotrue_error(r, 400, "reauthentication_not_valid").await;
    // A wrong nonce spends the live one: the right one no longer works (one guess per mail).
    let wrong = if n == "000000" { "111111" } else { "000000" };
    let r = change_password(
        &app,
        &a.access,
        json!({"password": "a brand new passphrase", "nonce": wrong}),
    )
    .await;
    gotrue_error(r, 400, "reauthentication_not_valid").await;
    let r = change_password(
        &app,
        &a.access,
        json!({"password": "a brand new passphrase", "nonce": n}),
    )
    .await;
    gotrue_error(r, 400, "reauthentication_not_valid").await;
    // A fresh nonce, without the current password: the change goes through.
    ok_json(reauthenticate(&app, &a.access).await, 200).await;
    let n = nonce(&app, &a.email).await;
    let r = change_password(
        &app,
        &a.access,
        json!({"password": "a brand new passphrase", "nonce": n, "code_challenge": null}),
    )
    .await;
    let u = ok_json(r, 200).await;
    assert_eq!(u["id"], a.user.as_str());
    assert_eq!(
        password_grant(&app, &a.email, "a brand new passphrase")
            .await
            .status(),
        200
    );
    assert_eq!(password_grant(&app, &a.email, PASSWORD).await.status(), 401);
    // Used once.
    let r = change_password(
        &app,
        &a.access,
        json!({"password": "yet another passphrase", "nonce": n}),
    )
    .await;
    gotrue_error(r, 400, "reauthentication_not_valid").await;
    // An expired nonce is refused.
    ok_json(reauthenticate(&app, &a.access).await, 200).await;
    let n = nonce(&app, &a.email).await;
    execute_sql(&app, "UPDATE auth.email_tokens SET expires_at = now() - interval '1 second' WHERE purpose = 'reauthentication'").await;
    let r = change_password(
        &app,
        &a.access,
        json!({"password": "yet another passphrase", "nonce": n}),
    )
    .await;
    gotrue_error(r, 400, "reauthentication_not_valid").await;
    // A weak password is refused before the nonce is spent.
    ok_json(reauthenticate(&app, &a.access).await, 200).await;
    let n = nonce(&app, &a.email).await;
    let r = change_password(&app, &a.access, json!({"password": "short", "nonce": n})).await;
    gotrue_error(r, 422, "weak_password").await;
    ok_json(
        change_password(
            &app,
            &a.access,
            json!({"password": "yet another passphrase", "nonce": n}),
        )
        .await,
        200,
    )
    .await;
    // Mails are limited per user (5 an hour): the sixth request is GoTrue's 429.
    ok_json(reauthenticate(&app, &a.access).await, 200).await;
    let r = reauthenticate(&app, &a.access).await;
    gotrue_error(r, 429, "over_request_rate_limit").await;
    // No token: GoTrue's 401 no_authorization.
    let r = go(app.client.get(app.url("/api/auth/reauthenticate")), None)
        .send()
        .await
        .unwrap();
    gotrue_error(r, 401, "no_authorization").await;
}

#[tokio::test]
async fn a_nonce_does_not_replace_the_second_factor() {
    let app = spawn().await;
    let s = signup(&app).await;
    let aal2 = crate::mfa::enrol(&app, &s).await.aal2_access;
    // A fresh aal1 login of the enrolled user: the nonce is mailed, but the change needs aal2.
    let aal1 = login(&app, &s.email).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = reauthenticate(&app, &aal2).await;
    ok_json(r, 200).await;
    let n = nonce(&app, &s.email).await;
    let r = change_password(
        &app,
        &aal1,
        json!({"password": "a brand new passphrase", "nonce": n}),
    )
    .await;
    assert!(matches!(r.status().as_u16(), 403), "{}", r.status());
    ok_json(
        change_password(
            &app,
            &aal2,
            json!({"password": "a brand new passphrase", "nonce": n}),
        )
        .await,
        200,
    )
    .await;
}

#[tokio::test]
async fn gotrue_verify_answers_a_session_and_resend_mails_a_new_link() {
    let app = spawn_with(&[("AUTH_SIGNUP_CONFIRM_EMAIL", "true")]).await;
    let other = other_service(&app).await;
    let email = unique_email();
    let r = go(app.client.post(app.url("/api/auth/signup")), None)
        .json(&json!({"email": email, "password": PASSWORD, "data": {}}))
        .send()
        .await
        .unwrap();
    ok_json(r, 200).await;
    // Resend: a second link for the unverified address; `{}` for an unknown one too.
    let resend = |email: String, kind: &'static str| {
        go(app.client.post(app.url("/api/auth/resend")), None)
            .json(&json!({"type": kind, "email": email, "gotrue_meta_security": {"captcha_token": null}}))
            .send()
    };
    assert_eq!(
        ok_json(resend(email.clone(), "signup").await.unwrap(), 200).await,
        json!({})
    );
    assert_eq!(
        ok_json(resend(unique_email(), "signup").await.unwrap(), 200).await,
        json!({})
    );
    let mails = |e: String| {
        let app = &app;
        async move {
            count(app, &format!("SELECT count(*) AS n FROM auth.mail_outbox WHERE to_email = '{e}' AND kind = 'verify_email'")).await
        }
    };
    assert_eq!(mails(email.clone()).await, 2);
    gotrue_error(
        resend(email.clone(), "sms").await.unwrap(),
        400,
        "validation_failed",
    )
    .await;
    // The newest link's token, as GoTrue's `token_hash`: a session (amr otp), valid elsewhere.
    let token = after(&last_mail(&app, &email).await, "verify-email#token=").to_string();
    let verify = |body: Value| {
        go(app.client.post(app.url("/api/auth/verify")), None)
            .json(&body)
            .send()
    };
    let s = ok_json(
        verify(json!({"type": "signup", "token_hash": token, "gotrue_meta_security": {}, "options": {}}))
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(s["token_type"], "bearer");
    assert_eq!(s["user"]["email"], email.as_str());
    assert!(s["user"]["email_confirmed_at"].is_string(), "{s}");
    let access = s["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["amr"][0]["method"], "otp");
    assert_eq!(other_service_status(&other, access).await, 200);
    // Used once: GoTrue's 403 otp_expired; resend for a verified address mails nothing.
    gotrue_error(
        verify(json!({"type": "email", "token_hash": token}))
            .await
            .unwrap(),
        403,
        "otp_expired",
    )
    .await;
    ok_json(resend(email.clone(), "signup").await.unwrap(), 200).await;
    assert_eq!(mails(email.clone()).await, 2);
    // Types we do not offer, a missing token: 400 validation_failed.
    for body in [
        json!({"type": "magiclink", "token_hash": "x"}),
        json!({"type": "sms", "phone": "+15550100", "token": "123456"}),
        json!({"type": "signup"}),
    ] {
        gotrue_error(verify(body).await.unwrap(), 400, "validation_failed").await;
    }

    // Recovery: the new password comes in the same request; every older session ends.
    let r = go(app.client.post(app.url("/api/auth/recover")), None)
        .json(&json!({"email": email, "gotrue_meta_security": {}}))
        .send()
        .await
        .unwrap();
    ok_json(r, 200).await;
    let token = after(&last_mail(&app, &email).await, "reset-password#token=").to_string();
    gotrue_error(
        verify(json!({"type": "recovery", "token_hash": token}))
            .await
            .unwrap(),
        400,
        "validation_failed",
    )
    .await;
    let s2 = ok_json(
        verify(
            json!({"type": "recovery", "token_hash": token, "password": "a brand new passphrase"}),
        )
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        claims(s2["access_token"].as_str().unwrap())["amr"][0]["method"],
        "password"
    );
    refused_within_a_second(&other, access).await;
    assert_eq!(
        other_service_status(&other, s2["access_token"].as_str().unwrap()).await,
        200
    );
    assert_eq!(
        password_grant(&app, &email, "a brand new passphrase")
            .await
            .status(),
        200
    );
    gotrue_error(
        verify(
            json!({"type": "recovery", "token_hash": token, "password": "another passphrase x"}),
        )
        .await
        .unwrap(),
        403,
        "otp_expired",
    )
    .await;
    // Our dialect is unchanged: strict body, problem+json.
    problem(
        post(
            &app,
            "/api/auth/verify",
            None,
            json!({"type": "email", "token_hash": token}),
        )
        .await,
        422,
        "invalid_field",
    )
    .await;
}

#[tokio::test]
async fn gotrue_logout_without_scope_is_global_ours_stays_local() {
    let app = spawn().await;
    let other = other_service(&app).await;
    let s = signup(&app).await;
    let second = login(&app, &s.email).await;
    let second = second["access_token"].as_str().unwrap().to_string();
    // Ours: no scope = this session only.
    let third = login(&app, &s.email).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(&app, "/api/auth/logout", Some(&third), json!({})).await;
    assert_eq!(r.status(), 204);
    refused_within_a_second(&other, &third).await;
    assert_eq!(other_service_status(&other, &second).await, 200);
    // GoTrue: no scope = every session of the user.
    let r = go(
        app.client.post(app.url("/api/auth/logout")),
        Some(&s.access),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 204);
    refused_within_a_second(&other, &s.access).await;
    refused_within_a_second(&other, &second).await;
    // A scope GoTrue does not know: 400 validation_failed.
    let fresh = login(&app, &s.email).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = go(
        app.client.post(app.url("/api/auth/logout?scope=device")),
        Some(&fresh),
    )
    .send()
    .await
    .unwrap();
    gotrue_error(r, 400, "validation_failed").await;
}

//! Password reset and email verification through the mail outbox.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn password_reset_is_single_use_and_ends_every_session() {
    let app = spawn().await;
    let s = signup(&app).await;
    let laptop = login(&app, &s.email).await;
    let r = post(
        &app,
        "/api/auth/recover",
        None,
        json!({"email": s.email.to_uppercase()}),
    )
    .await;
    assert_eq!(r.status().as_u16(), 202);
    let mail = last_mail(&app, &s.email).await;
    let token = after(&mail, "reset-password#token=").to_string();
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM auth.email_tokens WHERE token_hash = sha256(convert_to('{token}', 'UTF8')) AND purpose = 'recovery'")).await, 1, "stored hashed");

    // An unknown address gets the same answer and no mail.
    let before = count(&app, "SELECT count(*) AS n FROM auth.mail_outbox").await;
    let r = post(
        &app,
        "/api/auth/recover",
        None,
        json!({"email": unique_email()}),
    )
    .await;
    assert_eq!(r.status().as_u16(), 202);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM auth.mail_outbox").await,
        before
    );

    problem(
        post(
            &app,
            "/api/auth/verify",
            None,
            json!({"type": "recovery", "token": token, "password": "short"}),
        )
        .await,
        422,
        "weak_password",
    )
    .await;
    let done = ok_json(
        post(
            &app,
            "/api/auth/verify",
            None,
            json!({"type": "recovery", "token": token, "password": "a new and long passphrase"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(done["sessions_ended"], 2);
    problem(
        get(&app, "/api/auth/user", &s.access).await,
        401,
        "session_revoked",
    )
    .await;
    problem(
        get(
            &app,
            "/api/auth/user",
            laptop["access_token"].as_str().unwrap(),
        )
        .await,
        401,
        "session_revoked",
    )
    .await;
    problem(
        post(
            &app,
            "/api/auth/verify",
            None,
            json!({"type": "recovery", "token": token, "password": "yet another passphrase"}),
        )
        .await,
        400,
        "invalid_or_expired_token",
    )
    .await;
    let r = password_grant(&app, &s.email, PASSWORD).await;
    problem(r, 401, "invalid_credentials").await;
    let r = password_grant(&app, &s.email, "a new and long passphrase").await;
    let t = ok_json(r, 200).await;
    assert_eq!(
        t["user"]["email_verified"], true,
        "the reset mail proved the address"
    );
    let log = ok_json(
        get(
            &app,
            "/api/auth/audit?action=password.reset",
            t["access_token"].as_str().unwrap(),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn reset_links_expire() {
    let app = spawn_with(&[("AUTH_RESET_TTL_SECS", "1")]).await;
    let s = signup(&app).await;
    post(&app, "/api/auth/recover", None, json!({"email": s.email})).await;
    let token = after(&last_mail(&app, &s.email).await, "reset-password#token=").to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    problem(
        post(
            &app,
            "/api/auth/verify",
            None,
            json!({"type": "recovery", "token": token, "password": "a new and long passphrase"}),
        )
        .await,
        400,
        "invalid_or_expired_token",
    )
    .await;
}

#[tokio::test]
async fn reset_requests_are_limited_per_ip() {
    let app = spawn_with(&[("AUTH_RESET_PER_IP_PER_HOUR", "3")]).await;
    for _ in 0..3 {
        assert_eq!(
            post(
                &app,
                "/api/auth/recover",
                None,
                json!({"email": unique_email()})
            )
            .await
            .status()
            .as_u16(),
            202
        );
    }
    let r = post(
        &app,
        "/api/auth/recover",
        None,
        json!({"email": unique_email()}),
    )
    .await;
    assert!(r.headers().contains_key("retry-after"));
    problem(r, 429, "rate_limited").await;
}

#[tokio::test]
async fn signup_mails_an_email_verification_link() {
    let app = spawn().await;
    let s = signup(&app).await;
    let me = ok_json(get(&app, "/api/auth/user", &s.access).await, 200).await;
    assert_eq!(me["email_verified"], false);
    let token = after(&last_mail(&app, &s.email).await, "verify-email#token=").to_string();
    problem(
        post(
            &app,
            "/api/auth/verify",
            None,
            json!({"type": "email", "token": "nope"}),
        )
        .await,
        400,
        "invalid_or_expired_token",
    )
    .await;
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
    let me = ok_json(get(&app, "/api/auth/user", &s.access).await, 200).await;
    assert_eq!(me["email_verified"], true);
    problem(
        post(
            &app,
            "/api/auth/verify",
            None,
            json!({"type": "email", "token": token}),
        )
        .await,
        400,
        "invalid_or_expired_token",
    )
    .await;
}

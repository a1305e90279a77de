//! Only genuine Vapi webhooks get in: a missing or wrong secret, a bad HMAC, a stale timestamp
//! and a replayed signature are 401 problem+json, and nothing is stored for them.

use serde_json::{Value, json};

use crate::helpers::{
    App, OLD_SECRET, SECRET, call, clinic, count, message, problem, spawn, spawn_with,
};

async fn stored(app: &App) -> i64 {
    count(app, "SELECT (SELECT count(*) FROM voice.webhook_deliveries) + (SELECT count(*) FROM voice.calls) AS n").await
}

fn report() -> Value {
    message(
        "end-of-call-report",
        &call("call-auth-1", "pn-unknown"),
        "+15550123400",
        json!({"endedReason": "customer-ended-call", "artifact": {"transcript": "hello"}, "analysis": {}}),
    )
}

fn sign(secret: &str, ts: &str, body: &[u8]) -> String {
    voice_webhook::domain::signature::sign(secret.as_bytes(), ts, body)
}

#[tokio::test]
async fn a_missing_or_wrong_secret_is_refused_and_nothing_is_stored() {
    let app = spawn().await;
    let _clinic = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let body = report();
    let r = app
        .client
        .post(app.url("/api/webhooks/vapi"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 401).await["code"], "invalid_webhook_credentials");
    for wrong in ["nope", "test-vapi-secre", "test-vapi-secret-", ""] {
        let r = app
            .client
            .post(app.url("/api/webhooks/vapi"))
            .header("x-vapi-secret", wrong)
            .json(&body)
            .send()
            .await
            .unwrap();
        problem(r, 401).await;
    }
    // Authentication comes before parsing: garbage with no secret is 401, not 400.
    let r = app
        .client
        .post(app.url("/api/webhooks/vapi"))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    problem(r, 401).await;
    assert_eq!(stored(&app).await, 0);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("voice_webhook_auth_failures_total"),
        "refusals are counted"
    );

    // The current and, during a rotation, the previous secret are accepted.
    for secret in [SECRET, OLD_SECRET] {
        let r = app
            .client
            .post(app.url("/api/webhooks/vapi"))
            .header("x-vapi-secret", secret)
            .json(&json!({"message": {"type": "hang", "call": {"id": "c-h"}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
async fn a_bearer_secret_in_authorization_works_when_configured() {
    let app = spawn_with(&[("VAPI_SECRET_HEADER", "Authorization")]).await;
    let body = json!({"message": {"type": "hang"}});
    let r = app
        .client
        .post(app.url("/api/webhooks/vapi"))
        .bearer_auth(SECRET)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .post(app.url("/api/webhooks/vapi"))
        .header("x-vapi-secret", SECRET)
        .json(&body)
        .send()
        .await
        .unwrap();
    problem(r, 401).await;
    let r = app
        .client
        .post(app.url("/api/webhooks/vapi"))
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    problem(r, 401).await;
}

#[tokio::test]
async fn hmac_bad_signatures_stale_timestamps_and_replays_are_refused() {
    let app = spawn_with(&[("VAPI_WEBHOOK_AUTH", "hmac")]).await;
    let _clinic = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let body = serde_json::to_vec(&report()).unwrap();
    let now = chrono::Utc::now().timestamp();
    let send = |ts: String, sig: Option<String>, body: Vec<u8>| {
        let mut req = app
            .client
            .post(app.url("/api/webhooks/vapi"))
            .header("content-type", "application/json")
            .header("x-timestamp", ts)
            .body(body);
        if let Some(s) = sig {
            req = req.header("x-signature", s);
        }
        req.send()
    };
    // No signature; a signature by another key; over another body; a stale and a future timestamp.
    problem(
        send(now.to_string(), None, body.clone()).await.unwrap(),
        401,
    )
    .await;
    problem(
        send(
            now.to_string(),
            Some(sign("other", &now.to_string(), &body)),
            body.clone(),
        )
        .await
        .unwrap(),
        401,
    )
    .await;
    problem(
        send(
            now.to_string(),
            Some(sign(SECRET, &now.to_string(), b"{}")),
            body.clone(),
        )
        .await
        .unwrap(),
        401,
    )
    .await;
    let stale = (now - 301).to_string();
    problem(
        send(
            stale.clone(),
            Some(sign(SECRET, &stale, &body)),
            body.clone(),
        )
        .await
        .unwrap(),
        401,
    )
    .await;
    let future = (now + 400).to_string();
    problem(
        send(
            future.clone(),
            Some(sign(SECRET, &future, &body)),
            body.clone(),
        )
        .await
        .unwrap(),
        401,
    )
    .await;
    // The shared secret alone does not pass in HMAC mode.
    let r = app
        .client
        .post(app.url("/api/webhooks/vapi"))
        .header("x-vapi-secret", SECRET)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    problem(r, 401).await;
    assert_eq!(stored(&app).await, 0, "nothing stored for refused webhooks");

    // A correct signature (milliseconds are accepted too) gets in once; the same one again is a replay.
    let ts = format!("{}000", now);
    let good = sign(SECRET, &ts, &body);
    let r = send(ts.clone(), Some(good.clone()), body.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // What it changes is applied in the background: count once that is done.
    crate::helpers::settled(&app).await;
    let after_first = stored(&app).await;
    assert!(after_first > 0);
    let r = send(ts, Some(good), body.clone()).await.unwrap();
    assert_eq!(problem(r, 401).await["code"], "invalid_webhook_credentials");
    assert_eq!(stored(&app).await, after_first, "a replay stores nothing");
}

#[tokio::test]
async fn per_org_secrets_rotate_with_a_grace_period_and_pin_the_org() {
    let app = spawn().await;
    let a = clinic(&app, "Clinic A", "America/New_York", "+15550123400").await;
    let b = clinic(&app, "Clinic B", "America/New_York", "+15550123401").await;
    let staff = app.auth.token(a.org, tenancy::Role::Staff);
    let r =
        crate::helpers::post(&app, "/api/voice/webhook-secret/rotate", &staff, &json!({})).await;
    assert_eq!(problem(r, 403).await["code"], "insufficient_role");
    let r = crate::helpers::post(
        &app,
        "/api/voice/webhook-secret/rotate",
        &a.admin,
        &json!({"grace_hours": 999}),
    )
    .await;
    assert_eq!(problem(r, 422).await["field"], "grace_hours");
    // A credential change needs a recent sign-in (issue 11 item 2): an admin token whose
    // sign-in is 11 minutes old is refused and nothing rotates.
    let stale = app
        .auth
        .token_signed_in_ago(a.org, tenancy::Role::Admin, 660);
    let r =
        crate::helpers::post(&app, "/api/voice/webhook-secret/rotate", &stale, &json!({})).await;
    assert_eq!(problem(r, 403).await["code"], "reauthentication_needed");
    let rotate = || async {
        let r = crate::helpers::post(
            &app,
            "/api/voice/webhook-secret/rotate",
            &a.admin,
            &json!({}),
        )
        .await;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };
    let first = rotate().await;
    let path = first["webhook_path"].as_str().unwrap().to_string();
    assert_eq!(path, format!("/api/webhooks/vapi/{}", a.org));
    let s1 = first["secret"].as_str().unwrap().to_string();
    let send = |secret: String, body: Value| {
        app.client
            .post(app.url(&path))
            .header("x-vapi-secret", secret)
            .json(&body)
            .send()
    };
    let hang = json!({"message": {"type": "hang", "call": {"id": "c-org-1"}}});
    // The org's own secret replaces the global one on its URL.
    problem(send(SECRET.into(), hang.clone()).await.unwrap(), 401).await;
    assert_eq!(send(s1.clone(), hang.clone()).await.unwrap().status(), 200);
    // Rotation: the new one and, during the grace period, the old one.
    let s2 = rotate().await["secret"].as_str().unwrap().to_string();
    assert_ne!(s1, s2);
    assert_eq!(send(s2.clone(), hang.clone()).await.unwrap().status(), 200);
    assert_eq!(send(s1.clone(), hang.clone()).await.unwrap().status(), 200);
    crate::helpers::admin_exec(
        &app,
        "UPDATE voice.webhook_secrets SET previous_valid_until = now() - interval '1 second'",
    )
    .await;
    problem(send(s1.clone(), hang.clone()).await.unwrap(), 401).await;
    // Stored sealed: the secret's text is nowhere in the row.
    let plain = count(&app, &format!("SELECT count(*) AS n FROM voice.webhook_secrets WHERE position(convert_to('{s2}', 'UTF8') in ciphertext) > 0")).await;
    assert_eq!(plain, 0);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM voice.webhook_secrets").await,
        1
    );

    // A payload naming B's number on A's URL is never written under B (nor under A).
    let for_b = message(
        "status-update",
        &call("call-cross-1", &b.vapi_number_id),
        &b.number,
        json!({"status": "in-progress"}),
    );
    assert_eq!(send(s2.clone(), for_b).await.unwrap().status(), 200);
    crate::helpers::settled(&app).await;
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM voice.calls WHERE org_id = '{}'",
                b.org
            )
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM voice.webhook_deliveries WHERE org_id = '{}'",
                b.org
            )
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM voice.calls WHERE vapi_call_id = 'call-cross-1'"
        )
        .await,
        0
    );
    // A's own call on A's URL is applied under A.
    let for_a = message(
        "status-update",
        &call("call-own-1", &a.vapi_number_id),
        &a.number,
        json!({"status": "in-progress"}),
    );
    assert_eq!(send(s2, for_a).await.unwrap().status(), 200);
    crate::helpers::settled(&app).await;
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM voice.calls WHERE org_id = '{}' AND vapi_call_id = 'call-own-1'", a.org)).await, 1);
    // Other orgs without their own secret keep using the global one on their URL.
    let r = app
        .client
        .post(app.url(&format!("/api/webhooks/vapi/{}", b.org)))
        .header("x-vapi-secret", SECRET)
        .json(&hang)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_signed_delivery_that_failed_with_a_5xx_is_accepted_again_and_a_processed_one_is_not() {
    let app = spawn_with(&[("VAPI_WEBHOOK_AUTH", "hmac")]).await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let send = |ts: &str, body: &[u8]| {
        app.client
            .post(app.url("/api/webhooks/vapi"))
            .header("content-type", "application/json")
            .header("x-timestamp", ts)
            .header("x-signature", sign(SECRET, ts, body))
            .body(body.to_vec())
            .send()
    };
    let ts = chrono::Utc::now().timestamp().to_string();
    let body = serde_json::to_vec(&message(
        "assistant-request",
        &call("call-retry-1", &c.vapi_number_id),
        &c.number,
        json!({}),
    ))
    .unwrap();

    // The database refuses the call row: the delivery fails with a server error.
    crate::helpers::admin_exec(&app, "REVOKE INSERT ON voice.calls FROM svc_voice").await;
    let r = send(&ts, &body).await.unwrap();
    assert!(r.status().is_server_error(), "{}", r.status());
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM voice.calls").await,
        0
    );

    // Vapi retries the very same signed delivery once the database is back: it is applied.
    crate::helpers::admin_exec(&app, "GRANT INSERT ON voice.calls TO svc_voice").await;
    let r = send(&ts, &body).await.unwrap();
    assert_eq!(
        r.status(),
        200,
        "the retry of a failed delivery is accepted"
    );
    let a: Value = r.json().await.unwrap();
    assert!(a["assistant"].is_object(), "{a}");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM voice.calls WHERE vapi_call_id = 'call-retry-1'"
        )
        .await,
        1
    );

    // Processed once: the same signature again is a replay.
    let r = send(&ts, &body).await.unwrap();
    assert_eq!(problem(r, 401).await["code"], "invalid_webhook_credentials");

    // A delivery refused for what it is (4xx) was processed too: its replay is refused.
    let broken = b"{\"message\": ".to_vec();
    let r = send(&ts, &broken).await.unwrap();
    assert_eq!(problem(r, 400).await["code"], "malformed_json");
    let r = send(&ts, &broken).await.unwrap();
    assert_eq!(problem(r, 401).await["code"], "invalid_webhook_credentials");
}

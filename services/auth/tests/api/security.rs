//! Issue 11, auth: a user's own MFA is enforced, sensitive operations need a recent
//! authentication (step-up), limits are counted before the work they guard, and a login flood
//! is shed instead of queued.

use std::time::Duration;

use auth::domain::totp;
use serde_json::{Value, json};

use crate::helpers::*;

fn code_at_offset(secret: &[u8], offset_secs: i64) -> String {
    let now = chrono::Utc::now().timestamp() + offset_secs;
    totp::code_at(secret, u64::try_from(now).unwrap())
}

struct Factor {
    id: String,
    secret: Vec<u8>,
    aal2_access: String,
    recovery: Vec<String>,
}

async fn enrol(app: &AuthApp, access: &str) -> Factor {
    let e = ok_json(
        post(
            app,
            "/api/auth/factors",
            Some(access),
            json!({"friendly_name": "phone"}),
        )
        .await,
        201,
    )
    .await;
    let id = e["id"].as_str().unwrap().to_string();
    let secret = totp::base32_decode(e["totp"]["secret"].as_str().unwrap()).unwrap();
    let v = verify_code(app, access, &id, &code_at_offset(&secret, 0)).await;
    let v = ok_json(v, 200).await;
    Factor {
        id,
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

async fn open_challenge(app: &AuthApp, access: &str, factor: &str) -> String {
    let b = ok_json(
        post(
            app,
            &format!("/api/auth/factors/{factor}/challenge"),
            Some(access),
            json!({}),
        )
        .await,
        201,
    )
    .await;
    b["id"].as_str().unwrap().to_string()
}

async fn verify_with(app: &AuthApp, access: &str, factor: &str, body: Value) -> reqwest::Response {
    let ch = open_challenge(app, access, factor).await;
    let mut body = body;
    body["challenge_id"] = json!(ch);
    post(
        app,
        &format!("/api/auth/factors/{factor}/verify"),
        Some(access),
        body,
    )
    .await
}

async fn verify_code(app: &AuthApp, access: &str, factor: &str, code: &str) -> reqwest::Response {
    verify_with(app, access, factor, json!({"code": code})).await
}

async fn audit_rows(app: &AuthApp, action: &str) -> i64 {
    count(
        app,
        &format!("SELECT count(*) AS n FROM auth.audit_log WHERE action = '{action}'"),
    )
    .await
}

/// Security events about a person (`auth.user_security_events`, item 7c) with `action`.
async fn user_event_rows(app: &AuthApp, action: &str) -> i64 {
    count(
        app,
        &format!("SELECT count(*) AS n FROM auth.user_security_events WHERE action = '{action}'"),
    )
    .await
}

/// Item 2: the password grant of a user who enrolled TOTP gives an aal1 token that nothing but
/// reaching aal2 accepts — here or in any other service — even though the org does not require
/// MFA.
#[tokio::test]
async fn a_user_with_a_verified_factor_must_reach_aal2_after_a_password_login() {
    let app = spawn().await;
    let other = other_service(&app).await;
    let s = signup(&app).await;
    let f = enrol(&app, &s.access).await;

    let aal1 = login(&app, &s.email).await;
    let token = aal1["access_token"].as_str().unwrap();
    let c = claims(token);
    assert_eq!(c["aal"], "aal1");
    assert_eq!(c["app_metadata"]["mfa_required"], true, "{c}");

    // Refused everywhere but on the way to aal2.
    problem(get(&app, "/api/orgs", token).await, 403, "mfa_required").await;
    problem(
        get(&app, "/api/auth/user", token).await,
        403,
        "mfa_required",
    )
    .await;
    problem(
        get(&app, "/api/auth/sessions", token).await,
        403,
        "mfa_required",
    )
    .await;
    assert_eq!(other_service_status(&other, token).await, 403);
    problem(
        delete(&app, &format!("/api/auth/factors/{}", f.id), token).await,
        403,
        "aal2_required",
    )
    .await;
    problem(
        put(
            &app,
            "/api/auth/user",
            token,
            json!({"password": "a brand new passphrase", "current_password": PASSWORD}),
        )
        .await,
        403,
        "mfa_required",
    )
    .await;
    // Reading its own factors, the challenge and the verification work at aal1.
    let list = ok_json(get(&app, "/api/auth/factors", token).await, 200).await;
    assert_eq!(list["items"][0]["status"], "verified");
    // The next 30-second step: the enrolment's step cannot be replayed.
    let v = ok_json(
        verify_code(&app, token, &f.id, &code_at_offset(&f.secret, 30)).await,
        200,
    )
    .await;
    let aal2 = v["access_token"].as_str().unwrap();
    assert_eq!(claims(aal2)["aal"], "aal2");
    ok_json(get(&app, "/api/orgs", aal2).await, 200).await;
    ok_json(get(&app, "/api/auth/user", aal2).await, 200).await;
    assert_eq!(other_service_status(&other, aal2).await, 200);

    // A user without a factor is unaffected: aal1 is enough.
    let plain = signup(&app).await;
    assert_eq!(
        claims(&plain.access)["app_metadata"]["mfa_required"],
        Value::Null
    );
    ok_json(get(&app, "/api/orgs", &plain.access).await, 200).await;
    // Signing out of this device works at aal1.
    let again = login(&app, &s.email).await;
    let r = post(
        &app,
        "/api/auth/logout",
        Some(again["access_token"].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert_eq!(r.status().as_u16(), 204);
    let _ = f.aal2_access;
}

/// Item 2: sensitive operations need a sign-in within the step-up window (2 s here), and a
/// refresh does not renew it; `POST /api/auth/reauthenticate` (password) or verifying the
/// factor again does.
#[tokio::test]
async fn sensitive_operations_need_a_recent_authentication() {
    let app = spawn_with(&[("AUTH_STEP_UP_MAX_AGE_SECS", "2")]).await;
    let s = signup(&app).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let fresh = ok_json(refresh(&app, &s.refresh).await, 200).await;
    let stale = fresh["access_token"].as_str().unwrap().to_string();

    let change = json!({"password": "a brand new passphrase", "current_password": PASSWORD});
    problem(
        put(&app, "/api/auth/user", &stale, change.clone()).await,
        403,
        "reauthentication_needed",
    )
    .await;
    problem(
        post(
            &app,
            "/api/auth/logout?scope=global",
            Some(&stale),
            json!({}),
        )
        .await,
        403,
        "reauthentication_needed",
    )
    .await;
    problem(
        post(
            &app,
            "/api/auth/logout?scope=others",
            Some(&stale),
            json!({}),
        )
        .await,
        403,
        "reauthentication_needed",
    )
    .await;
    problem(
        delete(&app, &format!("/api/orgs/{}", s.org), &stale).await,
        403,
        "reauthentication_needed",
    )
    .await;
    problem(
        patch(
            &app,
            &format!("/api/orgs/{}/members/{}", s.org, s.user),
            &stale,
            json!({"role": "admin"}),
        )
        .await,
        403,
        "reauthentication_needed",
    )
    .await;
    problem(
        post(&app, "/api/auth/factors", Some(&stale), json!({})).await,
        403,
        "reauthentication_needed",
    )
    .await;
    // Nothing changed: the password is still the old one.
    login(&app, &s.email).await;

    // A wrong password does not step up (and is audited); the right one does.
    problem(
        post(
            &app,
            "/api/auth/reauthenticate",
            Some(&stale),
            json!({"password": "not my password at all"}),
        )
        .await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(audit_rows(&app, "reauthentication.failed").await, 1);
    let stepped = ok_json(
        post(
            &app,
            "/api/auth/reauthenticate",
            Some(&stale),
            json!({"password": PASSWORD}),
        )
        .await,
        200,
    )
    .await;
    let stepped = stepped["access_token"].as_str().unwrap();
    assert_eq!(claims(stepped)["session_id"], claims(&stale)["session_id"]);
    ok_json(put(&app, "/api/auth/user", stepped, change).await, 200).await;

    // With a factor: aal2 alone is not enough once the verification is old.
    let s2 = signup(&app).await;
    let f = enrol(&app, &s2.access).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let list = ok_json(
        post(
            &app,
            "/api/auth/factors/recovery-codes/regenerate",
            Some(&f.aal2_access),
            json!({}),
        )
        .await,
        403,
    )
    .await;
    assert_eq!(list["code"], "reauthentication_needed");
    // A password is not a second factor: the enrolled user steps up by verifying again.
    let by_password = ok_json(
        post(
            &app,
            "/api/auth/reauthenticate",
            Some(&f.aal2_access),
            json!({"password": PASSWORD}),
        )
        .await,
        200,
    )
    .await;
    problem(
        delete(
            &app,
            &format!("/api/auth/factors/{}", f.id),
            by_password["access_token"].as_str().unwrap(),
        )
        .await,
        403,
        "reauthentication_needed",
    )
    .await;
    let again = ok_json(
        verify_code(&app, &f.aal2_access, &f.id, &code_at_offset(&f.secret, 30)).await,
        200,
    )
    .await;
    let recent = again["access_token"].as_str().unwrap();
    let r = delete(&app, &format!("/api/auth/factors/{}", f.id), recent).await;
    assert_eq!(r.status().as_u16(), 204);
}

/// Item 7(a): recovery codes are stored salted and slow (never the SHA-256 of the code), work
/// once, and regenerating (step-up) invalidates every old one.
#[tokio::test]
async fn recovery_codes_are_salted_and_regenerated_codes_replace_the_old_ones() {
    let app = spawn().await;
    let s = signup(&app).await;
    let f = enrol(&app, &s.access).await;
    assert_eq!(f.recovery.len(), 10);
    // Stored: 16-byte salt + 32-byte argon2id output, one salt per user, never sha256(code).
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM auth.recovery_codes WHERE length(code_hash) = 48"
        )
        .await,
        10
    );
    let normalized: String = f.recovery[0]
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM auth.recovery_codes WHERE code_hash = sha256('{normalized}'::bytea)")).await,
        0
    );
    assert_eq!(
        count(&app, "SELECT count(DISTINCT substring(code_hash from 1 for 16)) AS n FROM auth.recovery_codes").await,
        1
    );

    // A code works once, from an aal1 session.
    let aal1 = login(&app, &s.email).await;
    let t = aal1["access_token"].as_str().unwrap();
    ok_json(
        verify_with(
            &app,
            t,
            &f.id,
            json!({"recovery_code": f.recovery[0].to_uppercase()}),
        )
        .await,
        200,
    )
    .await;
    let aal1 = login(&app, &s.email).await;
    let t = aal1["access_token"].as_str().unwrap();
    problem(
        verify_with(&app, t, &f.id, json!({"recovery_code": f.recovery[0]})).await,
        401,
        "invalid_mfa_code",
    )
    .await;

    // Regenerate: aal1 is refused; aal2 (recent) gets 10 new codes; the old ones stop working.
    problem(
        post(
            &app,
            "/api/auth/factors/recovery-codes/regenerate",
            Some(t),
            json!({}),
        )
        .await,
        403,
        "aal2_required",
    )
    .await;
    let fresh = ok_json(
        post(
            &app,
            "/api/auth/factors/recovery-codes/regenerate",
            Some(&f.aal2_access),
            json!({}),
        )
        .await,
        200,
    )
    .await;
    let new_codes: Vec<String> = fresh["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(new_codes.len(), 10);
    assert!(new_codes.iter().all(|c| !f.recovery.contains(c)));
    assert_eq!(audit_rows(&app, "mfa.recovery_codes_regenerated").await, 1);
    problem(
        verify_with(&app, t, &f.id, json!({"recovery_code": f.recovery[1]})).await,
        401,
        "invalid_mfa_code",
    )
    .await;
    ok_json(
        verify_with(&app, t, &f.id, json!({"recovery_code": new_codes[3]})).await,
        200,
    )
    .await;
    // Without a verified factor there is nothing to regenerate.
    let plain = signup(&app).await;
    problem(
        post(
            &app,
            "/api/auth/factors/recovery-codes/regenerate",
            Some(&plain.access),
            json!({}),
        )
        .await,
        409,
        "no_verified_factor",
    )
    .await;
}

/// Item 3: 30 wrong passwords at once against one account: at most the limit (5) are checked
/// (each checked one is a `login.failed` security event), the rest are refused before argon2, and
/// the right password afterwards is refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passwords_are_counted_before_they_are_checked() {
    let app = spawn_with(&[("AUTH_ARGON2_M_KIB", "8192")]).await;
    let s = signup(&app).await;
    let tries: Vec<_> = (0..30)
        .map(|i| {
            let client = app.client.clone();
            let url = app.url("/api/auth/token?grant_type=password");
            let email = s.email.clone();
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({"email": email, "password": format!("wrong password {i:02}")}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tries {
        statuses.push(t.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, 30, "{statuses:?}");
    assert!(
        checked <= 5,
        "{checked} wrong passwords were checked: {statuses:?}"
    );
    let failed_rows = user_event_rows(&app, "login.failed").await;
    assert!(failed_rows <= 5, "{failed_rows} login.failed rows");
    assert_eq!(usize::try_from(failed_rows).unwrap(), checked);
    // The lockout is recorded once, not once per refused attempt.
    assert_eq!(user_event_rows(&app, "login.rate_limited").await, 1);
    problem(
        password_grant(&app, &s.email, PASSWORD).await,
        429,
        "rate_limited",
    )
    .await;
}

/// Item 3: the current-password check of `PUT /api/auth/user` counts against the same
/// per-account limit as logins and a wrong one is audited.
#[tokio::test]
async fn the_current_password_check_is_limited_and_audited() {
    let app = spawn_with(&[("AUTH_LOGIN_MAX_FAILURES", "3")]).await;
    let s = signup(&app).await;
    for i in 0..3 {
        problem(
            put(&app, "/api/auth/user", &s.access, json!({"password": "a brand new passphrase", "current_password": format!("guess number {i}")})).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    assert_eq!(audit_rows(&app, "password.change_failed").await, 3);
    // The 4th guess, even the right password, and a login are refused.
    problem(
        put(
            &app,
            "/api/auth/user",
            &s.access,
            json!({"password": "a brand new passphrase", "current_password": PASSWORD}),
        )
        .await,
        429,
        "rate_limited",
    )
    .await;
    problem(
        password_grant(&app, &s.email, PASSWORD).await,
        429,
        "rate_limited",
    )
    .await;
}

/// Item 3: parallel wrong TOTP codes for one factor: at most 5 are checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_mfa_codes_are_counted_before_they_are_checked() {
    let app = spawn().await;
    let s = signup(&app).await;
    let f = enrol(&app, &s.access).await;
    let aal1 = login(&app, &s.email).await;
    let t = aal1["access_token"].as_str().unwrap().to_string();
    let mut challenges = Vec::new();
    for _ in 0..15 {
        challenges.push(open_challenge(&app, &t, &f.id).await);
    }
    let right = code_at_offset(&f.secret, 30);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let tries: Vec<_> = challenges
        .into_iter()
        .map(|ch| {
            let client = app.client.clone();
            let url = app.url(&format!("/api/auth/factors/{}/verify", f.id));
            let t = t.clone();
            tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(t)
                    .json(&json!({"challenge_id": ch, "code": wrong}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for x in tries {
        statuses.push(x.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(checked <= 5, "{checked} codes checked: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 15 - checked);
    assert!(audit_rows(&app, "mfa.verify_failed").await <= 5);
    // Opening challenges is limited too (20 per 5 minutes; 1 was the enrolment's).
    let mut last = 0;
    for _ in 0..10 {
        last = post(
            &app,
            &format!("/api/auth/factors/{}/challenge", f.id),
            Some(&t),
            json!({}),
        )
        .await
        .status()
        .as_u16();
    }
    assert_eq!(last, 429);
}

/// The stored password hash of `user`.
async fn password_hash_of(app: &AuthApp, user: &str) -> String {
    use diesel::sql_types::Text;
    use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        password_hash: String,
    }
    let mut conn = AsyncPgConnection::establish(&app.db.admin_url())
        .await
        .unwrap();
    let r: Row = diesel::sql_query(format!(
        "SELECT password_hash FROM auth.users WHERE id = '{user}'"
    ))
    .get_result(&mut conn)
    .await
    .unwrap();
    r.password_hash
}

/// Runs `sql` as the database superuser (what an operator's bootstrap or a test fixture does).
async fn admin_execute(app: &AuthApp, sql: &str) {
    use diesel_async::{AsyncConnection as _, AsyncPgConnection, SimpleAsyncConnection as _};
    let mut conn = AsyncPgConnection::establish(&app.db.admin_url())
        .await
        .unwrap();
    conn.batch_execute(sql).await.unwrap();
}

/// Item 7(d): re-running the bootstrap (`deploy/postgres/schemas.sql`, e.g. after a restore)
/// does not give the service back UPDATE/DELETE on its append-only audit log.
#[tokio::test]
async fn re_running_the_bootstrap_keeps_the_audit_log_append_only() {
    let app = spawn().await;
    let privilege = |p: &str| {
        format!(
            "SELECT count(*) AS n FROM (SELECT 1) x WHERE has_table_privilege('svc_auth', 'auth.audit_log', '{p}')"
        )
    };
    assert_eq!(count(&app, &privilege("UPDATE")).await, 0);
    admin_execute(
        &app,
        include_str!("../../../../deploy/postgres/schemas.sql"),
    )
    .await;
    assert_eq!(
        count(&app, &privilege("UPDATE")).await,
        0,
        "UPDATE re-granted"
    );
    assert_eq!(
        count(&app, &privilege("DELETE")).await,
        0,
        "DELETE re-granted"
    );
    assert_eq!(count(&app, &privilege("INSERT")).await, 1);
    assert_eq!(count(&app, &privilege("SELECT")).await, 1);
    // Other tables keep their DML.
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM (SELECT 1) x WHERE has_table_privilege('svc_auth', 'auth.users', 'UPDATE')").await,
        1
    );
    // And the service still works.
    signup(&app).await;
}

/// Item 7(e): a password stored with weaker argon2 settings than the service's is rehashed
/// with the current ones at the next successful login (a wrong password changes nothing).
#[tokio::test]
async fn a_weaker_password_hash_is_rehashed_at_login() {
    let app = spawn().await; // m=1024 t=1 (helpers)
    let s = signup(&app).await;
    // The same password hashed by an older deployment with m=256.
    let older = spawn_with(&[("AUTH_ARGON2_M_KIB", "256")]).await;
    let o = signup(&older).await;
    let weak = password_hash_of(&older, &o.user).await;
    assert!(weak.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{weak}");
    admin_execute(
        &app,
        &format!(
            "UPDATE auth.users SET password_hash = '{weak}' WHERE id = '{}'",
            s.user
        ),
    )
    .await;
    let with = |prefix: &str| {
        format!(
            "SELECT count(*) AS n FROM auth.users WHERE id = '{}' AND password_hash LIKE '{prefix}%'",
            s.user
        )
    };
    problem(
        password_grant(&app, &s.email, "not the password at all").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(count(&app, &with("$argon2id$v=19$m=256,t=1,p=1$")).await, 1);
    login(&app, &s.email).await;
    assert_eq!(
        count(&app, &with("$argon2id$v=19$m=1024,t=1,p=1$")).await,
        1
    );
    // The new hash verifies.
    login(&app, &s.email).await;
}

//! Organizations, the validate endpoint, the audit log and tenant isolation.

use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn validate_answers_200_403_400() {
    let app = spawn().await;
    let a = signup(&app).await;
    let b = signup(&app).await;
    let ok = ok_json(
        get(&app, &format!("/api/orgs/validate/{}", a.org), &a.access).await,
        200,
    )
    .await;
    assert_eq!(ok["role"], "owner");
    problem(
        get(&app, &format!("/api/orgs/validate/{}", b.org), &a.access).await,
        403,
        "org_mismatch",
    )
    .await;
    problem(
        get(&app, "/api/orgs/validate/not-a-uuid", &a.access).await,
        400,
        "invalid_org_id",
    )
    .await;
}

#[tokio::test]
async fn a_member_of_one_org_cannot_read_another_orgs_data() {
    let app = spawn().await;
    let a = signup(&app).await;
    let b = signup(&app).await;
    // By id.
    problem(
        get(&app, &format!("/api/orgs/{}", b.org), &a.access).await,
        404,
        "not_found",
    )
    .await;
    ok_json(
        get(&app, &format!("/api/orgs/{}", a.org), &a.access).await,
        200,
    )
    .await;
    // By list.
    let mine = ok_json(get(&app, "/api/orgs", &a.access).await, 200).await;
    let ids: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a.org.as_str()]);
    // The audit log: only A's entries, even when filtering by B's actor.
    let log = ok_json(get(&app, "/api/auth/audit", &a.access).await, 200).await;
    assert!(!log["items"].as_array().unwrap().is_empty());
    assert!(
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["org_id"] == a.org.as_str())
    );
    let by_b = ok_json(
        get(
            &app,
            &format!("/api/auth/audit?actor={}", b.user),
            &a.access,
        )
        .await,
        200,
    )
    .await;
    assert!(by_b["items"].as_array().unwrap().is_empty());
    // A switch to B's org through refresh is refused.
    let r = post(
        &app,
        "/api/auth/token?grant_type=refresh_token",
        None,
        json!({"refresh_token": a.refresh, "org_id": b.org}),
    )
    .await;
    problem(r, 403, "not_a_member").await;
}

#[tokio::test]
async fn second_org_and_switching_through_refresh() {
    let app = spawn().await;
    let a = signup(&app).await;
    let created = ok_json(
        post(
            &app,
            "/api/orgs",
            Some(&a.access),
            json!({"name": "Second Clinic", "timezone": "Europe/Berlin"}),
        )
        .await,
        201,
    )
    .await;
    let second = created["id"].as_str().unwrap();
    let switched = ok_json(
        post(
            &app,
            "/api/auth/token?grant_type=refresh_token",
            None,
            json!({"refresh_token": a.refresh, "org_id": second}),
        )
        .await,
        200,
    )
    .await;
    let c = claims(switched["access_token"].as_str().unwrap());
    assert_eq!(c["app_metadata"]["org_id"], second);
    ok_json(
        get(
            &app,
            &format!("/api/orgs/validate/{second}"),
            switched["access_token"].as_str().unwrap(),
        )
        .await,
        200,
    )
    .await;
    problem(
        get(
            &app,
            &format!("/api/orgs/validate/{}", a.org),
            switched["access_token"].as_str().unwrap(),
        )
        .await,
        403,
        "org_mismatch",
    )
    .await;
    let mine = ok_json(get(&app, "/api/orgs", &a.access).await, 200).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn audit_is_admin_only_paginated_and_append_only_for_every_role() {
    let app = spawn().await;
    let a = signup(&app).await;
    for _ in 0..3 {
        login(&app, &a.email).await;
    }
    let page1 = ok_json(get(&app, "/api/auth/audit?limit=2", &a.access).await, 200).await;
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2 = ok_json(
        get(
            &app,
            &format!("/api/auth/audit?limit=2&cursor={cursor}"),
            &a.access,
        )
        .await,
        200,
    )
    .await;
    assert!(!page2["items"].as_array().unwrap().is_empty());
    assert_ne!(page1["items"][0]["id"], page2["items"][0]["id"]);
    // The one page policy (servicekit::page): a bad limit is `invalid_query` naming `limit`
    // (this said `invalid_field` before the audit list used it).
    let bad_limit = problem(
        get(&app, "/api/auth/audit?limit=0", &a.access).await,
        422,
        "invalid_query",
    )
    .await;
    assert_eq!(bad_limit["field"], "limit", "{bad_limit}");
    problem(
        get(&app, "/api/auth/audit?cursor=zzz", &a.access).await,
        422,
        "invalid_query",
    )
    .await;
    // Neither the service role nor the schema owner can rewrite history.
    for url in [app.db.service_url(), app.db.owner_url()] {
        for sql in [
            "UPDATE audit_log SET action = 'x'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ] {
            let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
            diesel::sql_query(format!(
                "SELECT set_config('app.org_id', '{}', false)",
                a.org
            ))
            .execute(&mut conn)
            .await
            .unwrap();
            let err = diesel::sql_query(sql).execute(&mut conn).await;
            assert!(err.is_err(), "{sql} succeeded as {url}");
        }
    }
    let log = ok_json(get(&app, "/api/auth/audit?limit=200", &a.access).await, 200).await;
    assert!(log["items"].as_array().unwrap().len() >= 5);
}

/// Idleness counts from the last refresh. auth runs with the policy floor lowered to 1 s
/// (`AUTH_MIN_INACTIVITY_SECS`) so the org can set a 3 s timeout: refreshes 1.7 s apart keep the
/// session alive past 3 s since login, and 3 s without one ends it on every service.
#[tokio::test]
async fn a_session_idle_past_the_orgs_inactivity_timeout_ends_everywhere() {
    let app = spawn_with(&[("AUTH_MIN_INACTIVITY_SECS", "1")]).await;
    let cal = other_service(&app).await;
    let s = signup(&app).await;
    let org_path = format!("/api/orgs/{}", s.org);
    let below = problem(
        patch(
            &app,
            &org_path,
            &s.access,
            json!({"inactivity_timeout_secs": 0}),
        )
        .await,
        422,
        "invalid_field",
    )
    .await;
    assert_eq!(below["field"], "inactivity_timeout_secs", "{below}");
    ok_json(
        patch(
            &app,
            &org_path,
            &s.access,
            json!({"inactivity_timeout_secs": 3}),
        )
        .await,
        200,
    )
    .await;
    let org = ok_json(get(&app, &org_path, &s.access).await, 200).await;
    assert_eq!(org["inactivity_timeout_secs"], 3);

    // In use: each refresh comes within the timeout of the one before.
    let (mut refresh_token, mut access) = (s.refresh.clone(), s.access.clone());
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1700)).await;
        let t = ok_json(refresh(&app, &refresh_token).await, 200).await;
        refresh_token = t["refresh_token"].as_str().unwrap().to_string();
        access = t["access_token"].as_str().unwrap().to_string();
    }
    assert_eq!(other_service_status(&cal, &access).await, 200);

    // Idle: wait until the session row has gone unrefreshed for longer than the timeout.
    let session = claims(&access)["session_id"].as_str().unwrap().to_string();
    let idle = format!(
        "SELECT count(*) AS n FROM auth.sessions WHERE id = '{session}' \
         AND clock_timestamp() - refreshed_at > interval '3.05 seconds'"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&app, &idle).await == 0 {
        assert!(Instant::now() < deadline, "the session never went idle");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    problem(refresh(&app, &refresh_token).await, 401, "session_expired").await;
    refused_within_a_second(&cal, &access).await;
    problem(refresh(&app, &refresh_token).await, 401, "session_revoked").await;
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM auth.sessions WHERE id = '{session}' \
                 AND revoked_reason = 'inactivity_timeout'"
            ),
        )
        .await,
        1
    );
    // … and the org's audit log says why.
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM auth.audit_log WHERE action = 'session.revoked' \
                 AND target = '{session}' AND metadata->>'reason' = 'inactivity_timeout'"
            ),
        )
        .await,
        1
    );
    // The user simply logs in again.
    login(&app, &s.email).await;
}

/// Production keeps the 300 s floor; the inactivity setting does not loosen the lifetime one.
#[tokio::test]
async fn org_policy_timeouts_below_the_floor_are_422_naming_the_field() {
    let app = spawn().await;
    let s = signup(&app).await;
    let org_path = format!("/api/orgs/{}", s.org);
    for field in ["inactivity_timeout_secs", "session_lifetime_secs"] {
        let p = problem(
            patch(&app, &org_path, &s.access, json!({field: 299})).await,
            422,
            "invalid_field",
        )
        .await;
        assert_eq!(p["field"], field, "{p}");
        assert!(p["detail"].as_str().unwrap().contains("300 seconds"), "{p}");
    }
    ok_json(
        patch(
            &app,
            &org_path,
            &s.access,
            json!({"inactivity_timeout_secs": 300}),
        )
        .await,
        200,
    )
    .await;
    let org = ok_json(get(&app, &org_path, &s.access).await, 200).await;
    assert_eq!(org["inactivity_timeout_secs"], 300);
}

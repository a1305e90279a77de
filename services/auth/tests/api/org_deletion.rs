//! Deleting an org is scheduled with a cancel window (issue 11 item 6, ADR 0011): visible on the
//! org, cancellable by an owner, audited, executed by the deletion worker when due — which only
//! then emits `org.deleted.v1`, exactly once even with several workers — and out of reach of
//! any other org.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::helpers::*;

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {v}"))
        .parse()
        .unwrap()
}

async fn events_for(app: &AuthApp, org: &str) -> i64 {
    count(
        app,
        &format!("SELECT count(*) AS n FROM auth.outbox WHERE event_type = 'org.deleted.v1' AND org_id = '{org}'"),
    )
    .await
}

async fn audited(app: &AuthApp, org: &str, action: &str) -> i64 {
    count(
        app,
        &format!("SELECT count(*) AS n FROM auth.audit_log WHERE action = '{action}' AND org_id = '{org}'"),
    )
    .await
}

#[tokio::test]
async fn deleting_an_org_is_scheduled_visible_cancellable_and_audited() {
    let app = spawn_with(&[
        ("AUTH_ORG_DELETION_GRACE_SECS", "7200"),
        ("AUTH_ORG_DELETION_POLL_SECS", "1"),
    ])
    .await;
    let other = other_service(&app).await;
    let a = signup(&app).await;
    let b = signup(&app).await;
    let org_path = format!("/api/orgs/{}", a.org);
    let deletion_path = format!("{org_path}/deletion");

    // Another org's owner can neither see, schedule nor cancel A's deletion.
    problem(get(&app, &org_path, &b.access).await, 404, "not_found").await;
    problem(delete(&app, &org_path, &b.access).await, 404, "not_found").await;
    problem(
        delete(&app, &deletion_path, &b.access).await,
        404,
        "not_found",
    )
    .await;

    // A staff member of A cannot schedule it either.
    let staff = signup(&app).await;
    let inv = ok_json(
        post(
            &app,
            &format!("{org_path}/invitations"),
            Some(&a.access),
            json!({"email": staff.email, "role": "admin"}),
        )
        .await,
        201,
    )
    .await;
    ok_json(
        post(
            &app,
            "/api/orgs/invitations/accept",
            Some(&staff.access),
            json!({"token": inv["token"]}),
        )
        .await,
        200,
    )
    .await;
    let (admin_in_a, _) = switch_org(&app, &staff.refresh, &a.org).await;
    problem(
        delete(&app, &org_path, &admin_in_a).await,
        403,
        "insufficient_role",
    )
    .await;

    let before = Utc::now();
    let scheduled = ok_json(delete(&app, &org_path, &a.access).await, 202).await;
    assert_eq!(scheduled["id"], a.org);
    let deletes_at = at(&scheduled["deletes_at"]);
    let grace = deletes_at - at(&scheduled["deletion_scheduled_at"]);
    assert_eq!(grace.num_seconds(), 7200, "{scheduled}");
    assert!(at(&scheduled["deletion_scheduled_at"]) >= before - chrono::Duration::seconds(1));

    // Visible on the org; nothing deleted, no event, every member keeps working.
    let view = ok_json(get(&app, &org_path, &a.access).await, 200).await;
    assert_eq!(at(&view["deletes_at"]), deletes_at);
    assert!(view["deletion_scheduled_at"].is_string());
    let as_admin = ok_json(get(&app, &org_path, &admin_in_a).await, 200).await;
    assert_eq!(at(&as_admin["deletes_at"]), deletes_at);
    // Still invisible to the other org.
    problem(get(&app, &org_path, &b.access).await, 404, "not_found").await;
    // Asking again does not move the due time.
    let again = ok_json(delete(&app, &org_path, &a.access).await, 202).await;
    assert_eq!(at(&again["deletes_at"]), deletes_at);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(events_for(&app, &a.org).await, 0);
    assert_eq!(other_service_status(&other, &a.access).await, 200);
    assert_eq!(other_service_status(&other, &admin_in_a).await, 200);
    assert_eq!(audited(&app, &a.org, "org.deletion_scheduled").await, 1);

    // Only an owner cancels; the other org cannot.
    problem(
        delete(&app, &deletion_path, &admin_in_a).await,
        403,
        "insufficient_role",
    )
    .await;
    problem(
        delete(&app, &deletion_path, &b.access).await,
        404,
        "not_found",
    )
    .await;
    let r = delete(&app, &deletion_path, &a.access).await;
    assert_eq!(r.status().as_u16(), 204);
    let view = ok_json(get(&app, &org_path, &a.access).await, 200).await;
    assert!(
        view["deletes_at"].is_null() && view["deletion_scheduled_at"].is_null(),
        "{view}"
    );
    problem(
        delete(&app, &deletion_path, &a.access).await,
        409,
        "deletion_not_scheduled",
    )
    .await;
    assert_eq!(audited(&app, &a.org, "org.deletion_cancelled").await, 1);

    // The cancelled deletion never runs.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(events_for(&app, &a.org).await, 0);
    assert_eq!(audited(&app, &a.org, "org.deleted").await, 0);
    ok_json(
        get(&app, &format!("/api/orgs/validate/{}", a.org), &a.access).await,
        200,
    )
    .await;

    // B's org was never touched.
    let bv = ok_json(
        get(&app, &format!("/api/orgs/{}", b.org), &b.access).await,
        200,
    )
    .await;
    assert!(bv["deletes_at"].is_null());
}

#[tokio::test]
async fn a_due_deletion_is_executed_once_then_emits_org_deleted_and_ends_the_tokens() {
    let app = spawn_with(&[
        ("AUTH_ORG_DELETION_GRACE_SECS", "2"),
        ("AUTH_ORG_DELETION_POLL_SECS", "1"),
    ])
    .await;
    let other = other_service(&app).await;
    let doomed = signup(&app).await;
    let kept = signup(&app).await;
    let r = delete(&app, &format!("/api/orgs/{}", doomed.org), &doomed.access).await;
    assert_eq!(r.status().as_u16(), 202);
    // Within the window: not deleted, no event.
    assert_eq!(events_for(&app, &doomed.org).await, 0);
    assert_eq!(other_service_status(&other, &doomed.access).await, 200);

    refused_everywhere_within(&app, &other, &doomed.access, Duration::from_secs(6)).await;
    assert_eq!(events_for(&app, &doomed.org).await, 1);
    assert_eq!(
        audited(&app, &doomed.org, "org.deletion_scheduled").await,
        1
    );
    assert_eq!(audited(&app, &doomed.org, "org.deleted").await, 1);
    let again = login(&app, &doomed.email).await;
    assert!(
        again["user"]["org_id"].is_null(),
        "the deleted org is no longer offered: {again}"
    );
    // Another pass of the worker changes nothing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(events_for(&app, &doomed.org).await, 1);
    assert_eq!(events_for(&app, &kept.org).await, 0);
    assert_eq!(other_service_status(&other, &kept.access).await, 200);
}

#[tokio::test]
async fn concurrent_deletion_workers_execute_each_due_deletion_exactly_once() {
    // The app's own worker is slow here; three more instances race it.
    let app = spawn_with(&[
        ("AUTH_ORG_DELETION_GRACE_SECS", "3600"),
        ("AUTH_ORG_DELETION_POLL_SECS", "1"),
    ])
    .await;
    let mut orgs = Vec::new();
    for _ in 0..5 {
        let s = signup(&app).await;
        assert_eq!(
            delete(&app, &format!("/api/orgs/{}", s.org), &s.access)
                .await
                .status()
                .as_u16(),
            202
        );
        orgs.push(s);
    }
    let instances: Vec<_> = (0..3).map(|_| another_instance(&app)).collect();
    execute_sql(
        &app,
        "UPDATE auth.organizations SET deletes_at = now() WHERE deletes_at IS NOT NULL",
    )
    .await;
    let runs = instances.iter().map(|st| async move {
        let mut n = 0;
        for _ in 0..3 {
            n += auth::core::orgs::execute_due_deletions(st).await.unwrap();
        }
        n
    });
    let done: usize = futures_util::future::join_all(runs).await.into_iter().sum();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        done <= orgs.len(),
        "{done} executions for {} orgs",
        orgs.len()
    );
    for s in &orgs {
        assert_eq!(
            events_for(&app, &s.org).await,
            1,
            "org.deleted.v1 of {}",
            s.org
        );
        assert_eq!(audited(&app, &s.org, "org.deleted").await, 1);
    }
}

//! Issue 11 item 7c: a person's failed logins are recorded once, for the user (not copied into
//! every org they belong to, with the IP and user agent of whoever tried); the user reads them,
//! and an org's admins read their members' only when the org shares them.

use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::*;

const ATTACKER_UA: &str = "attacker-agent/1.0";

/// A wrong password for `email`, sent with the attacker's user agent.
async fn fail_login(app: &AuthApp, email: &str) {
    let r = app
        .client
        .post(app.url("/api/auth/token?grant_type=password"))
        .header("user-agent", ATTACKER_UA)
        .json(&json!({"email": email, "password": "not the password at all"}))
        .send()
        .await
        .unwrap();
    problem(r, 401, "invalid_credentials").await;
}

/// `admin` invites `member` into the admin's org as staff; `member` accepts.
async fn join(app: &AuthApp, admin: &Signed, member: &Signed) {
    let inv = ok_json(
        post(
            app,
            &format!("/api/orgs/{}/invitations", admin.org),
            Some(&admin.access),
            json!({"email": member.email, "role": "staff"}),
        )
        .await,
        201,
    )
    .await;
    ok_json(
        post(
            app,
            "/api/orgs/invitations/accept",
            Some(&member.access),
            json!({"token": inv["token"]}),
        )
        .await,
        200,
    )
    .await;
}

async fn rows(app: &AuthApp, sql: &str) -> i64 {
    count(app, sql).await
}

/// Every item of a paged list, following `next_cursor` with `limit` items per page; also
/// returns how many pages it took.
async fn all_pages(app: &AuthApp, path: &str, token: &str, limit: u32) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
            None => format!("{path}?limit={limit}"),
        };
        let page = ok_json(get(app, &url, token).await, 200).await;
        pages += 1;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 50, "runaway pagination");
    }
    (items, pages)
}

async fn status(r: Response) -> u16 {
    r.status().as_u16()
}

#[tokio::test]
async fn a_failed_login_is_recorded_once_for_the_user_and_shown_to_them() {
    let app = spawn().await;
    let m = signup(&app).await;
    let other = signup(&app).await;
    // m belongs to four orgs: their signup org, two more they create, and other's as staff.
    for name in ["Second Clinic", "Third Clinic"] {
        ok_json(
            post(
                &app,
                "/api/orgs",
                Some(&m.access),
                json!({"name": name, "timezone": "Europe/Paris"}),
            )
            .await,
            201,
        )
        .await;
    }
    join(&app, &other, &m).await;
    assert_eq!(
        rows(
            &app,
            &format!(
                "SELECT count(*) AS n FROM auth.memberships WHERE user_id = '{}'",
                m.user
            )
        )
        .await,
        4
    );
    let audit_before = rows(&app, "SELECT count(*) AS n FROM auth.audit_log").await;

    fail_login(&app, &m.email).await;
    fail_login(&app, &m.email).await;
    fail_login(&app, &other.email).await;

    // One row per failure, whatever the membership count; nothing in any org's audit log.
    assert_eq!(
        rows(&app, &format!("SELECT count(*) AS n FROM auth.user_security_events WHERE user_id = '{}' AND action = 'login.failed'", m.user)).await,
        2
    );
    assert_eq!(
        rows(&app, "SELECT count(*) AS n FROM auth.audit_log").await,
        audit_before,
        "a failed login wrote into an org's audit log"
    );

    // The user reads their own, page by page, with the IP and user agent of the attempt.
    let path = "/api/auth/user/security-events";
    let (items, pages) = all_pages(&app, path, &m.access, 1).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(pages, 2);
    for e in &items {
        assert_eq!(e["action"], "login.failed");
        assert_eq!(e["user_id"], json!(m.user));
        assert_eq!(e["user_agent"], ATTACKER_UA);
        assert!(e["ip"].is_string(), "{e}");
    }
    assert!(items[0]["created_at"].as_str() >= items[1]["created_at"].as_str());
    // The other user sees only theirs.
    let (theirs, _) = all_pages(&app, path, &other.access, 50).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["user_id"], json!(other.user));
    // A cursor we did not issue is a precise 422.
    problem(
        get(&app, &format!("{path}?cursor=nope"), &m.access).await,
        422,
        "invalid_query",
    )
    .await;
    assert_eq!(
        status(app.client.get(app.url(path)).send().await.unwrap()).await,
        401
    );
}

#[tokio::test]
async fn admins_see_member_login_failures_only_when_their_org_shares_them() {
    let app = spawn().await;
    let a = signup(&app).await; // owner of org A
    let b = signup(&app).await; // owner of org B
    let m = signup(&app).await; // becomes staff in A
    let b_staff = signup(&app).await; // becomes staff in B
    let outsider = signup(&app).await; // in neither

    fail_login(&app, &m.email).await; // before m joined A: never A's business
    join(&app, &a, &m).await;
    join(&app, &b, &b_staff).await;
    fail_login(&app, &m.email).await;
    fail_login(&app, &m.email).await;
    fail_login(&app, &b_staff.email).await;
    fail_login(&app, &outsider.email).await;

    let a_path = format!("/api/orgs/{}/security-events", a.org);
    let b_path = format!("/api/orgs/{}/security-events", b.org);
    // Without the policy A's admin sees none.
    problem(
        get(&app, &a_path, &a.access).await,
        403,
        "login_failures_not_shared",
    )
    .await;
    let org = ok_json(
        get(&app, &format!("/api/orgs/{}", a.org), &a.access).await,
        200,
    )
    .await;
    assert_eq!(org["share_member_login_failures"], false);

    // A turns it on (audited with the policy change).
    ok_json(
        patch(
            &app,
            &format!("/api/orgs/{}", a.org),
            &a.access,
            json!({"share_member_login_failures": true}),
        )
        .await,
        200,
    )
    .await;
    let org = ok_json(
        get(&app, &format!("/api/orgs/{}", a.org), &a.access).await,
        200,
    )
    .await;
    assert_eq!(org["share_member_login_failures"], true);
    assert_eq!(
        rows(&app, &format!("SELECT count(*) AS n FROM auth.audit_log WHERE org_id = '{}' AND action = 'org.policy_changed' AND metadata->>'share_member_login_failures' = 'true'", a.org)).await,
        1
    );
    // Now A sees exactly its member's two failures since joining: not the earlier one, not
    // B's member's, not the outsider's.
    let (items, pages) = all_pages(&app, &a_path, &a.access, 1).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(pages, 2);
    for e in &items {
        assert_eq!(e["user_id"], json!(m.user), "{e}");
        assert_eq!(e["action"], "login.failed");
        assert_eq!(e["user_agent"], ATTACKER_UA);
    }
    // m still sees all three of theirs.
    let (own, _) = all_pages(&app, "/api/auth/user/security-events", &m.access, 50).await;
    assert_eq!(own.len(), 3);

    // A staff member of A cannot read it (admins and owners only).
    let m_login = login(&app, &m.email).await;
    let (m_in_a, _) = switch_org(&app, m_login["refresh_token"].as_str().unwrap(), &a.org).await;
    problem(get(&app, &a_path, &m_in_a).await, 403, "insufficient_role").await;

    // Tenant isolation: B's owner never sees A's members' failures — not through A's id, and
    // not in B's own list even once B shares its members' failures.
    problem(get(&app, &a_path, &b.access).await, 404, "not_found").await;
    problem(
        get(&app, &b_path, &b.access).await,
        403,
        "login_failures_not_shared",
    )
    .await;
    ok_json(
        patch(
            &app,
            &format!("/api/orgs/{}", b.org),
            &b.access,
            json!({"share_member_login_failures": true}),
        )
        .await,
        200,
    )
    .await;
    let (b_items, _) = all_pages(&app, &b_path, &b.access, 50).await;
    assert_eq!(b_items.len(), 1, "{b_items:?}");
    assert_eq!(b_items[0]["user_id"], json!(b_staff.user));
    // And A's list did not grow with B's member.
    let (items, _) = all_pages(&app, &a_path, &a.access, 50).await;
    assert_eq!(items.len(), 2);

    // Turning it off hides them again.
    ok_json(
        patch(
            &app,
            &format!("/api/orgs/{}", a.org),
            &a.access,
            json!({"share_member_login_failures": false}),
        )
        .await,
        200,
    )
    .await;
    problem(
        get(&app, &a_path, &a.access).await,
        403,
        "login_failures_not_shared",
    )
    .await;
}

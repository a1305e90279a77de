//! Members, invitations and org deletion, with isolation between orgs.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn invitations_roles_and_an_org_that_always_keeps_an_owner() {
    let app = spawn().await;
    let a = signup(&app).await;
    let invitee = signup(&app).await;
    let stranger = signup(&app).await;

    let inv = ok_json(
        post(
            &app,
            &format!("/api/orgs/{}/invitations", a.org),
            Some(&a.access),
            json!({"email": invitee.email, "role": "staff"}),
        )
        .await,
        201,
    )
    .await;
    let token = inv["token"].as_str().unwrap().to_string();
    assert_eq!(inv["status"], "pending");
    let mail = last_mail(&app, &invitee.email).await;
    assert_eq!(
        after(&mail, "#token="),
        token,
        "the mail carries the same token"
    );
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM auth.invitations WHERE token_hash = sha256(convert_to('{token}', 'UTF8'))")).await, 1, "only the hash is stored");

    // Another org's member: 404 on A's members and invitations, by id, and the wrong email cannot accept.
    problem(
        get(
            &app,
            &format!("/api/orgs/{}/members", a.org),
            &stranger.access,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    problem(
        get(
            &app,
            &format!("/api/orgs/{}/invitations", a.org),
            &stranger.access,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    problem(
        post(
            &app,
            "/api/orgs/invitations/accept",
            Some(&stranger.access),
            json!({"token": token}),
        )
        .await,
        403,
        "invitation_email_mismatch",
    )
    .await;
    let r = app
        .client
        .delete(app.url(&format!(
            "/api/orgs/{}/invitations/{}",
            a.org,
            inv["id"].as_str().unwrap()
        )))
        .bearer_auth(&stranger.access)
        .send()
        .await
        .unwrap();
    problem(r, 404, "not_found").await;

    let joined = ok_json(
        post(
            &app,
            "/api/orgs/invitations/accept",
            Some(&invitee.access),
            json!({"token": token}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(joined["role"], "staff");
    problem(
        post(
            &app,
            "/api/orgs/invitations/accept",
            Some(&invitee.access),
            json!({"token": token}),
        )
        .await,
        409,
        "invitation_not_pending",
    )
    .await;
    let members = ok_json(
        get(&app, &format!("/api/orgs/{}/members", a.org), &a.access).await,
        200,
    )
    .await;
    assert_eq!(members["items"].as_array().unwrap().len(), 2);

    // The invitee switches into A as staff: staff cannot read the audit log or invite.
    let switched = ok_json(
        post(
            &app,
            "/api/auth/token?grant_type=refresh_token",
            None,
            json!({"refresh_token": invitee.refresh, "org_id": a.org}),
        )
        .await,
        200,
    )
    .await;
    let staff = switched["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims(&staff)["app_metadata"]["org_role"], "staff");
    problem(
        get(&app, "/api/auth/audit", &staff).await,
        403,
        "insufficient_role",
    )
    .await;
    problem(
        post(
            &app,
            &format!("/api/orgs/{}/invitations", a.org),
            Some(&staff),
            json!({"email": "x@y.example", "role": "viewer"}),
        )
        .await,
        403,
        "insufficient_role",
    )
    .await;
    ok_json(
        get(&app, &format!("/api/orgs/{}/members", a.org), &staff).await,
        200,
    )
    .await;

    // The last owner cannot be demoted or removed; a second owner makes it possible.
    let r = patch(
        &app,
        &format!("/api/orgs/{}/members/{}", a.org, a.user),
        &a.access,
        json!({"role": "admin"}),
    )
    .await;
    problem(r, 409, "last_owner").await;
    let r = delete(
        &app,
        &format!("/api/orgs/{}/members/{}", a.org, a.user),
        &a.access,
    )
    .await;
    problem(r, 409, "last_owner").await;
    let r = patch(
        &app,
        &format!("/api/orgs/{}/members/{}", a.org, invitee.user),
        &a.access,
        json!({"role": "owner"}),
    )
    .await;
    ok_json(r, 200).await;
    // The role lives in the token: the member's old-role session in A ended.
    problem(
        get(&app, "/api/auth/user", &staff).await,
        401,
        "session_revoked",
    )
    .await;
    let r = patch(
        &app,
        &format!("/api/orgs/{}/members/{}", a.org, a.user),
        &a.access,
        json!({"role": "admin"}),
    )
    .await;
    ok_json(r, 200).await;

    let log = {
        let fresh = login(&app, &invitee.email).await;
        let t = ok_json(
            post(
                &app,
                "/api/auth/token?grant_type=refresh_token",
                None,
                json!({"refresh_token": fresh["refresh_token"], "org_id": a.org}),
            )
            .await,
            200,
        )
        .await;
        ok_json(
            get(
                &app,
                "/api/auth/audit?limit=200",
                t["access_token"].as_str().unwrap(),
            )
            .await,
            200,
        )
        .await
    };
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "invitation.sent",
        "invitation.accepted",
        "member.role_changed",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}

#[tokio::test]
async fn revoked_and_expired_invitations_cannot_be_accepted() {
    let app = spawn_with(&[("AUTH_INVITATION_TTL_SECS", "60")]).await;
    let a = signup(&app).await;
    let b = signup(&app).await;
    let inv = ok_json(
        post(
            &app,
            &format!("/api/orgs/{}/invitations", a.org),
            Some(&a.access),
            json!({"email": b.email, "role": "viewer"}),
        )
        .await,
        201,
    )
    .await;
    let r = app
        .client
        .delete(app.url(&format!(
            "/api/orgs/{}/invitations/{}",
            a.org,
            inv["id"].as_str().unwrap()
        )))
        .bearer_auth(&a.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    problem(
        post(
            &app,
            "/api/orgs/invitations/accept",
            Some(&b.access),
            json!({"token": inv["token"]}),
        )
        .await,
        409,
        "invitation_not_pending",
    )
    .await;
    let listed = ok_json(
        get(&app, &format!("/api/orgs/{}/invitations", a.org), &a.access).await,
        200,
    )
    .await;
    assert_eq!(listed["items"][0]["status"], "revoked");
    // An admin may not invite above their own role, and an unknown token is just unknown.
    problem(
        post(
            &app,
            "/api/orgs/invitations/accept",
            Some(&b.access),
            json!({"token": "bm90LWEtdG9rZW4"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    problem(
        post(
            &app,
            &format!("/api/orgs/{}/invitations", a.org),
            Some(&a.access),
            json!({"email": "x@y.example", "role": "emperor"}),
        )
        .await,
        422,
        "invalid_field",
    )
    .await;
}

#[tokio::test]
async fn deleting_an_org_ends_its_sessions_and_emits_org_deleted() {
    // Deletion is scheduled (issue 11): 202 now, executed by the worker once due.
    let app = spawn_with(&[("AUTH_ORG_DELETION_POLL_SECS", "1")]).await;
    let a = signup(&app).await;
    let b = signup(&app).await;
    // Only the owner of that org, and never through another org's token.
    let r = delete(&app, &format!("/api/orgs/{}", a.org), &b.access).await;
    problem(r, 404, "not_found").await;
    let r = delete(&app, &format!("/api/orgs/{}", a.org), &a.access).await;
    assert_eq!(r.status().as_u16(), 202);
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM auth.outbox WHERE event_type = 'org.deleted.v1' AND org_id = '{}'", a.org)).await, 0, "nothing is deleted before the cancel window ends");
    execute_sql(
        &app,
        &format!(
            "UPDATE auth.organizations SET deletes_at = now() WHERE id = '{}'",
            a.org
        ),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while get(&app, "/api/auth/user", &a.access)
        .await
        .status()
        .as_u16()
        != 401
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the due deletion was not executed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    problem(
        get(&app, "/api/auth/user", &a.access).await,
        401,
        "session_revoked",
    )
    .await;
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM auth.outbox WHERE event_type = 'org.deleted.v1' AND org_id = '{}'", a.org)).await, 1);
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM auth.audit_log WHERE action = 'org.deleted' AND org_id = '{}'", a.org)).await, 1);
    let again = login(&app, &a.email).await;
    assert!(
        again["user"]["org_id"].is_null(),
        "the deleted org is no longer offered: {again}"
    );
    ok_json(
        get(&app, &format!("/api/orgs/validate/{}", b.org), &b.access).await,
        200,
    )
    .await;
}

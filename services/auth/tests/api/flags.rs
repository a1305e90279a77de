//! Feature flags: global rules set by the operator command, per-org overrides by org admins,
//! the Redis cache other services read through `tenancy::flags`, and isolation.

use runtime::Service as _;
use serde_json::json;
use tenancy::OrgId;

use crate::helpers::*;

async fn set_flag(app: &AuthApp, args: &[&str]) {
    let mut v = vec!["flags".to_string(), "set".to_string()];
    v.extend(args.iter().map(|a| a.to_string()));
    auth::AuthService::command(app.settings.clone(), v)
        .await
        .unwrap();
}

#[tokio::test]
async fn flags_overrides_cache_and_isolation() {
    let app = spawn().await;
    let a = signup(&app).await;
    let b = signup(&app).await;
    set_flag(
        &app,
        &[
            "sms_reminders",
            "--default",
            "on",
            "--description",
            "SMS reminders",
        ],
    )
    .await;
    set_flag(&app, &["new_dashboard", "--rollout", "0"]).await;

    let fa = ok_json(get(&app, "/api/auth/flags", &a.access).await, 200).await;
    assert_eq!(fa["flags"]["sms_reminders"], true);
    assert_eq!(fa["flags"]["new_dashboard"], false);

    // Org A's admin turns one on for A only; audited; B is unaffected.
    let r = put(
        &app,
        "/api/auth/flags/new_dashboard",
        &a.access,
        json!({"enabled": true}),
    )
    .await;
    assert_eq!(ok_json(r, 200).await["flags"]["new_dashboard"], true);
    let fb = ok_json(get(&app, "/api/auth/flags", &b.access).await, 200).await;
    assert_eq!(fb["flags"]["new_dashboard"], false);
    let log = ok_json(
        get(
            &app,
            "/api/auth/audit?action=flag.override_changed",
            &a.access,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1);
    let log_b = ok_json(
        get(
            &app,
            "/api/auth/audit?action=flag.override_changed",
            &b.access,
        )
        .await,
        200,
    )
    .await;
    assert!(log_b["items"].as_array().unwrap().is_empty());
    let r = put(
        &app,
        "/api/auth/flags/no_such_flag",
        &a.access,
        json!({"enabled": true}),
    )
    .await;
    problem(r, 404, "not_found").await;

    // Another service reads the cache through tenancy; a global change makes it stale at once.
    let redis = servicekit::db::redis_pool(&testkit::config::redis_url().into(), 2).unwrap();
    let flags = tenancy::flags::Flags::new(redis, app.redis_prefix.clone());
    let org_a = OrgId(a.org.parse().unwrap());
    assert_eq!(
        flags.is_enabled(org_a, "new_dashboard").await.unwrap(),
        Some(true)
    );
    assert_eq!(
        flags.is_enabled(org_a, "sms_reminders").await.unwrap(),
        Some(true)
    );
    set_flag(&app, &["sms_reminders", "--default", "off"]).await;
    assert_eq!(
        flags.is_enabled(org_a, "sms_reminders").await.unwrap(),
        None,
        "stale after a global change"
    );
    let fa = ok_json(get(&app, "/api/auth/flags", &a.access).await, 200).await;
    assert_eq!(fa["flags"]["sms_reminders"], false);
    assert_eq!(
        flags.is_enabled(org_a, "sms_reminders").await.unwrap(),
        Some(false)
    );

    // Clearing the override returns A to the global rule.
    let r = put(
        &app,
        "/api/auth/flags/new_dashboard",
        &a.access,
        json!({"enabled": null}),
    )
    .await;
    assert_eq!(ok_json(r, 200).await["flags"]["new_dashboard"], false);
    // A full rollout turns it on for everyone without overrides.
    set_flag(&app, &["new_dashboard", "--rollout", "100"]).await;
    assert_eq!(
        ok_json(get(&app, "/api/auth/flags", &b.access).await, 200).await["flags"]["new_dashboard"],
        true
    );
    assert!(
        auth::AuthService::command(
            app.settings.clone(),
            vec![
                "flags".into(),
                "set".into(),
                "x".into(),
                "--rollout".into(),
                "101".into()
            ]
        )
        .await
        .is_err()
    );
}

//! The providers migration on a database that already has clinics: every org with calendar data
//! gets one default provider, every existing appointment is with it, and the overlap constraint
//! becomes per provider (issue 15, ADR 0021).

use diesel::QueryableByName;
use diesel_async::AsyncPgConnection;
use diesel_async::RunQueryDsl;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::MigrationHarness;
use tenancy::Role;

use crate::helpers::{at, caller, open_every_day, problem, service, spawn};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Runs `f` with a synchronous migration connection as the schema owner.
async fn harness<T: Send + 'static>(
    url: String,
    f: impl FnOnce(&mut AsyncConnectionWrapper<AsyncPgConnection>) -> T + Send + 'static,
) -> T {
    tokio::task::spawn_blocking(move || {
        let mut c =
            <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)
                .unwrap();
        f(&mut c)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn existing_orgs_get_one_default_provider_and_their_appointments_move_to_it() {
    let app = spawn().await;
    let a = caller(&app, Role::Admin);
    let b = caller(&app, Role::Admin);
    let mut services = Vec::new();
    for who in [&a, &b] {
        open_every_day(&app, &who.token, "UTC", "08:00", "18:00").await;
        services.push(service(&app, &who.token, "Cleaning", 30, 0, 0).await);
    }
    // Back to the schema before providers, with two clinics' appointments in it.
    let reverted = harness(app.db.owner_url(), |c| {
        c.revert_last_migration(calendar::MIGRATIONS)
            .unwrap()
            .to_string()
    })
    .await;
    assert!(reverted.ends_with("162000"), "{reverted}");
    let mut admin = app.db.admin_conn().await.unwrap();
    diesel::sql_query("DELETE FROM calendar.providers")
        .execute(&mut admin)
        .await
        .unwrap_err(); // the table is gone
    for (who, s) in [(&a, &services[0]), (&b, &services[1])] {
        for hour in [9, 10] {
            diesel::sql_query(format!(
                "INSERT INTO calendar.appointments (org_id, service_id, service_name, starts_at, \
                 ends_at, block_start, block_end, status, source) VALUES ('{org}', '{s}', \
                 'Cleaning', '{t}', '{t}'::timestamptz + interval '30 minutes', '{t}', \
                 '{t}'::timestamptz + interval '30 minutes', 'booked', 'dashboard')",
                org = who.org,
                t = at(3, hour, 0)
            ))
            .execute(&mut admin)
            .await
            .unwrap();
        }
    }
    let applied = harness(app.db.owner_url(), |c| {
        c.run_pending_migrations(calendar::MIGRATIONS)
            .unwrap()
            .len()
    })
    .await;
    assert_eq!(applied, 1);

    let count = |sql: String| {
        let url = app.db.admin_url();
        async move {
            use diesel_async::AsyncConnection;
            let mut c = AsyncPgConnection::establish(&url).await.unwrap();
            diesel::sql_query(sql)
                .get_result::<Count>(&mut c)
                .await
                .unwrap()
                .n
        }
    };
    for who in [&a, &b] {
        let org = who.org;
        assert_eq!(
            count(format!(
                "SELECT count(*) AS n FROM calendar.providers WHERE org_id = '{org}' AND is_default AND name = 'Clinic'"
            ))
            .await,
            1
        );
        assert_eq!(
            count(format!(
                "SELECT count(*) AS n FROM calendar.appointments a JOIN calendar.providers p \
                 ON p.id = a.provider_id AND p.org_id = a.org_id \
                 WHERE a.org_id = '{org}' AND p.is_default AND a.provider_name = 'Clinic'"
            ))
            .await,
            2
        );
    }
    // RLS is forced again on the tables the backfill read.
    assert_eq!(
        count(
            "SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'calendar' AND c.relname IN ('appointments', 'services', \
             'clinic_settings', 'providers') AND c.relforcerowsecurity AND c.relrowsecurity"
                .into()
        )
        .await,
        4
    );
    // The clinic books as before: its default provider is busy at 09:00, a new provider is not.
    let r = crate::helpers::book(&app, &a.token, &services[0], &at(3, 9, 0)).await;
    assert_eq!(problem(r, 409).await["code"], "appointment_overlap");
    let r = crate::helpers::post(
        &app,
        "/api/calendar/providers",
        &a.token,
        &serde_json::json!({"name": "Dr. Patel"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let r = crate::helpers::book(&app, &a.token, &services[0], &at(3, 9, 0)).await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["provider_name"],
        "Dr. Patel"
    );
}

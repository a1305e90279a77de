//! Row-level security as a service login role (svc_calendar on calendar.services), through the
//! same `Db::tenant_tx` the handlers use.

use diesel::sql_types::{Nullable, Text, Uuid as SqlUuid};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use runtime::Service;
use servicekit::SecretString;
use servicekit::db::{PoolUnavailable, pg_pool};
use tenancy::{Db, OrgId};
use testkit::TestDb;
use uuid::Uuid;

/// The error type a store function would use: diesel errors and pool unavailability.
#[derive(Debug)]
enum E {
    Db(diesel::result::Error),
    Pool,
}
impl From<diesel::result::Error> for E {
    fn from(e: diesel::result::Error) -> Self {
        E::Db(e)
    }
}
impl From<PoolUnavailable> for E {
    fn from(_: PoolUnavailable) -> Self {
        E::Pool
    }
}
impl E {
    fn message(&self) -> String {
        match self {
            E::Db(e) => e.to_string(),
            E::Pool => "pool unavailable".into(),
        }
    }
}

#[derive(diesel::QueryableByName, Debug)]
struct Row {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    org_id: Uuid,
}

#[derive(diesel::QueryableByName, Debug)]
struct Setting {
    #[diesel(sql_type = Nullable<Text>)]
    org: Option<String>,
}

async fn calendar_db() -> (TestDb, Db) {
    let db = TestDb::new(calendar::Calendar::INFO, calendar::Calendar::MIGRATIONS)
        .await
        .unwrap();
    // One connection: every checkout reuses the same backend, so leaks between checkouts show.
    let pool = pg_pool(&SecretString::from(db.service_url()), 1).unwrap();
    (db, Db::new(pool))
}

async fn insert(db: &Db, org: OrgId, name: &str) -> Uuid {
    let name = name.to_string();
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            let r: Row = diesel::sql_query("INSERT INTO services (org_id, name, duration_minutes) VALUES ($1, $2, 30) RETURNING id, org_id")
                .bind::<SqlUuid, _>(org.as_uuid())
                .bind::<Text, _>(name)
                .get_result(tx)
                .await?;
            Ok::<_, E>(r.id)
        })
    })
    .await
    .unwrap()
}

async fn visible(db: &Db, org: OrgId) -> Vec<Row> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            Ok::<_, E>(
                diesel::sql_query("SELECT id, org_id FROM services")
                    .load::<Row>(tx)
                    .await?,
            )
        })
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_tenant_transaction_sees_and_touches_only_its_own_rows() {
    let (_guard, db) = calendar_db().await;
    let (a, b) = (OrgId::new_random(), OrgId::new_random());
    let a1 = insert(&db, a, "A cleaning").await;
    let _a2 = insert(&db, a, "A consult").await;
    let b1 = insert(&db, b, "B cleaning").await;

    let seen = visible(&db, a).await;
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|r| r.org_id == a.as_uuid()));
    assert!(seen.iter().any(|r| r.id == a1));

    // A cannot update or delete B's row, even naming it by id: zero rows affected.
    let (updated, deleted) = db
        .tenant_tx(a, |tx| {
            Box::pin(async move {
                let u = diesel::sql_query("UPDATE services SET name = 'hijacked' WHERE id = $1")
                    .bind::<SqlUuid, _>(b1)
                    .execute(tx)
                    .await?;
                let d = diesel::sql_query("DELETE FROM services WHERE id = $1")
                    .bind::<SqlUuid, _>(b1)
                    .execute(tx)
                    .await?;
                Ok::<_, E>((u, d))
            })
        })
        .await
        .unwrap();
    assert_eq!((updated, deleted), (0, 0));
    let b_rows = visible(&db, b).await;
    assert_eq!(b_rows.len(), 1, "B's row is still there");

    // Inserting a row for B while acting as A violates the policy's WITH CHECK.
    let err = db
        .tenant_tx(a, |tx| {
            Box::pin(async move {
                diesel::sql_query("INSERT INTO services (org_id, name, duration_minutes) VALUES ($1, 'smuggled', 30)")
                    .bind::<SqlUuid, _>(b.as_uuid())
                    .execute(tx)
                    .await?;
                Ok::<_, E>(())
            })
        })
        .await
        .unwrap_err();
    assert!(
        err.message().contains("row-level security"),
        "{}",
        err.message()
    );
    assert_eq!(visible(&db, b).await.len(), 1);
}

#[tokio::test]
async fn with_no_org_set_selects_return_zero_rows_not_an_error() {
    let (_guard, db) = calendar_db().await;
    insert(&db, OrgId::new_random(), "x").await;
    let rows = db
        .system_tx(|tx| {
            Box::pin(async move {
                Ok::<_, E>(
                    diesel::sql_query("SELECT id, org_id FROM services")
                        .load::<Row>(tx)
                        .await?,
                )
            })
        })
        .await
        .unwrap();
    assert!(rows.is_empty());
    // Outside any transaction too.
    let mut conn = servicekit::db::checkout(db.pool()).await.unwrap();
    let rows: Vec<Row> = diesel::sql_query("SELECT id, org_id FROM services")
        .load(&mut conn)
        .await
        .unwrap();
    assert!(rows.is_empty());
}

#[tokio::test]
async fn the_pooled_connection_carries_no_org_after_a_tenant_transaction() {
    let (_guard, db) = calendar_db().await;
    let a = OrgId::new_random();
    insert(&db, a, "committed").await;
    // And after a rollback.
    let _ = db
        .tenant_tx(a, |_tx| {
            Box::pin(async move { Err::<(), E>(E::Db(diesel::result::Error::RollbackTransaction)) })
        })
        .await;
    let mut conn = servicekit::db::checkout(db.pool()).await.unwrap();
    let s: Setting =
        diesel::sql_query("SELECT NULLIF(current_setting('app.org_id', true), '') AS org")
            .get_result(&mut conn)
            .await
            .unwrap();
    assert_eq!(s.org, None, "the org leaked into the next checkout");
    let rows: Vec<Row> = diesel::sql_query("SELECT id, org_id FROM services")
        .load(&mut conn)
        .await
        .unwrap();
    assert!(rows.is_empty());
}

#[tokio::test]
async fn org_id_cannot_be_updated() {
    let (test_db, db) = calendar_db().await;
    let (a, b) = (OrgId::new_random(), OrgId::new_random());
    let id = insert(&db, a, "mine").await;
    let err = db
        .tenant_tx(a, |tx| {
            Box::pin(async move {
                diesel::sql_query("UPDATE services SET org_id = $1 WHERE id = $2")
                    .bind::<SqlUuid, _>(b.as_uuid())
                    .bind::<SqlUuid, _>(id)
                    .execute(tx)
                    .await?;
                Ok::<_, E>(())
            })
        })
        .await
        .unwrap_err();
    assert!(
        err.message().contains("org_id is immutable"),
        "{}",
        err.message()
    );
    // Even the schema owner, which could otherwise rewrite its own rows, is stopped by the trigger.
    let mut owner = <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(
        &test_db.owner_url(),
    )
    .await
    .unwrap();
    let err = owner
        .batch_execute(&format!(
            "BEGIN; SELECT set_config('app.org_id', '{a}', true); UPDATE services SET org_id = '{b}'::uuid WHERE id = '{id}'; COMMIT;"
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("org_id is immutable"), "{err}");
    assert_eq!(visible(&db, a).await.len(), 1);
}

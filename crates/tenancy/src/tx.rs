//! The tenant-scoped transaction: every tenant query runs inside one transaction whose first
//! statement is `set_config('app.org_id', $1, true)` — transaction-local, so a pooled connection
//! never carries a tenant into the next request, and RLS filters every row by it.

use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use futures_util::future::BoxFuture;
use servicekit::db::{PgPool, PoolUnavailable, checkout};

use crate::ids::OrgId;

diesel::define_sql_function! {
    /// Postgres's `set_config(name, value, is_local)`.
    fn set_config(name: diesel::sql_types::Text, value: diesel::sql_types::Text, is_local: diesel::sql_types::Bool) -> diesel::sql_types::Text;
}

/// Sets the tenant for the current transaction (bound parameter, `is_local = true`). A typed
/// query, so its prepared statement is cached: one round trip per transaction, not two.
pub async fn set_tenant(conn: &mut AsyncPgConnection, org: OrgId) -> diesel::QueryResult<()> {
    diesel::select(set_config("app.org_id", org.to_string(), true))
        .execute(conn)
        .await
        .map(|_| ())
}

#[derive(Clone)]
pub struct Db {
    pool: PgPool,
}

impl Db {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `work` in a transaction scoped to `org`: commit on `Ok`, roll back on `Err`.
    ///
    /// ```text
    /// db.tenant_tx(org, |tx| Box::pin(async move { store::services::list(tx, &q).await })).await?
    /// ```
    pub async fn tenant_tx<T, E, F>(&self, org: OrgId, work: F) -> Result<T, E>
    where
        F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, Result<T, E>> + Send,
        E: From<diesel::result::Error> + From<PoolUnavailable> + Send,
        T: Send,
    {
        let mut conn = checkout(&self.pool).await?;
        conn.transaction(async move |c| {
            set_tenant(c, org).await?;
            work(c).await
        })
        .await
    }

    /// Like [`Db::tenant_tx`], read-only and `REPEATABLE READ`: every statement of `work` sees
    /// one snapshot. For views assembled from several queries (a record with its history), which
    /// under the default `READ COMMITTED` could show a commit that landed between two of them
    /// in one part of the answer and not in another.
    pub async fn tenant_snapshot<T, E, F>(&self, org: OrgId, work: F) -> Result<T, E>
    where
        F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, Result<T, E>> + Send,
        E: From<diesel::result::Error> + From<PoolUnavailable> + Send,
        T: Send,
    {
        let mut conn = checkout(&self.pool).await?;
        conn.transaction(async move |c| {
            // Must be the transaction's first statement (Postgres refuses it after any query).
            diesel_async::RunQueryDsl::execute(
                diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
                c,
            )
            .await?;
            set_tenant(c, org).await?;
            work(c).await
        })
        .await
    }

    /// A transaction with no tenant set, for system tables only (outbox relay, inbox, routing
    /// lookups before the org is known). Tenant tables read here return zero rows.
    pub async fn system_tx<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, Result<T, E>> + Send,
        E: From<diesel::result::Error> + From<PoolUnavailable> + Send,
        T: Send,
    {
        let mut conn = checkout(&self.pool).await?;
        conn.transaction(async move |c| work(c).await).await
    }
}

//! diesel-async queries of the auth schema. Tenant data (memberships, invitations, audit log,
//! flag overrides) is read and written inside `Db::tenant_tx`; a user's own memberships across
//! orgs inside `user_tx`. `schema.rs` is generated (`diesel print-schema`, see diesel.toml).

pub mod accounts;
pub mod audit;
pub mod email_tokens;
pub mod flags;
pub mod identities;
pub mod invitations;
pub mod mail_outbox;
pub mod members;
pub mod mfa;
pub mod schema;
pub mod security_events;
pub mod sessions;
pub mod signing_keys;
pub mod status;

use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use servicekit::db::{PgPool, PoolUnavailable, checkout};
use tenancy::UserId;

/// Lets the current transaction read `user`'s own memberships in every org.
pub async fn set_user(c: &mut AsyncPgConnection, user: UserId) -> diesel::QueryResult<()> {
    diesel::sql_query("SELECT set_config('app.user_id', $1, true)")
        .bind::<Text, _>(user.to_string())
        .execute(c)
        .await
        .map(|_| ())
}

/// A transaction that may read `user`'s own memberships in every org (the `memberships_own_rows`
/// policy), and nothing else org-scoped.
pub async fn user_tx<T, E, F>(pool: &PgPool, user: UserId, work: F) -> Result<T, E>
where
    F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, Result<T, E>> + Send,
    E: From<diesel::result::Error> + From<PoolUnavailable> + Send,
    T: Send,
{
    let mut conn = checkout(pool).await?;
    conn.transaction(async move |c| {
        set_user(c, user).await?;
        work(c).await
    })
    .await
}

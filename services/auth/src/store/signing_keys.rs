//! Token signing keys (`auth.signing_keys`): the private half sealed, the public half published
//! until `publish_until`. Creation and rotation are serialised by an advisory lock.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::auth::signing_keys;

#[derive(Debug, Queryable, Selectable, Insertable, Clone)]
#[diesel(table_name = signing_keys)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub private_key: Vec<u8>,
    pub enc_key_id: String,
    pub public_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub publish_until: Option<DateTime<Utc>>,
}

/// The keys still published, newest first.
pub async fn live(c: &mut AsyncPgConnection) -> QueryResult<Vec<KeyRow>> {
    signing_keys::table
        .filter(
            signing_keys::publish_until
                .is_null()
                .or(signing_keys::publish_until.gt(Utc::now())),
        )
        .order(signing_keys::created_at.desc())
        .select(KeyRow::as_select())
        .load::<KeyRow>(c)
        .await
}

/// Serialises key creation and rotation across instances (until the transaction ends).
pub async fn lock(c: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(7239101)")
        .execute(c)
        .await
        .map(|_| ())
}

pub async fn insert(c: &mut AsyncPgConnection, row: &KeyRow) -> QueryResult<()> {
    diesel::insert_into(signing_keys::table)
        .values(row)
        .execute(c)
        .await
        .map(|_| ())
}

/// Retires the signing key(s); they stay published until `until`.
pub async fn retire_current(c: &mut AsyncPgConnection, until: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(signing_keys::table.filter(signing_keys::retired_at.is_null()))
        .set((
            signing_keys::retired_at.eq(Utc::now()),
            signing_keys::publish_until.eq(until),
        ))
        .execute(c)
        .await
        .map(|_| ())
}

//! The durable send queue (system table): claimed across tenants by any replica with
//! `FOR UPDATE SKIP LOCKED`; a claim pushes the row's `due_at` out by a lease, so a replica that
//! dies mid-send leaves the row to be claimed again when the lease ends.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Interval};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::send_jobs as j;

#[derive(Debug, Clone, QueryableByName)]
pub struct Job {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub message_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub org_id: Uuid,
}

pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    message_id: Uuid,
    due_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(j::table)
        .values((
            j::message_id.eq(message_id),
            j::org_id.eq(org.as_uuid()),
            j::due_at.eq(due_at),
        ))
        .on_conflict(j::message_id)
        .do_update()
        .set(j::due_at.eq(due_at))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Claims up to `limit` due jobs for `lease`.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease: chrono::Duration,
) -> QueryResult<Vec<Job>> {
    let lease = diesel::data_types::PgInterval::from_microseconds(
        lease.num_microseconds().unwrap_or(60_000_000),
    );
    diesel::sql_query(
        "UPDATE send_jobs SET due_at = now() + $2 WHERE message_id IN (
             SELECT message_id FROM send_jobs WHERE due_at <= now()
             ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING message_id, org_id",
    )
    .bind::<BigInt, _>(limit)
    .bind::<Interval, _>(lease)
    .get_results(conn)
    .await
}

pub async fn reschedule(
    conn: &mut AsyncPgConnection,
    message_id: Uuid,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(j::table.filter(j::message_id.eq(message_id)))
        .set(j::due_at.eq(at))
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn delete(conn: &mut AsyncPgConnection, message_id: Uuid) -> QueryResult<()> {
    diesel::delete(j::table.filter(j::message_id.eq(message_id)))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The earliest due time, to sleep until it.
pub async fn next_due(conn: &mut AsyncPgConnection) -> QueryResult<Option<DateTime<Utc>>> {
    j::table
        .select(diesel::dsl::min(j::due_at))
        .first(conn)
        .await
}

pub async fn purge_org(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<usize> {
    diesel::delete(j::table.filter(j::org_id.eq(org.as_uuid())))
        .execute(conn)
        .await
}

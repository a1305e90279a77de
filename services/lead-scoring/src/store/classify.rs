//! The classifier's tables: `classify_queue` (system: call ids waiting, claimed across tenants)
//! and `call_intents` (tenant: what the classifier said about each call).

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::{call_intents, classify_queue};
use crate::domain::features::Classified;

/// Queues a call for classification (once per call).
pub async fn enqueue(conn: &mut AsyncPgConnection, org: OrgId, call: Uuid) -> QueryResult<()> {
    diesel::insert_into(classify_queue::table)
        .values((
            classify_queue::org_id.eq(org.as_uuid()),
            classify_queue::call_id.eq(call),
        ))
        .on_conflict((classify_queue::org_id, classify_queue::call_id))
        .do_nothing()
        .execute(conn)
        .await
        .map(|_| ())
}

#[derive(Debug, Clone, Queryable, QueryableByName)]
pub struct Job {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub call_id: Uuid,
}

/// Claims up to `n` due jobs for `lease_secs` (a crashed worker's jobs come back after it).
pub async fn claim(conn: &mut AsyncPgConnection, n: i64, lease_secs: i64) -> QueryResult<Vec<Job>> {
    diesel::sql_query(
        "UPDATE classify_queue SET next_at = now() + make_interval(secs => $2), attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM classify_queue WHERE next_at <= now() ORDER BY id LIMIT $1 \
                      FOR UPDATE SKIP LOCKED) \
         RETURNING id, org_id, call_id",
    )
    .bind::<diesel::sql_types::BigInt, _>(n)
    .bind::<diesel::sql_types::BigInt, _>(lease_secs)
    .load(conn)
    .await
}

pub async fn done(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<()> {
    diesel::delete(classify_queue::table.filter(classify_queue::id.eq(id)))
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn record(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    call: Uuid,
    c: &Classified,
) -> QueryResult<()> {
    diesel::insert_into(call_intents::table)
        .values((
            call_intents::org_id.eq(org.as_uuid()),
            call_intents::call_id.eq(call),
            call_intents::intent.eq(&c.intent),
            call_intents::outcome.eq(&c.outcome),
        ))
        .on_conflict((call_intents::org_id, call_intents::call_id))
        .do_update()
        .set((
            call_intents::intent.eq(&c.intent),
            call_intents::outcome.eq(&c.outcome),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// What the classifier said about these calls.
pub async fn find(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    calls: &[Uuid],
) -> QueryResult<BTreeMap<Uuid, Classified>> {
    let rows: Vec<(Uuid, Option<String>, String)> = call_intents::table
        .filter(call_intents::org_id.eq(org.as_uuid()))
        .filter(call_intents::call_id.eq_any(calls))
        .select((
            call_intents::call_id,
            call_intents::intent,
            call_intents::outcome,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, intent, outcome)| (id, Classified { intent, outcome }))
        .collect())
}

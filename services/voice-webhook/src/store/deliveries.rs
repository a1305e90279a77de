//! The webhook delivery log (system table): every fire-and-forget message is written here before
//! it is applied; `failed` rows wait for `voice-webhook replay`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::webhook_deliveries as wd;

pub const RECEIVED: &str = "received";
pub const APPLIED: &str = "applied";
pub const FAILED: &str = "failed";
pub const UNKNOWN_TENANT: &str = "unknown_tenant";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = wd)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Delivery {
    pub id: Uuid,
    pub org_id: Option<Uuid>,
    pub message_type: String,
    pub vapi_call_id: Option<String>,
    pub key_id: String,
    pub payload: Vec<u8>,
    pub received_at: DateTime<Utc>,
    pub outcome: String,
    pub error: Option<String>,
    pub attempts: i32,
}

/// A delivery waiting in the group-commit logger (`webhook::log`): its id is chosen here so the
/// one multi-row insert can tell which rows were new and which were duplicates.
#[derive(Debug, Clone)]
pub struct LogRow {
    pub id: Uuid,
    pub org_id: Option<OrgId>,
    pub message_type: String,
    pub vapi_call_id: Option<String>,
    pub dedupe_key: Option<String>,
    pub sealed: servicekit::crypto::Sealed,
    pub outcome: &'static str,
    pub received_at: DateTime<Utc>,
    pub phone_number_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
}

/// Logs `rows` in one statement; returns the ids that were inserted (a row whose dedupe key is
/// logged already, or repeated within `rows`, is not).
pub async fn insert_many(conn: &mut AsyncPgConnection, rows: &[LogRow]) -> QueryResult<Vec<Uuid>> {
    let values: Vec<_> = rows
        .iter()
        .map(|d| {
            (
                wd::id.eq(d.id),
                wd::org_id.eq(d.org_id.map(|o| o.as_uuid())),
                wd::message_type.eq(&d.message_type),
                wd::vapi_call_id.eq(d.vapi_call_id.as_deref()),
                wd::dedupe_key.eq(d.dedupe_key.as_deref()),
                wd::key_id.eq(&d.sealed.key_id),
                wd::payload.eq(&d.sealed.ciphertext),
                wd::outcome.eq(d.outcome),
                wd::received_at.eq(d.received_at),
                // Types that change nothing are logged as applied, at once.
                wd::applied_at.eq((d.outcome == APPLIED).then_some(d.received_at)),
                wd::phone_number_id.eq(d.phone_number_id),
                wd::agent_id.eq(d.agent_id),
            )
        })
        .collect();
    diesel::insert_into(wd::table)
        .values(values)
        .on_conflict_do_nothing()
        .returning(wd::id)
        .load(conn)
        .await
}

/// A logged delivery waiting to be applied, with the route its request resolved.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = wd)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Waiting {
    pub id: Uuid,
    pub org_id: Option<Uuid>,
    pub key_id: String,
    pub payload: Vec<u8>,
    pub phone_number_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
}

/// Locks up to `limit` deliveries waiting to be applied, oldest first, skipping rows another
/// worker (or a replay) holds. Held until the caller's transaction ends.
pub async fn claim_waiting(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<Waiting>> {
    wd::table
        .filter(wd::outcome.eq(RECEIVED))
        .filter(wd::org_id.is_not_null())
        .order(wd::received_at.asc())
        .select(Waiting::as_select())
        .limit(limit)
        .for_update()
        .skip_locked()
        .load(conn)
        .await
}

/// Marks deliveries applied (one statement for a batch).
pub async fn mark_applied(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(wd::table.filter(wd::id.eq_any(ids)))
        .set((
            wd::outcome.eq(APPLIED),
            wd::error.eq(None::<String>),
            wd::attempts.eq(wd::attempts + 1),
            wd::applied_at.eq(Some(Utc::now())),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Records the outcome of one attempt to apply delivery `id`.
pub async fn finish(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    error: Option<&str>,
) -> QueryResult<()> {
    let outcome = if error.is_some() { FAILED } else { APPLIED };
    diesel::update(wd::table.filter(wd::id.eq(id)))
        .set((
            wd::outcome.eq(outcome),
            wd::error.eq(error),
            wd::attempts.eq(wd::attempts + 1),
            wd::applied_at.eq(error.is_none().then(Utc::now)),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Locks a delivery for replay (skipping rows another replay holds); `None` when it is not
/// waiting to be applied.
pub async fn claim_for_replay(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<Delivery>> {
    wd::table
        .filter(wd::id.eq(id))
        .filter(wd::outcome.eq_any([FAILED, RECEIVED]))
        .select(Delivery::as_select())
        .for_update()
        .skip_locked()
        .first(conn)
        .await
        .optional()
}

pub async fn failed_ids(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<Uuid>> {
    wd::table
        .filter(wd::outcome.eq(FAILED))
        .order(wd::received_at.asc())
        .select(wd::id)
        .limit(limit)
        .load(conn)
        .await
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Delivery>> {
    wd::table
        .filter(wd::id.eq(id))
        .select(Delivery::as_select())
        .first(conn)
        .await
        .optional()
}

/// Deletes up to `limit` logged messages of types voice does not act on (`ACTED_ON`), received
/// before `before` and not waiting for anything (applied, or of an unknown org); returns how
/// many. The predicate is the partial index `webhook_deliveries_chatter`'s.
pub async fn delete_chatter_before(
    conn: &mut AsyncPgConnection,
    acted_on: &[&str],
    before: DateTime<Utc>,
    limit: i64,
) -> QueryResult<usize> {
    let kept = acted_on
        .iter()
        .map(|t| format!("'{}'", t.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ");
    diesel::sql_query(format!(
        "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries \
         WHERE outcome IN ('applied', 'unknown_tenant') AND message_type NOT IN ({kept}) \
         AND received_at < $1 ORDER BY received_at LIMIT $2)"
    ))
    .bind::<diesel::sql_types::Timestamptz, _>(before)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .execute(conn)
    .await
}

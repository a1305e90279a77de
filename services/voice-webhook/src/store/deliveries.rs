//! The webhook delivery log (system table): every fire-and-forget message is written here before
//! it is applied; `failed` rows wait for `voice-webhook replay`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
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

pub struct NewDelivery<'a> {
    pub org_id: Option<Uuid>,
    pub message_type: &'a str,
    pub vapi_call_id: Option<&'a str>,
    pub dedupe_key: Option<&'a str>,
    pub sealed: &'a servicekit::crypto::Sealed,
    pub outcome: &'a str,
}

/// Logs a delivery; `None` when one with the same dedupe key is already logged (a duplicate).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    d: &NewDelivery<'_>,
) -> QueryResult<Option<Uuid>> {
    diesel::insert_into(wd::table)
        .values((
            wd::org_id.eq(d.org_id),
            wd::message_type.eq(d.message_type),
            wd::vapi_call_id.eq(d.vapi_call_id),
            wd::dedupe_key.eq(d.dedupe_key),
            wd::key_id.eq(&d.sealed.key_id),
            wd::payload.eq(&d.sealed.ciphertext),
            wd::outcome.eq(d.outcome),
        ))
        .on_conflict_do_nothing()
        .returning(wd::id)
        .get_result(conn)
        .await
        .optional()
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

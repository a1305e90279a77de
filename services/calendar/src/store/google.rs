//! The Google connection of an org, the sync-job outbox the worker drains, the freeBusy refresh
//! schedule and the busy blocks it stores.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use servicekit::crypto::Sealed;
use tenancy::{OrgId, UserId};
use uuid::Uuid;

use super::schema::{external_busy, google_busy_refresh, google_connections, google_sync_jobs};
use crate::domain::availability::Interval;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = google_connections)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct ConnectionRow {
    #[diesel(deserialize_as = Uuid)]
    pub org_id: OrgId,
    pub status: String,
    pub calendar_id: String,
    pub refresh_token_key_id: Option<String>,
    pub refresh_token_sealed: Option<Vec<u8>>,
    pub connected_by: Option<Uuid>,
    pub connected_at: Option<DateTime<Utc>>,
    pub disconnected_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub busy_synced_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl ConnectionRow {
    /// The stored refresh token, sealed (`None` once disconnected).
    pub fn sealed_token(&self) -> Option<Sealed> {
        Some(Sealed {
            key_id: self.refresh_token_key_id.clone()?,
            ciphertext: self.refresh_token_sealed.clone()?,
        })
    }
}

pub async fn find_connection(
    conn: &mut AsyncPgConnection,
    org: OrgId,
) -> QueryResult<Option<ConnectionRow>> {
    google_connections::table
        .filter(google_connections::org_id.eq(org.as_uuid()))
        .select(ConnectionRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Stores a fresh connection (replacing any earlier one), gives failed sync jobs a fresh start,
/// queues what changed while disconnected, and schedules a busy-time refresh.
pub async fn upsert_connection(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
    key_id: &str,
    sealed: &[u8],
) -> QueryResult<()> {
    let o = org.as_uuid();
    let now = Utc::now();
    diesel::insert_into(google_connections::table)
        .values((
            google_connections::org_id.eq(o),
            google_connections::status.eq("connected"),
            google_connections::refresh_token_key_id.eq(key_id),
            google_connections::refresh_token_sealed.eq(sealed),
            google_connections::connected_by.eq(user.as_uuid()),
            google_connections::connected_at.eq(now),
        ))
        .on_conflict(google_connections::org_id)
        .do_update()
        .set((
            google_connections::status.eq("connected"),
            google_connections::refresh_token_key_id.eq(key_id),
            google_connections::refresh_token_sealed.eq(sealed),
            google_connections::connected_by.eq(user.as_uuid()),
            google_connections::connected_at.eq(now),
            google_connections::disconnected_at.eq(None::<DateTime<Utc>>),
            google_connections::last_error.eq(None::<String>),
            google_connections::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    // Jobs that failed (attempts used up, a permanent error, or the connection was lost) get a
    // fresh start on the new connection.
    diesel::update(
        google_sync_jobs::table
            .filter(google_sync_jobs::org_id.eq(o))
            .filter(google_sync_jobs::failed_at.is_not_null()),
    )
    .set((
        google_sync_jobs::failed_at.eq(None::<DateTime<Utc>>),
        google_sync_jobs::attempts.eq(0),
        google_sync_jobs::next_attempt_at.eq(now),
    ))
    .execute(conn)
    .await?;
    // Changes made while disconnected were never queued: queue every appointment not yet
    // ended whose Google copy is missing or older than the row (a job per appointment at most).
    diesel::sql_query(
        "INSERT INTO google_sync_jobs (org_id, appointment_id)
         SELECT a.org_id, a.id FROM appointments a
          WHERE a.org_id = $1 AND a.ends_at > now()
            AND ((a.google_synced_at IS NULL AND a.status IN ('booked', 'confirmed', 'completed', 'no_show'))
                 OR a.updated_at > a.google_synced_at)
            AND NOT EXISTS (SELECT 1 FROM google_sync_jobs j
                             WHERE j.org_id = $1 AND j.appointment_id = a.id)",
    )
    .bind::<diesel::sql_types::Uuid, _>(o)
    .execute(conn)
    .await?;
    diesel::insert_into(google_busy_refresh::table)
        .values((
            google_busy_refresh::org_id.eq(o),
            google_busy_refresh::next_refresh_at.eq(now),
        ))
        .on_conflict(google_busy_refresh::org_id)
        .do_update()
        .set(google_busy_refresh::next_refresh_at.eq(now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks the org disconnected: the token is wiped and busy blocks dropped; pending writes stay,
/// marked failed (visible in the status), and nothing retries until an admin connects again.
pub async fn mark_disconnected(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    reason: Option<&str>,
) -> QueryResult<()> {
    let o = org.as_uuid();
    let now = Utc::now();
    diesel::update(google_connections::table.filter(google_connections::org_id.eq(o)))
        .set((
            google_connections::status.eq("disconnected"),
            google_connections::refresh_token_key_id.eq(None::<String>),
            google_connections::refresh_token_sealed.eq(None::<Vec<u8>>),
            google_connections::disconnected_at.eq(now),
            google_connections::last_error.eq(reason),
            google_connections::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    diesel::update(
        google_sync_jobs::table
            .filter(google_sync_jobs::org_id.eq(o))
            .filter(google_sync_jobs::failed_at.is_null()),
    )
    .set((
        google_sync_jobs::failed_at.eq(now),
        google_sync_jobs::last_error.eq(reason.unwrap_or("disconnected")),
    ))
    .execute(conn)
    .await?;
    diesel::delete(google_busy_refresh::table.filter(google_busy_refresh::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(external_busy::table.filter(external_busy::org_id.eq(o)))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_last_error(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    error: Option<&str>,
) -> QueryResult<()> {
    diesel::update(google_connections::table.filter(google_connections::org_id.eq(org.as_uuid())))
        .set(google_connections::last_error.eq(error))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Queues a Google write for `appointment` when the org is connected (same transaction as the
/// change, so a booking never commits without its sync job). The connection row is share-locked:
/// a concurrent `mark_disconnected` either commits first (and no job is queued) or waits for
/// this transaction (and then deletes the job with the others) — never a job left behind for a
/// disconnected org. Concurrent bookings share the lock.
pub async fn enqueue_sync_if_connected(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    appointment: Uuid,
) -> QueryResult<()> {
    let connected: Option<String> = google_connections::table
        .filter(google_connections::org_id.eq(org.as_uuid()))
        .select(google_connections::status)
        .for_share()
        .first(conn)
        .await
        .optional()?;
    if connected.as_deref() == Some("connected") {
        diesel::insert_into(google_sync_jobs::table)
            .values((
                google_sync_jobs::org_id.eq(org.as_uuid()),
                google_sync_jobs::appointment_id.eq(appointment),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Queryable)]
pub struct Job {
    pub id: i64,
    #[diesel(deserialize_as = Uuid)]
    pub org_id: OrgId,
    pub appointment_id: Uuid,
    pub attempts: i32,
}

/// Claims up to `n` due jobs across orgs: each is leased (pushed `lease` into the future) so a
/// second worker skips it while this one calls Google outside any transaction.
pub async fn claim_jobs(
    conn: &mut AsyncPgConnection,
    n: i64,
    lease: chrono::Duration,
) -> QueryResult<Vec<Job>> {
    let ids: Vec<i64> = google_sync_jobs::table
        .filter(google_sync_jobs::failed_at.is_null())
        .filter(google_sync_jobs::next_attempt_at.le(diesel::dsl::now))
        .order(google_sync_jobs::id)
        .select(google_sync_jobs::id)
        .limit(n)
        .for_update()
        .skip_locked()
        .load(conn)
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(google_sync_jobs::table.filter(google_sync_jobs::id.eq_any(&ids)))
        .set(google_sync_jobs::next_attempt_at.eq(Utc::now() + lease))
        .returning((
            google_sync_jobs::id,
            google_sync_jobs::org_id,
            google_sync_jobs::appointment_id,
            google_sync_jobs::attempts,
        ))
        .get_results(conn)
        .await
}

/// Removes a job that is done. A job a concurrent disconnect marked failed stays (a reconnect
/// retries it; the write is idempotent).
pub async fn finish_job(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<()> {
    diesel::delete(
        google_sync_jobs::table
            .filter(google_sync_jobs::id.eq(id))
            .filter(google_sync_jobs::failed_at.is_null()),
    )
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn retry_job(
    conn: &mut AsyncPgConnection,
    id: i64,
    at: DateTime<Utc>,
    error: &str,
) -> QueryResult<()> {
    diesel::update(google_sync_jobs::table.filter(google_sync_jobs::id.eq(id)))
        .set((
            google_sync_jobs::attempts.eq(google_sync_jobs::attempts + 1),
            google_sync_jobs::next_attempt_at.eq(at),
            google_sync_jobs::last_error.eq(error),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Gives a job up after its last attempt (or a permanent error): it stays, marked failed, so the
/// integration status shows it, until a reconnect retries it.
pub async fn fail_job(conn: &mut AsyncPgConnection, id: i64, error: &str) -> QueryResult<()> {
    diesel::update(google_sync_jobs::table.filter(google_sync_jobs::id.eq(id)))
        .set((
            google_sync_jobs::attempts.eq(google_sync_jobs::attempts + 1),
            google_sync_jobs::failed_at.eq(Utc::now()),
            google_sync_jobs::last_error.eq(error),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The org's failed sync jobs: how many, and the newest one's error and time.
#[derive(Debug, Clone, Default)]
pub struct FailedJobs {
    pub count: i64,
    pub last_error: Option<String>,
    pub last_failed_at: Option<DateTime<Utc>>,
}

/// Failed jobs of `org` (a system table: always filtered by org here).
pub async fn failed_jobs(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<FailedJobs> {
    let o = org.as_uuid();
    let count: i64 = google_sync_jobs::table
        .filter(google_sync_jobs::org_id.eq(o))
        .filter(google_sync_jobs::failed_at.is_not_null())
        .count()
        .get_result(conn)
        .await?;
    let last: Option<(Option<String>, Option<DateTime<Utc>>)> = google_sync_jobs::table
        .filter(google_sync_jobs::org_id.eq(o))
        .filter(google_sync_jobs::failed_at.is_not_null())
        .order((
            google_sync_jobs::failed_at.desc(),
            google_sync_jobs::id.desc(),
        ))
        .select((google_sync_jobs::last_error, google_sync_jobs::failed_at))
        .first(conn)
        .await
        .optional()?;
    let (last_error, last_failed_at) = last.unwrap_or_default();
    Ok(FailedJobs {
        count,
        last_error,
        last_failed_at,
    })
}

/// Orgs whose busy time is due for a refresh; each is pushed to `next` at once.
pub async fn claim_busy_refreshes(
    conn: &mut AsyncPgConnection,
    n: i64,
    next: DateTime<Utc>,
) -> QueryResult<Vec<OrgId>> {
    let orgs: Vec<Uuid> = google_busy_refresh::table
        .filter(google_busy_refresh::next_refresh_at.le(diesel::dsl::now))
        .order(google_busy_refresh::next_refresh_at)
        .select(google_busy_refresh::org_id)
        .limit(n)
        .for_update()
        .skip_locked()
        .load(conn)
        .await?;
    if !orgs.is_empty() {
        diesel::update(
            google_busy_refresh::table.filter(google_busy_refresh::org_id.eq_any(&orgs)),
        )
        .set(google_busy_refresh::next_refresh_at.eq(next))
        .execute(conn)
        .await?;
    }
    Ok(orgs.into_iter().map(OrgId).collect())
}

/// Replaces the org's Google busy blocks with `busy`, unless the connection was disconnected
/// while Google was being asked (the row lock orders this against `mark_disconnected`): then the
/// stale answer is dropped and the disconnect reason stays.
pub async fn replace_busy(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    busy: &[Interval],
) -> QueryResult<()> {
    let o = org.as_uuid();
    let status: Option<String> = google_connections::table
        .filter(google_connections::org_id.eq(o))
        .select(google_connections::status)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    diesel::delete(external_busy::table.filter(external_busy::org_id.eq(o)))
        .execute(conn)
        .await?;
    if status.as_deref() != Some("connected") {
        return Ok(());
    }
    if !busy.is_empty() {
        let rows: Vec<_> = busy
            .iter()
            .map(|b| {
                (
                    external_busy::org_id.eq(o),
                    external_busy::starts_at.eq(b.start),
                    external_busy::ends_at.eq(b.end),
                )
            })
            .collect();
        diesel::insert_into(external_busy::table)
            .values(rows)
            .execute(conn)
            .await?;
    }
    diesel::update(google_connections::table.filter(google_connections::org_id.eq(o)))
        .set((
            google_connections::busy_synced_at.eq(Utc::now()),
            google_connections::last_error.eq(None::<String>),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

//! Appointments and holds. Overlap is refused by the table's exclusion constraint
//! (`appointments_no_overlap`), never by a read-then-write check here.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::{appointments, external_busy};
use crate::domain::appointment::{AppointmentStatus, BLOCKING, VISIBLE};
use crate::domain::availability::Interval;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = appointments)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct AppointmentRow {
    pub id: Uuid,
    #[diesel(deserialize_as = Uuid)]
    pub org_id: OrgId,
    pub service_id: Uuid,
    pub service_name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub block_start: DateTime<Utc>,
    pub block_end: DateTime<Utc>,
    pub buffer_before_minutes: i32,
    pub buffer_after_minutes: i32,
    /// Text in the table, parsed here (the column's CHECK lists the same six values).
    #[diesel(deserialize_as = String)]
    pub status: AppointmentStatus,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub source: String,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub call_id: Option<Uuid>,
    pub notes: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub cancel_reason: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub google_synced_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// 1 on insert, +1 on every change (time, status, contact): the order of its events.
    pub version: i64,
    /// Who (or which room) the appointment is with; the name as it was when booked.
    pub provider_id: Uuid,
    pub provider_name: String,
}

/// A new row (the org is the one the insert is for).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = appointments)]
pub struct NewAppointment {
    pub service_id: Uuid,
    pub service_name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub block_start: DateTime<Utc>,
    pub block_end: DateTime<Utc>,
    pub buffer_before_minutes: i32,
    pub buffer_after_minutes: i32,
    #[diesel(serialize_as = String)]
    pub status: AppointmentStatus,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub source: String,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub call_id: Option<Uuid>,
    pub notes: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub provider_id: Uuid,
    pub provider_name: String,
}

pub async fn insert_appointment(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    new: &NewAppointment,
) -> QueryResult<AppointmentRow> {
    diesel::insert_into(appointments::table)
        .values((appointments::org_id.eq(org.as_uuid()), new.clone()))
        .returning(AppointmentRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn find_appointment(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<Option<AppointmentRow>> {
    appointments::table
        .filter(appointments::org_id.eq(org.as_uuid()))
        .filter(appointments::id.eq(id))
        .select(AppointmentRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The same, locked for an update in this transaction.
pub async fn lock_appointment(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<Option<AppointmentRow>> {
    appointments::table
        .filter(appointments::org_id.eq(org.as_uuid()))
        .filter(appointments::id.eq(id))
        .select(AppointmentRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

pub async fn find_by_idempotency_key(
    conn: &AsyncPgConnection,
    org: OrgId,
    key: &str,
) -> QueryResult<Option<AppointmentRow>> {
    let mut conn = conn;
    appointments::table
        .filter(appointments::org_id.eq(org.as_uuid()))
        .filter(appointments::idempotency_key.eq(key))
        .select(AppointmentRow::as_select())
        .first(&mut conn)
        .await
        .optional()
}

/// Holds past their expiry that overlap `range` stop blocking (a status change: `now()` cannot
/// sit in the constraint's predicate).
pub async fn expire_stale_holds(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    range: Interval,
) -> QueryResult<usize> {
    diesel::update(
        appointments::table
            .filter(appointments::org_id.eq(org.as_uuid()))
            .filter(appointments::status.eq(AppointmentStatus::Held.as_str()))
            .filter(appointments::hold_expires_at.le(diesel::dsl::now))
            .filter(appointments::block_start.lt(range.end))
            .filter(appointments::block_end.gt(range.start)),
    )
    .set((
        appointments::status.eq(AppointmentStatus::Expired.as_str()),
        appointments::updated_at.eq(diesel::dsl::now),
        appointments::version.eq(appointments::version + 1),
    ))
    .execute(conn)
    .await
}

/// Turns a live hold into a booking; `None` when the hold is gone, expired, for another slot
/// or (when one is asked for) with another provider. The hold keeps its provider.
pub async fn confirm_hold(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    hold_id: Uuid,
    provider: Option<Uuid>,
    new: &NewAppointment,
) -> QueryResult<Option<AppointmentRow>> {
    if let Some(p) = provider
        && find_appointment(conn, org, hold_id)
            .await?
            .is_some_and(|h| h.provider_id != p)
    {
        return Ok(None);
    }
    diesel::update(
        appointments::table
            .filter(appointments::org_id.eq(org.as_uuid()))
            .filter(appointments::id.eq(hold_id))
            .filter(appointments::status.eq(AppointmentStatus::Held.as_str()))
            .filter(appointments::hold_expires_at.gt(diesel::dsl::now))
            .filter(appointments::service_id.eq(new.service_id))
            .filter(appointments::starts_at.eq(new.starts_at)),
    )
    .set((
        appointments::status.eq(AppointmentStatus::Booked.as_str()),
        appointments::hold_expires_at.eq(None::<DateTime<Utc>>),
        appointments::source.eq(&new.source),
        appointments::contact_name.eq(&new.contact_name),
        appointments::contact_phone.eq(&new.contact_phone),
        appointments::contact_email.eq(&new.contact_email),
        appointments::call_id.eq(new.call_id),
        appointments::notes.eq(&new.notes),
        appointments::idempotency_key.eq(&new.idempotency_key),
        appointments::request_hash.eq(&new.request_hash),
        appointments::updated_at.eq(diesel::dsl::now),
        appointments::version.eq(appointments::version + 1),
    ))
    .returning(AppointmentRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Buffered ranges of rows that block time and overlap `[from, to)` (live holds included), with
/// the provider each one blocks.
pub async fn blocks_between(
    conn: &AsyncPgConnection,
    org: OrgId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    except: Option<Uuid>,
) -> QueryResult<Vec<(Uuid, Interval)>> {
    let mut q = appointments::table
        .filter(appointments::org_id.eq(org.as_uuid()))
        .filter(appointments::status.eq_any(BLOCKING.map(AppointmentStatus::as_str)))
        .filter(
            appointments::hold_expires_at
                .is_null()
                .or(appointments::hold_expires_at.gt(diesel::dsl::now)),
        )
        .filter(appointments::block_start.lt(to))
        .filter(appointments::block_end.gt(from))
        .select((
            appointments::provider_id,
            appointments::block_start,
            appointments::block_end,
        ))
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(appointments::id.ne(id));
    }
    let mut conn = conn;
    let rows: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)> = q.load(&mut conn).await?;
    Ok(rows
        .into_iter()
        .map(|(p, start, end)| (p, Interval { start, end }))
        .collect())
}

pub async fn external_busy_between(
    conn: &AsyncPgConnection,
    org: OrgId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> QueryResult<Vec<Interval>> {
    let mut conn = conn;
    let rows: Vec<(DateTime<Utc>, DateTime<Utc>)> = external_busy::table
        .filter(external_busy::org_id.eq(org.as_uuid()))
        .filter(external_busy::starts_at.lt(to))
        .filter(external_busy::ends_at.gt(from))
        .select((external_busy::starts_at, external_busy::ends_at))
        .load(&mut conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(start, end)| Interval { start, end })
        .collect())
}

/// Filters and keyset position of a list request (ordered by start, then id).
#[derive(Debug, Clone, Default)]
pub struct ListAppointments {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Empty: every visible status.
    pub statuses: Vec<AppointmentStatus>,
    pub service_id: Option<Uuid>,
    pub provider_id: Option<Uuid>,
    pub phone: Option<String>,
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

pub async fn list_appointments(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    q: &ListAppointments,
) -> QueryResult<Vec<AppointmentRow>> {
    let statuses: Vec<&str> = if q.statuses.is_empty() {
        VISIBLE.map(AppointmentStatus::as_str).to_vec()
    } else {
        q.statuses.iter().map(|s| s.as_str()).collect()
    };
    let mut query = appointments::table
        .filter(appointments::org_id.eq(org.as_uuid()))
        .filter(appointments::status.eq_any(statuses))
        .select(AppointmentRow::as_select())
        .order((appointments::starts_at.asc(), appointments::id.asc()))
        .limit(q.limit)
        .into_boxed();
    if let Some(from) = q.from {
        query = query.filter(appointments::starts_at.ge(from));
    }
    if let Some(to) = q.to {
        query = query.filter(appointments::starts_at.lt(to));
    }
    if let Some(s) = q.service_id {
        query = query.filter(appointments::service_id.eq(s));
    }
    if let Some(p) = q.provider_id {
        query = query.filter(appointments::provider_id.eq(p));
    }
    if let Some(p) = &q.phone {
        query = query.filter(appointments::contact_phone.eq(p.clone()));
    }
    if let Some((at, id)) = q.after {
        query = query.filter(
            appointments::starts_at
                .gt(at)
                .or(appointments::starts_at.eq(at).and(appointments::id.gt(id))),
        );
    }
    query.load(conn).await
}

/// Moves an appointment in place (one row, one Google event). A confirmed appointment is
/// `booked` again: the patient confirmed the old time, not the new one.
pub async fn update_times(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    block: Interval,
) -> QueryResult<AppointmentRow> {
    diesel::update(
        appointments::table
            .filter(appointments::org_id.eq(org.as_uuid()))
            .filter(appointments::id.eq(id)),
    )
    .set((
        appointments::starts_at.eq(starts_at),
        appointments::ends_at.eq(ends_at),
        appointments::block_start.eq(block.start),
        appointments::block_end.eq(block.end),
        appointments::status.eq(AppointmentStatus::Booked.as_str()),
        appointments::updated_at.eq(diesel::dsl::now),
        appointments::version.eq(appointments::version + 1),
    ))
    .returning(AppointmentRow::as_returning())
    .get_result(conn)
    .await
}

pub async fn set_status(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    status: AppointmentStatus,
    cancel_reason: Option<&str>,
) -> QueryResult<AppointmentRow> {
    let cancelled = status == AppointmentStatus::Cancelled;
    diesel::update(
        appointments::table
            .filter(appointments::org_id.eq(org.as_uuid()))
            .filter(appointments::id.eq(id)),
    )
    .set((
        appointments::status.eq(status.as_str()),
        appointments::cancel_reason.eq(cancel_reason),
        appointments::cancelled_at.eq(cancelled.then(Utc::now)),
        appointments::updated_at.eq(diesel::dsl::now),
        appointments::version.eq(appointments::version + 1),
    ))
    .returning(AppointmentRow::as_returning())
    .get_result(conn)
    .await
}

pub async fn mark_google_synced(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    synced: Option<DateTime<Utc>>,
) -> QueryResult<()> {
    diesel::update(
        appointments::table
            .filter(appointments::org_id.eq(org.as_uuid()))
            .filter(appointments::id.eq(id)),
    )
    .set(appointments::google_synced_at.eq(synced))
    .execute(conn)
    .await
    .map(|_| ())
}

/// True for the overlap refusal of the exclusion constraint (diesel-async ≥ 0.9.2 reports the
/// kind; the constraint name is checked too, as older versions said `Unknown`).
pub fn is_overlap(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind as K, Error as E};
    matches!(e, E::DatabaseError(K::ExclusionViolation, _))
        || matches!(e, E::DatabaseError(_, info) if info.constraint_name() == Some("appointments_no_overlap"))
}

/// True when a concurrent request with the same idempotency key committed first.
pub fn is_key_race(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind as K, Error as E};
    matches!(e, E::DatabaseError(K::UniqueViolation, info) if info.constraint_name() == Some("appointments_idem"))
}

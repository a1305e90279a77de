//! Messages (the audit trail, bodies sealed) and their status history.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::{message_events as e, messages as m};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = m)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct MessageRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub direction: String,
    pub channel: String,
    pub kind: String,
    pub to_number: String,
    pub from_number: Option<String>,
    pub body_key_id: String,
    pub body_sealed: Vec<u8>,
    pub body_sha256: String,
    pub template_key: Option<String>,
    pub content_sid: Option<String>,
    pub status: String,
    pub status_rank: i32,
    pub twilio_sid: Option<String>,
    pub error_code: Option<String>,
    pub error_reason: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_sha256: Option<String>,
    pub dedupe_key: Option<String>,
    pub appointment_id: Option<Uuid>,
    pub send_at: DateTime<Utc>,
    pub attempts: i32,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = m)]
pub struct NewMessage {
    pub id: Uuid,
    pub org_id: Uuid,
    pub direction: String,
    pub channel: String,
    pub kind: String,
    pub to_number: String,
    pub from_number: Option<String>,
    pub body_key_id: String,
    pub body_sealed: Vec<u8>,
    pub body_sha256: String,
    pub template_key: Option<String>,
    pub content_sid: Option<String>,
    pub status: String,
    pub status_rank: i32,
    pub twilio_sid: Option<String>,
    pub error_code: Option<String>,
    pub error_reason: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_sha256: Option<String>,
    pub dedupe_key: Option<String>,
    pub appointment_id: Option<Uuid>,
    pub send_at: DateTime<Utc>,
}

/// Inserts `msg` unless its idempotency key, dedupe key or Twilio SID is taken (`None` then).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    msg: &NewMessage,
) -> QueryResult<Option<MessageRow>> {
    diesel::insert_into(m::table)
        .values(msg)
        .on_conflict_do_nothing()
        .returning(MessageRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<Option<MessageRow>> {
    m::table
        .filter(m::org_id.eq(org.as_uuid()).and(m::id.eq(id)))
        .select(MessageRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Locks the row for the caller's transaction.
pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<Option<MessageRow>> {
    m::table
        .filter(m::org_id.eq(org.as_uuid()).and(m::id.eq(id)))
        .select(MessageRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

pub async fn find_by_idempotency_key(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    key: &str,
) -> QueryResult<Option<MessageRow>> {
    m::table
        .filter(m::org_id.eq(org.as_uuid()).and(m::idempotency_key.eq(key)))
        .select(MessageRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn find_by_sid_for_update(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    sid: &str,
) -> QueryResult<Option<MessageRow>> {
    m::table
        .filter(m::org_id.eq(org.as_uuid()).and(m::twilio_sid.eq(sid)))
        .select(MessageRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

#[derive(Debug, Default, Clone)]
pub struct ListMessages {
    pub phone: Option<String>,
    pub statuses: Vec<String>,
    pub direction: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub appointment_id: Option<Uuid>,
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// Newest first, keyset on `(created_at, id)`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    q: &ListMessages,
) -> QueryResult<Vec<MessageRow>> {
    let mut query = m::table
        .filter(m::org_id.eq(org.as_uuid()))
        .select(MessageRow::as_select())
        .into_boxed();
    if let Some(p) = &q.phone {
        query = query.filter(m::to_number.eq(p.clone()).or(m::from_number.eq(p.clone())));
    }
    if !q.statuses.is_empty() {
        query = query.filter(m::status.eq_any(q.statuses.clone()));
    }
    if let Some(d) = &q.direction {
        query = query.filter(m::direction.eq(d.clone()));
    }
    if let Some(f) = q.from {
        query = query.filter(m::created_at.ge(f));
    }
    if let Some(t) = q.to {
        query = query.filter(m::created_at.lt(t));
    }
    if let Some(a) = q.appointment_id {
        query = query.filter(m::appointment_id.eq(a));
    }
    if let Some((at, id)) = q.after {
        query = query.filter(
            m::created_at
                .lt(at)
                .or(m::created_at.eq(at).and(m::id.lt(id))),
        );
    }
    query
        .order((m::created_at.desc(), m::id.desc()))
        .limit(q.limit)
        .load(conn)
        .await
}

/// What a send attempt or a callback changes.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = m)]
pub struct StatusChange {
    pub status: Option<String>,
    pub status_rank: Option<i32>,
    pub twilio_sid: Option<String>,
    pub error_code: Option<Option<String>>,
    pub error_reason: Option<Option<String>>,
    pub from_number: Option<Option<String>>,
    pub attempts: Option<i32>,
    pub last_attempt_at: Option<Option<DateTime<Utc>>>,
    pub sent_at: Option<Option<DateTime<Utc>>>,
    pub send_at: Option<DateTime<Utc>>,
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    c: &StatusChange,
) -> QueryResult<MessageRow> {
    diesel::update(m::table.filter(m::org_id.eq(org.as_uuid()).and(m::id.eq(id))))
        .set((c, m::updated_at.eq(diesel::dsl::now)))
        .returning(MessageRow::as_returning())
        .get_result(conn)
        .await
}

/// Cancels the appointment's messages that have not gone out yet (pending), returning their ids.
pub async fn cancel_pending_for_appointment(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    appointment: Uuid,
    kind_prefix: &str,
) -> QueryResult<Vec<Uuid>> {
    diesel::update(
        m::table.filter(
            m::org_id
                .eq(org.as_uuid())
                .and(m::appointment_id.eq(appointment))
                .and(m::status.eq(crate::domain::status::PENDING))
                .and(m::kind.like(format!("{kind_prefix}%"))),
        ),
    )
    .set((
        m::status.eq(crate::domain::status::CANCELED),
        m::status_rank.eq(4),
        m::updated_at.eq(diesel::dsl::now),
    ))
    .returning(m::id)
    .get_results(conn)
    .await
}

/// Whether `phone` texted the org on `channel` since `since` (the WhatsApp session window).
pub async fn inbound_since(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    phone: &str,
    channel: &str,
    since: DateTime<Utc>,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        m::table.filter(
            m::org_id
                .eq(org.as_uuid())
                .and(m::direction.eq("inbound"))
                .and(m::channel.eq(channel))
                .and(m::from_number.eq(phone))
                .and(m::created_at.ge(since)),
        ),
    ))
    .get_result(conn)
    .await
}

/// The newest outbound message to `phone` about an appointment (a reply `C` confirms it).
pub async fn latest_appointment_message_to(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    phone: &str,
) -> QueryResult<Option<MessageRow>> {
    m::table
        .filter(
            m::org_id
                .eq(org.as_uuid())
                .and(m::direction.eq("outbound"))
                .and(m::to_number.eq(phone))
                .and(m::appointment_id.is_not_null())
                .and(m::kind.eq_any(["appointment_reminder", "appointment_confirmation"])),
        )
        .select(MessageRow::as_select())
        .order(m::created_at.desc())
        .first(conn)
        .await
        .optional()
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = e)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct EventRow {
    pub status: String,
    pub source: String,
    pub error_code: Option<String>,
    pub applied: bool,
    pub at: DateTime<Utc>,
}

pub async fn add_event(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    message_id: Uuid,
    status: &str,
    source: &str,
    error_code: Option<&str>,
    applied: bool,
) -> QueryResult<()> {
    diesel::insert_into(e::table)
        .values((
            e::org_id.eq(org.as_uuid()),
            e::message_id.eq(message_id),
            e::status.eq(status),
            e::source.eq(source),
            e::error_code.eq(error_code),
            e::applied.eq(applied),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn history(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    message_id: Uuid,
) -> QueryResult<Vec<EventRow>> {
    e::table
        .filter(
            e::org_id
                .eq(org.as_uuid())
                .and(e::message_id.eq(message_id)),
        )
        .order(e::id.asc())
        .select(EventRow::as_select())
        .load(conn)
        .await
}

//! Calls, their sealed transcripts and tool invocations (tenant tables); messages taken on calls
//! are in `inbox`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use crate::domain::call::{CallDirection, CallStatus};
use crate::domain::tool::ToolOutcome;

use super::schema::{call_transcripts, calls, tool_invocations};

diesel::define_sql_function! {
    #[sql_name = "coalesce"]
    fn coalesce_ts(a: diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>, b: diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>) -> diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>;
}
diesel::define_sql_function! {
    #[sql_name = "coalesce"]
    fn coalesce_text(a: diesel::sql_types::Nullable<diesel::sql_types::Text>, b: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = calls)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct CallRow {
    pub id: Uuid,
    #[diesel(deserialize_as = Uuid)]
    pub org_id: OrgId,
    pub vapi_call_id: String,
    pub agent_id: Option<Uuid>,
    pub phone_number_id: Option<Uuid>,
    #[diesel(deserialize_as = String)]
    pub direction: CallDirection,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub caller_name: Option<String>,
    #[diesel(deserialize_as = String)]
    pub status: CallStatus,
    pub status_rank: i32,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i32>,
    pub ended_reason: Option<String>,
    pub cost_usd: Option<f64>,
    pub summary: Option<String>,
    pub structured_data: Option<serde_json::Value>,
    pub success_evaluation: Option<String>,
    pub recording_url: Option<String>,
    pub booked: bool,
    pub report_received: bool,
    pub started_event_sent: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CallRow {
    /// The other party's number: the caller of an inbound call, the callee of an outbound one.
    pub fn other_party(&self) -> Option<String> {
        if self.direction == CallDirection::Outbound {
            self.to_number.clone()
        } else {
            self.from_number.clone()
        }
    }
}

/// A call seen for the first time; it starts at `status` (its rank is stored with it).
#[derive(Debug, Clone)]
pub struct NewCall {
    pub org_id: OrgId,
    pub vapi_call_id: String,
    pub agent_id: Option<Uuid>,
    pub phone_number_id: Option<Uuid>,
    pub direction: CallDirection,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub caller_name: Option<String>,
    pub status: CallStatus,
}

/// The call with this Vapi id, created (with `new`'s fields) the first time it is seen.
pub async fn ensure_call(conn: &mut AsyncPgConnection, new: &NewCall) -> QueryResult<CallRow> {
    let inserted = diesel::insert_into(calls::table)
        .values((
            calls::org_id.eq(new.org_id.as_uuid()),
            calls::vapi_call_id.eq(&new.vapi_call_id),
            calls::agent_id.eq(new.agent_id),
            calls::phone_number_id.eq(new.phone_number_id),
            calls::direction.eq(new.direction.as_str()),
            calls::from_number.eq(new.from_number.as_deref()),
            calls::to_number.eq(new.to_number.as_deref()),
            calls::caller_name.eq(new.caller_name.as_deref()),
            calls::status.eq(new.status.as_str()),
            calls::status_rank.eq(new.status.rank()),
        ))
        .on_conflict((calls::org_id, calls::vapi_call_id))
        .do_nothing()
        .returning(CallRow::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    match inserted {
        Some(row) => Ok(row),
        None => {
            calls::table
                .filter(calls::org_id.eq(new.org_id.as_uuid()))
                .filter(calls::vapi_call_id.eq(&new.vapi_call_id))
                .select(CallRow::as_select())
                .first(conn)
                .await
        }
    }
}

/// Moves the call to `status` only if that is forward (monotonic); returns the updated row.
pub async fn advance_status(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    status: &CallStatus,
    at: DateTime<Utc>,
    ended_reason: Option<&str>,
) -> QueryResult<Option<CallRow>> {
    let rank = status.rank();
    let started = (*status == CallStatus::InProgress).then_some(at);
    let ended = status.is_final().then_some(at);
    diesel::update(
        calls::table
            .filter(calls::org_id.eq(org.as_uuid()))
            .filter(calls::id.eq(id))
            .filter(calls::status_rank.lt(rank)),
    )
    .set((
        calls::status.eq(status.as_str()),
        calls::status_rank.eq(rank),
        calls::started_at.eq(coalesce_ts(calls::started_at, started)),
        calls::ended_at.eq(coalesce_ts(calls::ended_at, ended)),
        calls::ended_reason.eq(coalesce_text(calls::ended_reason, ended_reason)),
        calls::updated_at.eq(diesel::dsl::now),
    ))
    .returning(CallRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Claims the one `call.started.v1` of this call: true only the first time.
pub async fn claim_started_event(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<bool> {
    diesel::update(
        calls::table
            .filter(calls::org_id.eq(org.as_uuid()))
            .filter(calls::id.eq(id))
            .filter(calls::started_event_sent.eq(false)),
    )
    .set(calls::started_event_sent.eq(true))
    .execute(conn)
    .await
    .map(|n| n == 1)
}

#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = calls)]
pub struct ReportFields {
    pub ended_reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i32>,
    pub cost_usd: Option<f64>,
    pub summary: Option<String>,
    pub structured_data: Option<serde_json::Value>,
    pub success_evaluation: Option<String>,
    pub recording_url: Option<String>,
}

/// Records the end-of-call report: the call is `ended` from now on. `None` when a report was
/// already recorded for it (nothing changes then).
pub async fn record_report(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    fields: &ReportFields,
) -> QueryResult<Option<CallRow>> {
    let ended = CallStatus::Ended;
    diesel::update(
        calls::table
            .filter(calls::org_id.eq(org.as_uuid()))
            .filter(calls::id.eq(id))
            .filter(calls::report_received.eq(false)),
    )
    .set((
        fields,
        calls::status.eq(ended.as_str()),
        calls::status_rank.eq(ended.rank()),
        calls::report_received.eq(true),
        calls::updated_at.eq(diesel::dsl::now),
    ))
    .returning(CallRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

pub async fn mark_booked(conn: &mut AsyncPgConnection, org: OrgId, id: Uuid) -> QueryResult<()> {
    diesel::update(
        calls::table
            .filter(calls::org_id.eq(org.as_uuid()))
            .filter(calls::id.eq(id)),
    )
    .set(calls::booked.eq(true))
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn find_call(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<Option<CallRow>> {
    calls::table
        .filter(calls::org_id.eq(org.as_uuid()))
        .filter(calls::id.eq(id))
        .select(CallRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn find_call_by_vapi(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    vapi_id: &str,
) -> QueryResult<Option<CallRow>> {
    calls::table
        .filter(calls::org_id.eq(org.as_uuid()))
        .filter(calls::vapi_call_id.eq(vapi_id))
        .select(CallRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Filters and keyset position of a calls list (newest first).
#[derive(Debug, Clone, Default)]
pub struct ListCalls {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub status: Option<String>,
    pub direction: Option<CallDirection>,
    pub ended_reason: Option<String>,
    pub phone: Option<String>,
    /// The page's keyset position: rows strictly older than this `(created_at, id)`.
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

pub async fn list_calls(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    q: &ListCalls,
) -> QueryResult<Vec<CallRow>> {
    let mut query = calls::table
        .filter(calls::org_id.eq(org.as_uuid()))
        .select(CallRow::as_select())
        .order((calls::created_at.desc(), calls::id.desc()))
        .limit(q.limit)
        .into_boxed();
    if let Some(f) = q.from {
        query = query.filter(calls::created_at.ge(f));
    }
    if let Some(t) = q.to {
        query = query.filter(calls::created_at.lt(t));
    }
    if let Some(s) = &q.status {
        query = query.filter(calls::status.eq(s.clone()));
    }
    if let Some(d) = q.direction {
        query = query.filter(calls::direction.eq(d.as_str()));
    }
    if let Some(r) = &q.ended_reason {
        query = query.filter(calls::ended_reason.eq(r.clone()));
    }
    if let Some(p) = &q.phone {
        query = query.filter(
            calls::from_number
                .eq(p.clone())
                .or(calls::to_number.eq(p.clone())),
        );
    }
    if let Some((at, id)) = q.before {
        query = query.filter(
            calls::created_at
                .lt(at)
                .or(calls::created_at.eq(at).and(calls::id.lt(id))),
        );
    }
    query.load(conn).await
}

pub async fn upsert_transcript(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    call_id: Uuid,
    sealed: &servicekit::crypto::Sealed,
) -> QueryResult<()> {
    diesel::insert_into(call_transcripts::table)
        .values((
            call_transcripts::call_id.eq(call_id),
            call_transcripts::org_id.eq(org.as_uuid()),
            call_transcripts::key_id.eq(&sealed.key_id),
            call_transcripts::ciphertext.eq(&sealed.ciphertext),
        ))
        .on_conflict(call_transcripts::call_id)
        .do_update()
        .set((
            call_transcripts::key_id.eq(&sealed.key_id),
            call_transcripts::ciphertext.eq(&sealed.ciphertext),
            call_transcripts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn find_transcript(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    call_id: Uuid,
) -> QueryResult<Option<servicekit::crypto::Sealed>> {
    call_transcripts::table
        .filter(call_transcripts::org_id.eq(org.as_uuid()))
        .filter(call_transcripts::call_id.eq(call_id))
        .select((call_transcripts::key_id, call_transcripts::ciphertext))
        .first::<(String, Vec<u8>)>(conn)
        .await
        .optional()
        .map(|o| o.map(|(key_id, ciphertext)| servicekit::crypto::Sealed { key_id, ciphertext }))
}

// ---- tool invocations ----

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tool_invocations)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Invocation {
    pub tool_call_id: String,
    pub name: String,
    #[diesel(deserialize_as = String)]
    pub outcome: ToolOutcome,
    pub result: String,
}

/// The stored answers among `tool_call_ids`.
pub async fn find_invocations(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    tool_call_ids: &[String],
) -> QueryResult<Vec<Invocation>> {
    tool_invocations::table
        .filter(tool_invocations::org_id.eq(org.as_uuid()))
        .filter(tool_invocations::tool_call_id.eq_any(tool_call_ids))
        .select(Invocation::as_select())
        .load(conn)
        .await
}

pub async fn find_invocation(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    tool_call_id: &str,
) -> QueryResult<Option<Invocation>> {
    tool_invocations::table
        .filter(tool_invocations::org_id.eq(org.as_uuid()))
        .filter(tool_invocations::tool_call_id.eq(tool_call_id))
        .select(Invocation::as_select())
        .first(conn)
        .await
        .optional()
}

/// Stores what a tool call answered. An `ok` answer is final: a later write for the same
/// `toolCallId` keeps it and returns it (so two racing deliveries say the same thing); an
/// `error` answer is replaced by the next attempt's.
/// One answered tool call.
pub struct NewInvocation<'a> {
    pub call_id: Option<Uuid>,
    pub tool_call_id: &'a str,
    pub name: &'a str,
    pub outcome: ToolOutcome,
    pub result: &'a str,
    pub duration_ms: i32,
}

pub async fn record_invocation(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    inv: &NewInvocation<'_>,
) -> QueryResult<Invocation> {
    let inserted = diesel::insert_into(tool_invocations::table)
        .values((
            tool_invocations::org_id.eq(org.as_uuid()),
            tool_invocations::call_id.eq(inv.call_id),
            tool_invocations::tool_call_id.eq(inv.tool_call_id),
            tool_invocations::name.eq(inv.name),
            tool_invocations::outcome.eq(inv.outcome.as_str()),
            tool_invocations::result.eq(inv.result),
            tool_invocations::duration_ms.eq(inv.duration_ms),
        ))
        .on_conflict_do_nothing()
        .returning(Invocation::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    if let Some(inv) = inserted {
        return Ok(inv);
    }
    let replaced = diesel::update(
        tool_invocations::table
            .filter(tool_invocations::org_id.eq(org.as_uuid()))
            .filter(tool_invocations::tool_call_id.eq(inv.tool_call_id))
            .filter(tool_invocations::outcome.eq(ToolOutcome::Error.as_str())),
    )
    .set((
        tool_invocations::outcome.eq(inv.outcome.as_str()),
        tool_invocations::result.eq(inv.result),
        tool_invocations::duration_ms.eq(inv.duration_ms),
        tool_invocations::updated_at.eq(diesel::dsl::now),
    ))
    .returning(Invocation::as_returning())
    .get_result(conn)
    .await
    .optional()?;
    match replaced {
        Some(inv) => Ok(inv),
        None => {
            tool_invocations::table
                .filter(tool_invocations::org_id.eq(org.as_uuid()))
                .filter(tool_invocations::tool_call_id.eq(inv.tool_call_id))
                .select(Invocation::as_select())
                .first(conn)
                .await
        }
    }
}

/// Outbound calls of `org` not yet ended (for the concurrency limit).
pub async fn active_outbound(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<i64> {
    calls::table
        .filter(calls::org_id.eq(org.as_uuid()))
        .filter(calls::direction.eq(CallDirection::Outbound.as_str()))
        .filter(calls::status_rank.lt(CallStatus::Ended.rank()))
        .filter(calls::created_at.gt(Utc::now() - chrono::Duration::hours(2)))
        .count()
        .get_result(conn)
        .await
}

/// Serialises outbound call starts of one org (until the transaction ends), so the count of
/// active outbound calls cannot race.
pub async fn lock_outbound(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 6))")
        .bind::<diesel::sql_types::Uuid, _>(org.as_uuid())
        .execute(conn)
        .await
        .map(|_| ())
}

/// Replaces the placeholder Vapi id of a call we started with the one Vapi gave it.
pub async fn set_vapi_call_id(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    vapi_call_id: &str,
) -> QueryResult<()> {
    diesel::update(
        calls::table
            .filter(calls::org_id.eq(org.as_uuid()))
            .filter(calls::id.eq(id)),
    )
    .set(calls::vapi_call_id.eq(vapi_call_id))
    .execute(conn)
    .await
    .map(|_| ())
}

/// Deletes a call (an outbound call Vapi refused to start).
pub async fn delete_call(conn: &mut AsyncPgConnection, org: OrgId, id: Uuid) -> QueryResult<()> {
    diesel::delete(
        calls::table
            .filter(calls::org_id.eq(org.as_uuid()))
            .filter(calls::id.eq(id)),
    )
    .execute(conn)
    .await
    .map(|_| ())
}

// ---- analytics ----

/// One day of calls in the clinic's time zone.
#[derive(diesel::QueryableByName, Debug, Clone)]
pub struct DayRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub day: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub calls: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub answered: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Double>)]
    pub avg_duration: Option<f64>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub booked: i64,
    #[diesel(sql_type = diesel::sql_types::Double)]
    pub cost: f64,
}

/// Tool calls in a period, and how many answered `ok`.
#[derive(diesel::QueryableByName, Debug, Clone)]
pub struct ToolTotals {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub total: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub ok: i64,
}

/// Calls per day (days in `tz`) created in `[from, to)`.
pub async fn calls_per_day(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    tz: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> QueryResult<Vec<DayRow>> {
    use diesel::sql_types::{Text, Timestamptz, Uuid as SqlUuid};
    diesel::sql_query(
        "SELECT to_char((created_at AT TIME ZONE $2)::date, 'YYYY-MM-DD') AS day, count(*) AS calls, \
         count(*) FILTER (WHERE started_at IS NOT NULL) AS answered, avg(duration_seconds)::float8 AS avg_duration, \
         count(*) FILTER (WHERE booked) AS booked, coalesce(sum(cost_usd), 0)::float8 AS cost \
         FROM calls WHERE org_id = $1 AND created_at >= $3 AND created_at < $4 GROUP BY 1 ORDER BY 1",
    )
    .bind::<SqlUuid, _>(org.as_uuid())
    .bind::<Text, _>(tz)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .load(conn)
    .await
}

/// Tool invocations created in `[from, to)`.
pub async fn tool_totals(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> QueryResult<ToolTotals> {
    use diesel::sql_types::{Timestamptz, Uuid as SqlUuid};
    diesel::sql_query(
        "SELECT count(*) AS total, count(*) FILTER (WHERE outcome = 'ok') AS ok FROM tool_invocations \
         WHERE org_id = $1 AND created_at >= $2 AND created_at < $3",
    )
    .bind::<SqlUuid, _>(org.as_uuid())
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .get_result(conn)
    .await
}

//! What hangs off a contact: its events (the fold's input), its scores, its stage moves, its
//! notes; and the org's time zone as last seen on an appointment event.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::{lead_events, lead_notes, lead_scores, lead_stage_history, org_profile};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = lead_events)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct EventRow {
    pub event_id: Uuid,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub payload: serde_json::Value,
}

/// Stores an event of a contact; false when it was stored already (a redelivery).
pub async fn insert_event(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    contact: Uuid,
    e: &EventRow,
) -> QueryResult<bool> {
    diesel::insert_into(lead_events::table)
        .values((
            lead_events::org_id.eq(org.as_uuid()),
            lead_events::event_id.eq(e.event_id),
            lead_events::contact_id.eq(contact),
            lead_events::event_type.eq(&e.event_type),
            lead_events::occurred_at.eq(e.occurred_at),
            lead_events::payload.eq(&e.payload),
        ))
        .on_conflict((lead_events::org_id, lead_events::event_id))
        .do_nothing()
        .execute(conn)
        .await
        .map(|n| n == 1)
}

pub async fn list_events(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    contact: Uuid,
) -> QueryResult<Vec<EventRow>> {
    lead_events::table
        .filter(lead_events::org_id.eq(org.as_uuid()))
        .filter(lead_events::contact_id.eq(contact))
        .order((lead_events::occurred_at, lead_events::event_id))
        .select(EventRow::as_select())
        .load(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = lead_scores)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct ScoreRow {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub score: i16,
    pub tier: String,
    pub next_action: String,
    pub model_version: String,
    pub features: serde_json::Value,
    pub reasons: serde_json::Value,
    pub cause: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = lead_scores)]
pub struct NewScore {
    pub org_id: Uuid,
    pub contact_id: Uuid,
    pub score: i16,
    pub tier: String,
    pub next_action: String,
    pub model_version: String,
    pub features: serde_json::Value,
    pub reasons: serde_json::Value,
    pub cause: String,
}

pub async fn insert_score(conn: &mut AsyncPgConnection, s: &NewScore) -> QueryResult<()> {
    diesel::insert_into(lead_scores::table)
        .values(s)
        .execute(conn)
        .await
        .map(|_| ())
}

/// The contact's scores, newest first (at most `limit`).
pub async fn list_scores(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    contact: Uuid,
    limit: i64,
) -> QueryResult<Vec<ScoreRow>> {
    lead_scores::table
        .filter(lead_scores::org_id.eq(org.as_uuid()))
        .filter(lead_scores::contact_id.eq(contact))
        .order((lead_scores::created_at.desc(), lead_scores::id.desc()))
        .limit(limit)
        .select(ScoreRow::as_select())
        .load(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = lead_stage_history)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct StageRow {
    pub id: Uuid,
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub source: String,
    pub actor: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_stage(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    contact: Uuid,
    from: &str,
    to: &str,
    source: &str,
    actor: &str,
    reason: &str,
) -> QueryResult<()> {
    diesel::insert_into(lead_stage_history::table)
        .values((
            lead_stage_history::org_id.eq(org.as_uuid()),
            lead_stage_history::contact_id.eq(contact),
            lead_stage_history::from_stage.eq(from),
            lead_stage_history::to_stage.eq(to),
            lead_stage_history::source.eq(source),
            lead_stage_history::actor.eq(actor),
            lead_stage_history::reason.eq(reason),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn list_stages(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    contact: Uuid,
) -> QueryResult<Vec<StageRow>> {
    lead_stage_history::table
        .filter(lead_stage_history::org_id.eq(org.as_uuid()))
        .filter(lead_stage_history::contact_id.eq(contact))
        .order((lead_stage_history::created_at, lead_stage_history::id))
        .select(StageRow::as_select())
        .load(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = lead_notes)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct NoteRow {
    pub id: Uuid,
    pub author_id: Uuid,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_note(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    contact: Uuid,
    author: Uuid,
    body: &str,
) -> QueryResult<NoteRow> {
    diesel::insert_into(lead_notes::table)
        .values((
            lead_notes::org_id.eq(org.as_uuid()),
            lead_notes::contact_id.eq(contact),
            lead_notes::author_id.eq(author),
            lead_notes::body.eq(body),
        ))
        .returning(NoteRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn list_notes(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    contact: Uuid,
) -> QueryResult<Vec<NoteRow>> {
    lead_notes::table
        .filter(lead_notes::org_id.eq(org.as_uuid()))
        .filter(lead_notes::contact_id.eq(contact))
        .order((lead_notes::created_at.desc(), lead_notes::id.desc()))
        .limit(200)
        .select(NoteRow::as_select())
        .load(conn)
        .await
}

/// Records the org's zone as seen at `seen_at`; an older sighting never overwrites a newer one.
pub async fn see_timezone(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    tz: &str,
    seen_at: DateTime<Utc>,
) -> QueryResult<()> {
    use diesel::sql_types::{Text, Timestamptz, Uuid as SqlUuid};
    diesel::sql_query(
        "INSERT INTO org_profile (org_id, timezone, seen_at) VALUES ($1, $2, $3) \
         ON CONFLICT (org_id) DO UPDATE SET timezone = EXCLUDED.timezone, seen_at = EXCLUDED.seen_at \
         WHERE org_profile.seen_at < EXCLUDED.seen_at",
    )
    .bind::<SqlUuid, _>(org.as_uuid())
    .bind::<Text, _>(tz)
    .bind::<Timestamptz, _>(seen_at)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn find_timezone(
    conn: &mut AsyncPgConnection,
    org: OrgId,
) -> QueryResult<Option<String>> {
    org_profile::table
        .filter(org_profile::org_id.eq(org.as_uuid()))
        .select(org_profile::timezone)
        .first(conn)
        .await
        .optional()
}

#[derive(Debug, Clone, QueryableByName)]
pub struct EndedCall {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub contact_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    pub payload: serde_json::Value,
}

/// The stored call.ended.v1 of a call (its contact and payload).
pub async fn find_ended_call(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    call: Uuid,
) -> QueryResult<Option<EndedCall>> {
    diesel::sql_query(
        "SELECT contact_id, payload FROM lead_events WHERE org_id = $1 \
         AND event_type = 'call.ended.v1' AND payload->>'call_id' = $2 LIMIT 1",
    )
    .bind::<diesel::sql_types::Uuid, _>(org.as_uuid())
    .bind::<diesel::sql_types::Text, _>(call.to_string())
    .get_result(conn)
    .await
    .optional()
}

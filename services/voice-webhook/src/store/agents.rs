//! Org profiles (what voice knows about a clinic) and agents.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::{agents, org_profiles};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = org_profiles)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Profile {
    #[diesel(deserialize_as = Uuid)]
    pub org_id: OrgId,
    pub name: String,
    /// Calendar's zone as last answered; org.created.v1's until calendar first answers.
    pub timezone: String,
    /// Calendar's last answer (`ClinicHours` parts), kept as the fallback when it is away.
    pub weekly_hours: Option<serde_json::Value>,
    pub date_overrides: Option<serde_json::Value>,
    /// When calendar last answered; `None`: never.
    pub clinic_synced_at: Option<DateTime<Utc>>,
}

pub async fn upsert_profile(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    name: &str,
    timezone: &str,
) -> QueryResult<()> {
    diesel::insert_into(org_profiles::table)
        .values((
            org_profiles::org_id.eq(org.as_uuid()),
            org_profiles::name.eq(name),
            org_profiles::timezone.eq(timezone),
        ))
        .on_conflict(org_profiles::org_id)
        .do_update()
        .set((
            org_profiles::name.eq(name),
            org_profiles::timezone.eq(timezone),
            org_profiles::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Keeps calendar's answer (zone and hours) as the last known one; no-op before the profile
/// exists (org.created.v1 not consumed yet).
pub async fn remember_clinic(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    timezone: &str,
    weekly_hours: &serde_json::Value,
    date_overrides: &serde_json::Value,
) -> QueryResult<()> {
    diesel::update(org_profiles::table.filter(org_profiles::org_id.eq(org.as_uuid())))
        .set((
            org_profiles::timezone.eq(timezone),
            org_profiles::weekly_hours.eq(Some(weekly_hours)),
            org_profiles::date_overrides.eq(Some(date_overrides)),
            org_profiles::clinic_synced_at.eq(Some(Utc::now())),
            org_profiles::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn find_profile(
    conn: &mut AsyncPgConnection,
    org: OrgId,
) -> QueryResult<Option<Profile>> {
    org_profiles::table
        .filter(org_profiles::org_id.eq(org.as_uuid()))
        .select(Profile::as_select())
        .first(conn)
        .await
        .optional()
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = agents)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct AgentRow {
    pub id: Uuid,
    #[diesel(deserialize_as = Uuid)]
    pub org_id: OrgId,
    pub name: String,
    pub vapi_assistant_id: Option<String>,
    pub system_prompt: String,
    pub first_message: String,
    pub voice: String,
    pub language: String,
    pub enabled_tools: Vec<String>,
    pub transfer_number: Option<String>,
    pub after_hours_message: Option<String>,
    /// Free-form settings (`{}`); opening hours are the clinic's, in calendar.
    pub settings: serde_json::Value,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An agent's editable fields, validated (`domain` of the routes).
#[derive(Debug, Clone, AsChangeset, Insertable)]
#[diesel(table_name = agents)]
pub struct AgentFields {
    pub name: String,
    pub system_prompt: String,
    pub first_message: String,
    pub voice: String,
    pub language: String,
    pub enabled_tools: Vec<String>,
    #[diesel(treat_none_as_null = true)]
    pub transfer_number: Option<String>,
    #[diesel(treat_none_as_null = true)]
    pub after_hours_message: Option<String>,
    pub settings: serde_json::Value,
}

pub async fn insert_agent(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    fields: &AgentFields,
    is_default: bool,
) -> QueryResult<AgentRow> {
    diesel::insert_into(agents::table)
        .values((
            fields,
            agents::org_id.eq(org.as_uuid()),
            agents::is_default.eq(is_default),
        ))
        .returning(AgentRow::as_returning())
        .get_result(conn)
        .await
}

/// Creates the org's default agent unless it has one (the `org.created.v1` handler).
pub async fn ensure_default_agent(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    fields: &AgentFields,
) -> QueryResult<()> {
    diesel::insert_into(agents::table)
        .values((
            fields,
            agents::org_id.eq(org.as_uuid()),
            agents::is_default.eq(true),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn update_agent(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    fields: &AgentFields,
) -> QueryResult<Option<AgentRow>> {
    diesel::update(
        agents::table
            .filter(agents::org_id.eq(org.as_uuid()))
            .filter(agents::id.eq(id)),
    )
    .set((fields, agents::updated_at.eq(diesel::dsl::now)))
    .returning(AgentRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

pub async fn set_vapi_assistant_id(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    vapi_id: &str,
) -> QueryResult<()> {
    diesel::update(
        agents::table
            .filter(agents::org_id.eq(org.as_uuid()))
            .filter(agents::id.eq(id)),
    )
    .set(agents::vapi_assistant_id.eq(vapi_id))
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn find_agent(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<Option<AgentRow>> {
    agents::table
        .filter(agents::org_id.eq(org.as_uuid()))
        .filter(agents::id.eq(id))
        .select(AgentRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn default_agent(
    conn: &mut AsyncPgConnection,
    org: OrgId,
) -> QueryResult<Option<AgentRow>> {
    agents::table
        .filter(agents::org_id.eq(org.as_uuid()))
        .select(AgentRow::as_select())
        .order((agents::is_default.desc(), agents::created_at.asc()))
        .first(conn)
        .await
        .optional()
}

/// The org's agents, oldest first, after the keyset position `after` (`(created_at, id)`).
pub async fn list_agents(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<AgentRow>> {
    let mut q = agents::table
        .filter(agents::org_id.eq(org.as_uuid()))
        .select(AgentRow::as_select())
        .order((agents::created_at.asc(), agents::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = after {
        q = q.filter(
            agents::created_at
                .gt(at)
                .or(agents::created_at.eq(at).and(agents::id.gt(id))),
        );
    }
    q.load(conn).await
}

pub async fn delete_agent(conn: &mut AsyncPgConnection, org: OrgId, id: Uuid) -> QueryResult<bool> {
    // Numbers answered by this agent fall back to the default one: so do their routes.
    diesel::update(
        super::schema::routes::table
            .filter(super::schema::routes::org_id.eq(org.as_uuid()))
            .filter(super::schema::routes::agent_id.eq(id)),
    )
    .set(super::schema::routes::agent_id.eq(None::<Uuid>))
    .execute(conn)
    .await?;
    diesel::delete(
        agents::table
            .filter(agents::org_id.eq(org.as_uuid()))
            .filter(agents::id.eq(id)),
    )
    .execute(conn)
    .await
    .map(|n| n > 0)
}

/// Deletes everything voice holds for `org` (the `org.deleted.v1` handler): tenant rows through
/// RLS in this tenant transaction, system rows (routes, delivery log) by org id.
pub async fn purge_org(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<()> {
    use super::schema::{
        agents, call_messages, call_transcripts, calls, org_profiles, phone_numbers, routes,
        tool_invocations, webhook_deliveries, webhook_secrets,
    };
    let o = org.as_uuid();
    diesel::delete(routes::table.filter(routes::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(tool_invocations::table.filter(tool_invocations::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(call_messages::table.filter(call_messages::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(call_transcripts::table.filter(call_transcripts::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(calls::table.filter(calls::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(phone_numbers::table.filter(phone_numbers::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(agents::table.filter(agents::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(webhook_secrets::table.filter(webhook_secrets::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(org_profiles::table.filter(org_profiles::org_id.eq(o)))
        .execute(conn)
        .await?;
    Ok(())
}

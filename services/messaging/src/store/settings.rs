//! Per-org messaging settings; a missing row reads as the defaults.

use chrono::NaiveTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::settings as s;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = s)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct SettingsRow {
    pub org_id: Uuid,
    pub clinic_name: String,
    pub timezone: String,
    pub quiet_start: NaiveTime,
    pub quiet_end: NaiveTime,
    pub reminder_offsets_minutes: Vec<Option<i32>>,
    pub missed_call_textback: bool,
    pub staff_numbers: Vec<Option<String>>,
    pub help_text: String,
    pub twilio_replies_to_keywords: bool,
}

impl SettingsRow {
    pub fn defaults(org: OrgId) -> Self {
        SettingsRow {
            org_id: org.as_uuid(),
            clinic_name: String::new(),
            timezone: "UTC".into(),
            quiet_start: NaiveTime::from_hms_opt(21, 0, 0).unwrap_or_default(),
            quiet_end: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
            reminder_offsets_minutes: vec![Some(1440), Some(120)],
            missed_call_textback: true,
            staff_numbers: Vec::new(),
            help_text: String::new(),
            twilio_replies_to_keywords: true,
        }
    }
}

pub async fn find(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<SettingsRow> {
    Ok(s::table
        .filter(s::org_id.eq(org.as_uuid()))
        .select(SettingsRow::as_select())
        .first(conn)
        .await
        .optional()?
        .unwrap_or_else(|| SettingsRow::defaults(org)))
}

pub async fn upsert(conn: &mut AsyncPgConnection, row: &SettingsRow) -> QueryResult<SettingsRow> {
    diesel::insert_into(s::table)
        .values(row)
        .on_conflict(s::org_id)
        .do_update()
        .set((row, s::updated_at.eq(diesel::dsl::now)))
        .returning(SettingsRow::as_returning())
        .get_result(conn)
        .await
}

/// Inserts the row only when the org has none (org.created.v1 seeding); `true` when inserted.
pub async fn insert_once(conn: &mut AsyncPgConnection, row: &SettingsRow) -> QueryResult<bool> {
    diesel::insert_into(s::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(|n| n > 0)
}

/// Keeps the clinic's zone as the appointment events report it (calendar owns it).
pub async fn set_timezone(conn: &mut AsyncPgConnection, org: OrgId, tz: &str) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO settings (org_id, timezone) VALUES ($1, $2)
         ON CONFLICT (org_id) DO UPDATE SET timezone = EXCLUDED.timezone, updated_at = now()
         WHERE settings.timezone <> EXCLUDED.timezone",
    )
    .bind::<diesel::sql_types::Uuid, _>(org.as_uuid())
    .bind::<diesel::sql_types::Text, _>(tz)
    .execute(conn)
    .await
    .map(|_| ())
}

//! Message templates per org, key and channel.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::templates as t;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = t)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct TemplateRow {
    pub id: Uuid,
    pub key: String,
    pub channel: String,
    pub body: String,
    pub content_sid: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn list(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<Vec<TemplateRow>> {
    t::table
        .filter(t::org_id.eq(org.as_uuid()))
        .order((t::key.asc(), t::channel.asc()))
        .select(TemplateRow::as_select())
        .load(conn)
        .await
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    key: &str,
    channel: &str,
) -> QueryResult<Option<TemplateRow>> {
    t::table
        .filter(
            t::org_id
                .eq(org.as_uuid())
                .and(t::key.eq(key))
                .and(t::channel.eq(channel)),
        )
        .select(TemplateRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn upsert(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    key: &str,
    channel: &str,
    body: &str,
    content_sid: Option<&str>,
) -> QueryResult<TemplateRow> {
    diesel::insert_into(t::table)
        .values((
            t::org_id.eq(org.as_uuid()),
            t::key.eq(key),
            t::channel.eq(channel),
            t::body.eq(body),
            t::content_sid.eq(content_sid),
        ))
        .on_conflict((t::org_id, t::key, t::channel))
        .do_update()
        .set((
            t::body.eq(excluded(t::body)),
            t::content_sid.eq(excluded(t::content_sid)),
            t::updated_at.eq(diesel::dsl::now),
        ))
        .returning(TemplateRow::as_returning())
        .get_result(conn)
        .await
}

/// Inserts the template unless the org has one with that key and channel.
pub async fn insert_missing(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    key: &str,
    channel: &str,
    body: &str,
) -> QueryResult<()> {
    diesel::insert_into(t::table)
        .values((
            t::org_id.eq(org.as_uuid()),
            t::key.eq(key),
            t::channel.eq(channel),
            t::body.eq(body),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(|_| ())
}

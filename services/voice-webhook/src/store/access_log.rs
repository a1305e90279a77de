//! The PHI access log (append-only: the service role may only insert and read it; a trigger
//! refuses every UPDATE, DELETE and TRUNCATE).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::phi_access_log as log;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = log)]
pub struct NewAccess {
    pub org_id: Uuid,
    pub actor_user_id: Uuid,
    pub actor_role: String,
    pub session_id: Option<Uuid>,
    pub resource_type: &'static str,
    pub resource_id: Uuid,
    pub call_id: Option<Uuid>,
    pub action: &'static str,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = log)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct AccessRow {
    pub id: Uuid,
    pub actor_user_id: Uuid,
    pub actor_role: String,
    pub session_id: Option<Uuid>,
    pub resource_type: String,
    pub resource_id: Uuid,
    pub call_id: Option<Uuid>,
    pub action: String,
    pub accessed_at: DateTime<Utc>,
}

pub async fn insert_many(conn: &mut AsyncPgConnection, rows: &[NewAccess]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    diesel::insert_into(log::table)
        .values(rows)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Filters of the access log list.
#[derive(Debug, Clone, Default)]
pub struct AccessFilter {
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    pub call_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
}

/// The org's accesses, newest first, before the keyset position `before`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    f: &AccessFilter,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<AccessRow>> {
    let mut q = log::table
        .filter(log::org_id.eq(org.as_uuid()))
        .select(AccessRow::as_select())
        .order((log::accessed_at.desc(), log::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(t) = &f.resource_type {
        q = q.filter(log::resource_type.eq(t.clone()));
    }
    if let Some(id) = f.resource_id {
        q = q.filter(log::resource_id.eq(id));
    }
    if let Some(id) = f.call_id {
        q = q.filter(log::call_id.eq(id));
    }
    if let Some(id) = f.actor_user_id {
        q = q.filter(log::actor_user_id.eq(id));
    }
    if let Some((at, id)) = before {
        q = q.filter(
            log::accessed_at
                .lt(at)
                .or(log::accessed_at.eq(at).and(log::id.lt(id))),
        );
    }
    q.load(conn).await
}

//! Opt-outs per org and number, and their append-only audit.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::{opt_out_audit as a, opt_outs as o};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = o)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct OptOutRow {
    pub phone: String,
    pub source: String,
    pub keyword: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn is_opted_out(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    phone: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        o::table.filter(o::org_id.eq(org.as_uuid()).and(o::phone.eq(phone))),
    ))
    .get_result(conn)
    .await
}

/// Records the opt-out (and its audit line); `false` when the number was already opted out.
pub async fn add(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    phone: &str,
    source: &str,
    keyword: Option<&str>,
    actor: Option<Uuid>,
) -> QueryResult<bool> {
    let n = diesel::insert_into(o::table)
        .values((
            o::org_id.eq(org.as_uuid()),
            o::phone.eq(phone),
            o::source.eq(source),
            o::keyword.eq(keyword),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    audit(conn, org, phone, "opt_out", source, keyword, actor).await?;
    Ok(n > 0)
}

/// Removes the opt-out (and audits it); `false` when there was none.
pub async fn remove(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    phone: &str,
    source: &str,
    keyword: Option<&str>,
    actor: Option<Uuid>,
) -> QueryResult<bool> {
    let n = diesel::delete(o::table.filter(o::org_id.eq(org.as_uuid()).and(o::phone.eq(phone))))
        .execute(conn)
        .await?;
    audit(conn, org, phone, "opt_in", source, keyword, actor).await?;
    Ok(n > 0)
}

async fn audit(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    phone: &str,
    action: &str,
    source: &str,
    keyword: Option<&str>,
    actor: Option<Uuid>,
) -> QueryResult<()> {
    diesel::insert_into(a::table)
        .values((
            a::org_id.eq(org.as_uuid()),
            a::phone.eq(phone),
            a::action.eq(action),
            a::source.eq(source),
            a::keyword.eq(keyword),
            a::actor_user_id.eq(actor),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Newest first, keyset on `(created_at, phone)` — the cursor's id part is unused (nil).
pub async fn list(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    after: Option<DateTime<Utc>>,
    limit: i64,
) -> QueryResult<Vec<OptOutRow>> {
    let mut q = o::table
        .filter(o::org_id.eq(org.as_uuid()))
        .select(OptOutRow::as_select())
        .into_boxed();
    if let Some(at) = after {
        q = q.filter(o::created_at.lt(at));
    }
    q.order((o::created_at.desc(), o::phone.asc()))
        .limit(limit)
        .load(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = a)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct AuditRow {
    pub phone: String,
    pub action: String,
    pub source: String,
    pub keyword: Option<String>,
    pub actor_user_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

pub async fn audit_of(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    phone: &str,
) -> QueryResult<Vec<AuditRow>> {
    a::table
        .filter(a::org_id.eq(org.as_uuid()).and(a::phone.eq(phone)))
        .order(a::id.asc())
        .select(AuditRow::as_select())
        .load(conn)
        .await
}

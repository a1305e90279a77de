//! Phone numbers (tenant) and the routing table (system: read before the org is known).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::{phone_numbers, routes};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = phone_numbers)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct NumberRow {
    pub id: Uuid,
    #[diesel(deserialize_as = Uuid)]
    pub org_id: OrgId,
    pub number: String,
    pub label: String,
    pub vapi_phone_number_id: Option<String>,
    pub agent_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, AsChangeset, Insertable)]
#[diesel(table_name = phone_numbers)]
pub struct NumberFields {
    pub number: String,
    pub label: String,
    #[diesel(treat_none_as_null = true)]
    pub vapi_phone_number_id: Option<String>,
    #[diesel(treat_none_as_null = true)]
    pub agent_id: Option<Uuid>,
}

pub async fn insert_number(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    f: &NumberFields,
) -> QueryResult<NumberRow> {
    diesel::insert_into(phone_numbers::table)
        .values((f, phone_numbers::org_id.eq(org.as_uuid())))
        .returning(NumberRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn update_number(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    f: &NumberFields,
) -> QueryResult<Option<NumberRow>> {
    diesel::update(
        phone_numbers::table
            .filter(phone_numbers::org_id.eq(org.as_uuid()))
            .filter(phone_numbers::id.eq(id)),
    )
    .set((f, phone_numbers::updated_at.eq(diesel::dsl::now)))
    .returning(NumberRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

pub async fn find_number(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<Option<NumberRow>> {
    phone_numbers::table
        .filter(phone_numbers::org_id.eq(org.as_uuid()))
        .filter(phone_numbers::id.eq(id))
        .select(NumberRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The org's numbers, oldest first, after the keyset position `after` (`(created_at, id)`).
pub async fn list_numbers(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<NumberRow>> {
    let mut q = phone_numbers::table
        .filter(phone_numbers::org_id.eq(org.as_uuid()))
        .select(NumberRow::as_select())
        .order((phone_numbers::created_at.asc(), phone_numbers::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = after {
        q = q.filter(
            phone_numbers::created_at
                .gt(at)
                .or(phone_numbers::created_at
                    .eq(at)
                    .and(phone_numbers::id.gt(id))),
        );
    }
    q.load(conn).await
}

pub async fn delete_number(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<bool> {
    diesel::delete(
        phone_numbers::table
            .filter(phone_numbers::org_id.eq(org.as_uuid()))
            .filter(phone_numbers::id.eq(id)),
    )
    .execute(conn)
    .await
    .map(|n| n > 0)
}

// ---- routes (system table) ----

pub const ROUTE_VAPI_NUMBER: &str = "vapi_phone_number_id";
pub const ROUTE_NUMBER: &str = "number";
pub const ROUTE_ASSISTANT: &str = "vapi_assistant_id";
pub const ROUTE_CALL: &str = "vapi_call_id";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = routes)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Route {
    pub kind: String,
    pub key: String,
    #[diesel(deserialize_as = Uuid)]
    pub org_id: OrgId,
    pub phone_number_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
}

/// Points a number's identifiers at `org` (replacing the number's previous routes). A key that
/// already routes to another number fails with a unique violation: one owner per number.
pub async fn route_number(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    n: &NumberRow,
) -> QueryResult<()> {
    diesel::delete(
        routes::table
            .filter(routes::phone_number_id.eq(n.id))
            .filter(routes::org_id.eq(org.as_uuid())),
    )
    .execute(conn)
    .await?;
    let mut rows = vec![(
        routes::kind.eq(ROUTE_NUMBER),
        routes::key.eq(n.number.clone()),
        routes::org_id.eq(org.as_uuid()),
        routes::phone_number_id.eq(Some(n.id)),
        routes::agent_id.eq(n.agent_id),
    )];
    if let Some(v) = &n.vapi_phone_number_id {
        rows.push((
            routes::kind.eq(ROUTE_VAPI_NUMBER),
            routes::key.eq(v.clone()),
            routes::org_id.eq(org.as_uuid()),
            routes::phone_number_id.eq(Some(n.id)),
            routes::agent_id.eq(n.agent_id),
        ));
    }
    diesel::insert_into(routes::table)
        .values(rows)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn unroute_number(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    number_id: Uuid,
) -> QueryResult<()> {
    diesel::delete(
        routes::table
            .filter(routes::phone_number_id.eq(number_id))
            .filter(routes::org_id.eq(org.as_uuid())),
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Remembers which org a Vapi call or assistant belongs to; the first writer wins.
pub async fn remember(
    conn: &mut AsyncPgConnection,
    kind: &str,
    key: &str,
    org: OrgId,
    agent_id: Option<Uuid>,
) -> QueryResult<()> {
    diesel::insert_into(routes::table)
        .values((
            routes::kind.eq(kind),
            routes::key.eq(key),
            routes::org_id.eq(org.as_uuid()),
            routes::agent_id.eq(agent_id),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(|_| ())
}

/// The first of `candidates` (kind, key) that routes somewhere, in the order given.
pub async fn resolve(
    conn: &mut AsyncPgConnection,
    candidates: &[(&str, &str)],
) -> QueryResult<Option<Route>> {
    if candidates.is_empty() {
        return Ok(None);
    }
    let keys: Vec<String> = candidates.iter().map(|(_, k)| (*k).to_string()).collect();
    let found: Vec<Route> = routes::table
        .filter(routes::key.eq_any(keys))
        .select(Route::as_select())
        .load(conn)
        .await?;
    Ok(candidates.iter().find_map(|(kind, key)| {
        found
            .iter()
            .find(|r| r.kind == *kind && r.key == *key)
            .cloned()
    }))
}

//! The services catalog table.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::services;
use crate::domain::service::NewService;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = services)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct ServiceRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub description: String,
    pub duration_minutes: i32,
    pub price_cents: i64,
    pub currency: String,
    pub buffer_before_minutes: i32,
    pub buffer_after_minutes: i32,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = services)]
struct NewServiceRow<'a> {
    org_id: Uuid,
    name: &'a str,
    description: &'a str,
    duration_minutes: i32,
    price_cents: i64,
    currency: &'a str,
    buffer_before_minutes: i32,
    buffer_after_minutes: i32,
    active: bool,
}

pub async fn insert_service(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    s: &NewService,
) -> QueryResult<ServiceRow> {
    diesel::insert_into(services::table)
        .values(NewServiceRow {
            org_id: org.as_uuid(),
            name: &s.name,
            description: &s.description,
            duration_minutes: s.duration_minutes,
            price_cents: s.price_cents,
            currency: &s.currency,
            buffer_before_minutes: s.buffer_before_minutes,
            buffer_after_minutes: s.buffer_after_minutes,
            active: s.active,
        })
        .returning(ServiceRow::as_returning())
        .get_result(conn)
        .await
}

/// Takes a shared connection so it can be pipelined with other reads (diesel-async sends
/// concurrently polled queries back to back).
pub async fn find_service(
    conn: &AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<Option<ServiceRow>> {
    let mut c = conn;
    services::table
        .filter(services::org_id.eq(org.as_uuid()))
        .filter(services::id.eq(id))
        .select(ServiceRow::as_select())
        .first(&mut c)
        .await
        .optional()
}

/// Filters and keyset position of a list request.
#[derive(Debug, Clone, Default)]
pub struct ListServices {
    pub active: Option<bool>,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// Return rows strictly after this `(created_at, id)`.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

pub async fn list_services(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    q: &ListServices,
) -> QueryResult<Vec<ServiceRow>> {
    let mut query = services::table
        .filter(services::org_id.eq(org.as_uuid()))
        .select(ServiceRow::as_select())
        .order((services::created_at.asc(), services::id.asc()))
        .limit(q.limit)
        .into_boxed();
    if let Some(active) = q.active {
        query = query.filter(services::active.eq(active));
    }
    if let Some(search) = &q.search {
        let pattern = format!(
            "%{}%",
            search
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        query = query.filter(services::name.ilike(pattern));
    }
    if let Some((at, id)) = q.after {
        query = query.filter(
            services::created_at
                .gt(at)
                .or(services::created_at.eq(at).and(services::id.gt(id))),
        );
    }
    query.load(conn).await
}

/// Deletes a service; returns whether a row of this org was deleted.
pub async fn delete_service(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<bool> {
    let n = diesel::delete(
        services::table
            .filter(services::org_id.eq(org.as_uuid()))
            .filter(services::id.eq(id)),
    )
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// Inserts the services whose names the org does not use yet (the defaults of a new org: an
/// admin who was quicker than `org.created.v1` keeps their own "Cleaning").
pub async fn insert_missing_services(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    list: &[NewService],
) -> QueryResult<usize> {
    let rows: Vec<NewServiceRow<'_>> = list
        .iter()
        .map(|s| NewServiceRow {
            org_id: org.as_uuid(),
            name: &s.name,
            description: &s.description,
            duration_minutes: s.duration_minutes,
            price_cents: s.price_cents,
            currency: &s.currency,
            buffer_before_minutes: s.buffer_before_minutes,
            buffer_after_minutes: s.buffer_after_minutes,
            active: s.active,
        })
        .collect();
    diesel::insert_into(services::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .await
}

//! The services catalog table.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::services;
use crate::domain::service::{NewService, ServicePatch};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = services)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct ServiceRow {
    pub id: Uuid,
    #[diesel(deserialize_as = Uuid)]
    pub org_id: OrgId,
    pub name: String,
    pub description: String,
    pub duration_minutes: i32,
    pub price_cents: i64,
    pub currency: String,
    /// `None`: the clinic's default applies.
    pub buffer_before_minutes: Option<i32>,
    pub buffer_after_minutes: Option<i32>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Archived services stay for the appointments that name them; they are never offered.
    pub archived_at: Option<DateTime<Utc>>,
}

impl ServiceRow {
    /// Offered and bookable: active and not archived.
    pub fn is_bookable(&self) -> bool {
        self.active && self.archived_at.is_none()
    }
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
    buffer_before_minutes: Option<i32>,
    buffer_after_minutes: Option<i32>,
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
    /// Archived services are listed only when asked for.
    pub include_archived: bool,
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
    if !q.include_archived {
        query = query.filter(services::archived_at.is_null());
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

#[derive(AsChangeset)]
#[diesel(table_name = services)]
struct ServiceChanges<'a> {
    name: Option<&'a str>,
    description: Option<&'a str>,
    duration_minutes: Option<i32>,
    price_cents: Option<i64>,
    currency: Option<&'a str>,
    // `Some(None)` writes NULL (back to the clinic's default); `None` leaves the column.
    buffer_before_minutes: Option<Option<i32>>,
    buffer_after_minutes: Option<Option<i32>>,
    active: Option<bool>,
    updated_at: DateTime<Utc>,
}

/// Applies `p` to a service of this org that is not archived; `None` when there is none.
pub async fn update_service(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    p: &ServicePatch,
) -> QueryResult<Option<ServiceRow>> {
    diesel::update(
        services::table
            .filter(services::org_id.eq(org.as_uuid()))
            .filter(services::id.eq(id))
            .filter(services::archived_at.is_null()),
    )
    .set(ServiceChanges {
        name: p.name.as_deref(),
        description: p.description.as_deref(),
        duration_minutes: p.duration_minutes,
        price_cents: p.price_cents,
        currency: p.currency.as_deref(),
        buffer_before_minutes: p.buffer_before_minutes,
        buffer_after_minutes: p.buffer_after_minutes,
        active: p.active,
        updated_at: Utc::now(),
    })
    .returning(ServiceRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Archives a service (kept for the appointments that name it); archiving twice changes
/// nothing. Returns whether the org has such a service.
pub async fn archive_service(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<bool> {
    let now = Utc::now();
    let n = diesel::update(
        services::table
            .filter(services::org_id.eq(org.as_uuid()))
            .filter(services::id.eq(id))
            .filter(services::archived_at.is_null()),
    )
    .set((services::archived_at.eq(now), services::updated_at.eq(now)))
    .execute(conn)
    .await?;
    Ok(n > 0 || find_service(conn, org, id).await?.is_some())
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

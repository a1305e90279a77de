//! The providers table. Hours are stored as the API documents them (jsonb, validated before
//! they are written); `service_ids` NULL means every service.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::{appointments, providers};
use crate::domain::appointment::{AppointmentStatus, BLOCKING};
use crate::domain::provider::{DEFAULT_NAME, ProviderHours, ProviderPatch, ProviderSpec};
use crate::domain::settings::{
    DateOverride, TimeRange, doc_overrides, doc_weekly, parse_overrides, parse_weekly,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = providers)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct ProviderRow {
    pub id: Uuid,
    #[diesel(deserialize_as = Uuid)]
    pub org_id: OrgId,
    pub name: String,
    pub active: bool,
    pub is_default: bool,
    pub weekly_hours: Option<Value>,
    pub date_overrides: Value,
    pub service_ids: Option<Vec<Option<Uuid>>>,
    pub google_calendar_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ProviderRow {
    /// Whether it provides `service`.
    pub fn provides(&self, service: Uuid) -> bool {
        match &self.service_ids {
            None => true,
            Some(ids) => ids.contains(&Some(service)),
        }
    }

    pub fn service_ids(&self) -> Option<Vec<Uuid>> {
        self.service_ids
            .as_ref()
            .map(|v| v.iter().flatten().copied().collect())
    }

    pub fn weekly_doc(&self) -> Option<BTreeMap<String, Vec<TimeRange>>> {
        self.weekly_hours
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
    }

    pub fn overrides_doc(&self) -> Vec<DateOverride> {
        serde_json::from_value(self.date_overrides.clone()).unwrap_or_default()
    }

    /// Its hours (validated when written; anything unreadable falls back to the clinic's).
    pub fn hours(&self) -> ProviderHours {
        ProviderHours {
            weekly: self.weekly_doc().and_then(|d| parse_weekly(&d).ok()),
            overrides: parse_overrides(&self.overrides_doc()).unwrap_or_default(),
        }
    }
}

fn weekly_json(h: &ProviderHours) -> Option<Value> {
    h.weekly
        .as_ref()
        .map(|w| serde_json::to_value(doc_weekly(w)).unwrap_or(Value::Null))
}

fn overrides_json(
    o: &BTreeMap<chrono::NaiveDate, Vec<crate::domain::availability::MinuteRange>>,
) -> Value {
    serde_json::to_value(doc_overrides(o)).unwrap_or_else(|_| Value::Array(vec![]))
}

fn ids_column(ids: &Option<Vec<Uuid>>) -> Option<Vec<Option<Uuid>>> {
    ids.as_ref().map(|v| v.iter().copied().map(Some).collect())
}

pub async fn insert_provider(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    p: &ProviderSpec,
) -> QueryResult<ProviderRow> {
    diesel::insert_into(providers::table)
        .values((
            providers::org_id.eq(org.as_uuid()),
            providers::name.eq(&p.name),
            providers::active.eq(p.active),
            providers::weekly_hours.eq(weekly_json(&p.hours)),
            providers::date_overrides.eq(overrides_json(&p.hours.overrides)),
            providers::service_ids.eq(ids_column(&p.service_ids)),
            providers::google_calendar_id.eq(&p.google_calendar_id),
        ))
        .returning(ProviderRow::as_returning())
        .get_result(conn)
        .await
}

/// Every provider of the org, oldest first (a clinic has a handful). An org with none yet gets
/// its default provider here: orgs created before providers existed, or never seeded by
/// `org.created.v1`, book exactly as before.
pub async fn all_providers(conn: &AsyncPgConnection, org: OrgId) -> QueryResult<Vec<ProviderRow>> {
    let rows = load_providers(conn, org).await?;
    if !rows.is_empty() {
        return Ok(rows);
    }
    insert_default_provider(conn, org).await?;
    load_providers(conn, org).await
}

async fn load_providers(conn: &AsyncPgConnection, org: OrgId) -> QueryResult<Vec<ProviderRow>> {
    let mut c = conn;
    providers::table
        .filter(providers::org_id.eq(org.as_uuid()))
        .select(ProviderRow::as_select())
        .order((providers::created_at.asc(), providers::id.asc()))
        .load::<ProviderRow>(&mut c)
        .await
}

/// The default provider, once per org (a second call, or a concurrent one, changes nothing).
pub async fn insert_default_provider(conn: &AsyncPgConnection, org: OrgId) -> QueryResult<bool> {
    let mut c = conn;
    let n = diesel::insert_into(providers::table)
        .values((
            providers::org_id.eq(org.as_uuid()),
            providers::name.eq(DEFAULT_NAME),
            providers::is_default.eq(true),
        ))
        .on_conflict_do_nothing()
        .execute(&mut c)
        .await?;
    Ok(n > 0)
}

pub async fn find_provider(
    conn: &AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<Option<ProviderRow>> {
    let mut c = conn;
    providers::table
        .filter(providers::org_id.eq(org.as_uuid()))
        .filter(providers::id.eq(id))
        .select(ProviderRow::as_select())
        .first(&mut c)
        .await
        .optional()
}

/// Filters and keyset position of a list request.
#[derive(Debug, Clone, Default)]
pub struct ListProviders {
    pub active: Option<bool>,
    pub service_id: Option<Uuid>,
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

pub async fn list_providers(
    conn: &AsyncPgConnection,
    org: OrgId,
    q: &ListProviders,
) -> QueryResult<Vec<ProviderRow>> {
    // Ensures the default exists, so the first page shows what bookings use.
    let all = all_providers(conn, org).await?;
    let rows = all
        .into_iter()
        .filter(|p| q.active.is_none_or(|a| p.active == a))
        .filter(|p| q.service_id.is_none_or(|s| p.provides(s)))
        .filter(|p| q.after.is_none_or(|after| (p.created_at, p.id) > after))
        .take(usize::try_from(q.limit).unwrap_or(0))
        .collect();
    Ok(rows)
}

pub async fn update_provider(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    p: &ProviderPatch,
) -> QueryResult<Option<ProviderRow>> {
    #[derive(AsChangeset)]
    #[diesel(table_name = providers)]
    struct Changes {
        name: Option<String>,
        active: Option<bool>,
        weekly_hours: Option<Option<Value>>,
        date_overrides: Option<Value>,
        service_ids: Option<Option<Vec<Option<Uuid>>>>,
        google_calendar_id: Option<Option<String>>,
        updated_at: DateTime<Utc>,
    }
    let changes = Changes {
        name: p.name.clone(),
        active: p.active,
        weekly_hours: p.weekly.as_ref().map(|w| {
            weekly_json(&ProviderHours {
                weekly: w.clone(),
                overrides: BTreeMap::new(),
            })
        }),
        date_overrides: p.overrides.as_ref().map(overrides_json),
        service_ids: p.service_ids.as_ref().map(ids_column),
        google_calendar_id: p.google_calendar_id.clone(),
        updated_at: Utc::now(),
    };
    diesel::update(
        providers::table
            .filter(providers::org_id.eq(org.as_uuid()))
            .filter(providers::id.eq(id)),
    )
    .set(changes)
    .returning(ProviderRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Deletes a provider that has no appointments (returns whether it did); one with appointments
/// is deactivated instead by the caller's choice.
pub async fn delete_provider(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<usize> {
    diesel::delete(
        providers::table
            .filter(providers::org_id.eq(org.as_uuid()))
            .filter(providers::id.eq(id)),
    )
    .execute(conn)
    .await
}

pub async fn has_appointments(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        appointments::table
            .filter(appointments::org_id.eq(org.as_uuid()))
            .filter(appointments::provider_id.eq(id)),
    ))
    .get_result(conn)
    .await
}

/// Per provider: appointments and live holds starting in `[from, to)` (the least-loaded rule).
pub async fn load_between(
    conn: &AsyncPgConnection,
    org: OrgId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> QueryResult<Vec<(Uuid, i64)>> {
    let mut c = conn;
    appointments::table
        .filter(appointments::org_id.eq(org.as_uuid()))
        .filter(appointments::status.eq_any(BLOCKING.map(AppointmentStatus::as_str)))
        .filter(
            appointments::hold_expires_at
                .is_null()
                .or(appointments::hold_expires_at.gt(diesel::dsl::now)),
        )
        .filter(appointments::starts_at.ge(from))
        .filter(appointments::starts_at.lt(to))
        .group_by(appointments::provider_id)
        .select((appointments::provider_id, diesel::dsl::count_star()))
        .load(&mut c)
        .await
}

/// True when a write broke the (org, lower(name)) unique index.
pub fn is_name_taken(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind as K, Error as E};
    matches!(e, E::DatabaseError(K::UniqueViolation, info) if info.constraint_name() == Some("providers_org_name_unique"))
}

//! The contacts table: one row per (org, E.164 number), the projection of its events plus the
//! current score and stage.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::contacts;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contacts)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct ContactRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub phone_e164: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub first_contact_at: Option<DateTime<Utc>>,
    pub last_contact_at: Option<DateTime<Utc>>,
    pub calls_count: i32,
    pub appointments_booked: i32,
    pub appointments_kept: i32,
    pub appointments_no_show: i32,
    pub appointments_cancelled: i32,
    pub messages_count: i32,
    pub opted_out_at: Option<DateTime<Utc>>,
    pub stage: String,
    pub stage_source: String,
    pub stage_changed_at: DateTime<Utc>,
    pub score: Option<i16>,
    pub tier: Option<String>,
    pub next_action: Option<String>,
    pub model_version: Option<String>,
    pub scored_at: Option<DateTime<Utc>>,
}

/// The contact of `phone` in `org`, created when new; locked for the rest of the transaction so
/// that two events about one contact are folded one after the other, each seeing the other's.
pub async fn upsert_and_lock(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    phone: &str,
) -> QueryResult<ContactRow> {
    diesel::insert_into(contacts::table)
        .values((
            contacts::org_id.eq(org.as_uuid()),
            contacts::phone_e164.eq(phone),
        ))
        .on_conflict((contacts::org_id, contacts::phone_e164))
        .do_nothing()
        .execute(conn)
        .await?;
    contacts::table
        .filter(contacts::org_id.eq(org.as_uuid()))
        .filter(contacts::phone_e164.eq(phone))
        .select(ContactRow::as_select())
        .for_update()
        .first(conn)
        .await
}

pub async fn find_contact(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    lock: bool,
) -> QueryResult<Option<ContactRow>> {
    let q = contacts::table
        .filter(contacts::org_id.eq(org.as_uuid()))
        .filter(contacts::id.eq(id))
        .select(ContactRow::as_select());
    if lock {
        q.for_update().first(conn).await.optional()
    } else {
        q.first(conn).await.optional()
    }
}

/// What a recomputation writes back.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = contacts)]
#[diesel(treat_none_as_null = true)]
pub struct Projection {
    pub name: Option<String>,
    pub first_contact_at: Option<DateTime<Utc>>,
    pub last_contact_at: Option<DateTime<Utc>>,
    pub calls_count: i32,
    pub appointments_booked: i32,
    pub appointments_kept: i32,
    pub appointments_no_show: i32,
    pub appointments_cancelled: i32,
    pub messages_count: i32,
    pub opted_out_at: Option<DateTime<Utc>>,
    pub score: Option<i16>,
    pub tier: Option<String>,
    pub next_action: Option<String>,
    pub model_version: Option<String>,
    pub scored_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

pub async fn update_projection(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    p: &Projection,
) -> QueryResult<()> {
    diesel::update(
        contacts::table
            .filter(contacts::org_id.eq(org.as_uuid()))
            .filter(contacts::id.eq(id)),
    )
    .set(p)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn update_stage(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    stage: &str,
    source: &str,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(
        contacts::table
            .filter(contacts::org_id.eq(org.as_uuid()))
            .filter(contacts::id.eq(id)),
    )
    .set((
        contacts::stage.eq(stage),
        contacts::stage_source.eq(source),
        contacts::stage_changed_at.eq(at),
    ))
    .execute(conn)
    .await
    .map(|_| ())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Score,
    LastContact,
}

/// The list's filters and page.
#[derive(Debug, Clone)]
pub struct ListContacts {
    pub sort: SortBy,
    pub tier: Option<String>,
    pub stage: Option<String>,
    /// Last contact at or after / before.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// A phone-number fragment (digits) or a name fragment (case-insensitive).
    pub search: Option<String>,
    /// Keyset: `(score or last-contact micros, id)` of the previous page's last row.
    pub after: Option<(i64, Uuid)>,
    pub fetch: i64,
}

/// `LIKE` pattern for a fragment, with its wildcards escaped.
fn like(fragment: &str) -> String {
    let escaped = fragment
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Contacts ordered by score (then id) or last contact (then id), descending; unscored and
/// never-contacted rows sort as -1 / the epoch, last.
pub async fn list_contacts(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    q: &ListContacts,
) -> QueryResult<Vec<ContactRow>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{BigInt, Bool};
    let mut query = contacts::table
        .filter(contacts::org_id.eq(org.as_uuid()))
        .select(ContactRow::as_select())
        .into_boxed();
    if let Some(t) = &q.tier {
        query = query.filter(contacts::tier.eq(t.clone()));
    }
    if let Some(s) = &q.stage {
        query = query.filter(contacts::stage.eq(s.clone()));
    }
    if let Some(f) = q.from {
        query = query.filter(contacts::last_contact_at.ge(f));
    }
    if let Some(t) = q.to {
        query = query.filter(contacts::last_contact_at.lt(t));
    }
    if let Some(s) = &q.search {
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        let by_name = contacts::name.ilike(like(s));
        if digits.is_empty() {
            query = query.filter(by_name);
        } else {
            query = query.filter(by_name.or(contacts::phone_e164.like(like(&digits)).nullable()));
        }
    }
    // The sort key as one bigint, so the keyset comparison is one row comparison.
    let key = match q.sort {
        SortBy::Score => "COALESCE(score, -1)::bigint",
        SortBy::LastContact => {
            "COALESCE((extract(epoch FROM last_contact_at) * 1000000)::bigint, 0)"
        }
    };
    if let Some((k, id)) = q.after {
        query = query.filter(
            sql::<Bool>(&format!("({key}, id) < ("))
                .bind::<BigInt, _>(k)
                .sql(", ")
                .bind::<diesel::sql_types::Uuid, _>(id)
                .sql(")"),
        );
    }
    query
        .order((sql::<BigInt>(key).desc(), contacts::id.desc()))
        .limit(q.fetch)
        .load(conn)
        .await
}

impl ContactRow {
    /// The row's key under `sort` (the same expression `list_contacts` orders by).
    pub fn sort_key(&self, sort: SortBy) -> i64 {
        match sort {
            SortBy::Score => self.score.map_or(-1, i64::from),
            SortBy::LastContact => self.last_contact_at.map_or(0, |t| t.timestamp_micros()),
        }
    }
}

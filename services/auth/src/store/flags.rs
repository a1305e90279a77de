//! Feature flags: global definitions and per-org overrides (RLS).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::{OrgId, UserId};

use super::schema::auth::{feature_flags, flag_overrides};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, serde::Serialize)]
#[diesel(table_name = feature_flags)]
pub struct Flag {
    pub key: String,
    pub description: String,
    pub default_enabled: bool,
    pub rollout_percent: i16,
    pub updated_at: DateTime<Utc>,
}

pub async fn all(c: &mut AsyncPgConnection) -> QueryResult<Vec<Flag>> {
    feature_flags::table
        .order(feature_flags::key.asc())
        .select(Flag::as_select())
        .load(c)
        .await
}

pub async fn exists(c: &mut AsyncPgConnection, key: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(feature_flags::table.find(key)))
        .get_result(c)
        .await
}

pub async fn upsert(c: &mut AsyncPgConnection, f: &Flag) -> QueryResult<()> {
    diesel::insert_into(feature_flags::table)
        .values(f)
        .on_conflict(feature_flags::key)
        .do_update()
        .set(f)
        .execute(c)
        .await
        .map(|_| ())
}

/// The transaction's org overrides (RLS narrows them to that org).
pub async fn overrides(
    c: &mut AsyncPgConnection,
    org: OrgId,
) -> QueryResult<BTreeMap<String, bool>> {
    let rows: Vec<(String, bool)> = flag_overrides::table
        .filter(flag_overrides::org_id.eq(org))
        .select((flag_overrides::key, flag_overrides::enabled))
        .load(c)
        .await?;
    Ok(rows.into_iter().collect())
}

pub async fn set_override(
    c: &mut AsyncPgConnection,
    org: OrgId,
    key: &str,
    enabled: Option<bool>,
    by: UserId,
) -> QueryResult<()> {
    match enabled {
        Some(v) => diesel::insert_into(flag_overrides::table)
            .values((
                flag_overrides::org_id.eq(org),
                flag_overrides::key.eq(key),
                flag_overrides::enabled.eq(v),
                flag_overrides::updated_by.eq(by),
                flag_overrides::updated_at.eq(Utc::now()),
            ))
            .on_conflict((flag_overrides::org_id, flag_overrides::key))
            .do_update()
            .set((
                flag_overrides::enabled.eq(v),
                flag_overrides::updated_by.eq(by),
                flag_overrides::updated_at.eq(Utc::now()),
            ))
            .execute(c)
            .await
            .map(|_| ()),
        None => diesel::delete(flag_overrides::table.find((org, key)))
            .execute(c)
            .await
            .map(|_| ()),
    }
}

//! Calendar's diesel-async queries. Every function takes a connection that is already inside a
//! tenant transaction (`Db::tenant_tx`) *and* filters by the org explicitly: RLS is the last line,
//! not the only one.

pub mod appointments;
pub mod google;
pub mod providers;
/// `diesel print-schema` output (diesel.toml; checked by `make lint`).
#[path = "schema.rs"]
mod generated;
/// The generated tables under their unqualified names, for the queries.
pub mod schema {
    pub use super::generated::calendar::*;
}
pub mod services;
pub mod settings;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;

/// Deletes everything calendar holds for `org` (`org.deleted.v1`).
pub async fn purge_org(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<()> {
    use schema::{
        appointments, clinic_settings, date_overrides, external_busy, google_busy_refresh,
        google_connections, google_sync_jobs, providers, services, weekly_hours,
    };
    let o = org.as_uuid();
    diesel::delete(google_sync_jobs::table.filter(google_sync_jobs::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(google_busy_refresh::table.filter(google_busy_refresh::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(external_busy::table.filter(external_busy::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(google_connections::table.filter(google_connections::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(appointments::table.filter(appointments::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(providers::table.filter(providers::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(date_overrides::table.filter(date_overrides::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(weekly_hours::table.filter(weekly_hours::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(clinic_settings::table.filter(clinic_settings::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(services::table.filter(services::org_id.eq(o)))
        .execute(conn)
        .await?;
    Ok(())
}

//! The clinic's settings: as every other capability reads them (the defaults, in UTC, until an
//! admin or `org.created.v1` stores some), and as an admin replaces them.

use diesel_async::AsyncPgConnection;
use servicekit::db::PoolUnavailable;
use tenancy::{Db, OrgId};

use crate::domain::settings::ClinicSettings;
use crate::store::settings as store;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Store(#[from] diesel::result::Error),
    #[error(transparent)]
    Pool(#[from] PoolUnavailable),
}

/// The org's stored settings, or the defaults (UTC) before any are stored.
pub async fn effective_settings(
    conn: &AsyncPgConnection,
    org: OrgId,
) -> diesel::QueryResult<ClinicSettings> {
    Ok(store::find_settings(conn, org)
        .await?
        .unwrap_or_else(|| ClinicSettings::defaults(chrono_tz::UTC)))
}

pub async fn get(db: &Db, org: OrgId) -> Result<ClinicSettings, SettingsError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move { Ok(effective_settings(tx, org).await?) })
    })
    .await
}

/// Replaces the whole document (validated by `SettingsDoc::validate`).
pub async fn replace(
    db: &Db,
    org: OrgId,
    s: ClinicSettings,
) -> Result<ClinicSettings, SettingsError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            store::replace_settings(tx, org, &s).await?;
            Ok(s)
        })
    })
    .await
}

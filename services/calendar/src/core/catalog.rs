//! The services catalog: create, list, read, update, archive (never a hard delete: past
//! appointments keep their service); and the bookable services the voice agent offers, with the
//! clinic's zone.

use chrono_tz::Tz;
use servicekit::db::PoolUnavailable;
use tenancy::{Db, OrgId};
use uuid::Uuid;

use crate::core::settings::effective_settings;
use crate::domain::service::{NewService, ServicePatch};
use crate::store::services::{self as store, ListServices, ServiceRow};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("this org already has a service with that name")]
    NameTaken,
    #[error("service not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] diesel::result::Error),
    #[error(transparent)]
    Pool(#[from] PoolUnavailable),
}

/// The only unique key a service can break is (org, name) among services not archived.
fn name_taken(e: diesel::result::Error) -> CatalogError {
    use diesel::result::{DatabaseErrorKind as K, Error as E};
    match e {
        E::DatabaseError(K::UniqueViolation, _) => CatalogError::NameTaken,
        other => other.into(),
    }
}

pub async fn create(db: &Db, org: OrgId, new: NewService) -> Result<ServiceRow, CatalogError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            store::insert_service(tx, org, &new)
                .await
                .map_err(name_taken)
        })
    })
    .await
}

/// Changes a service that is not archived. Appointments already booked keep their times and
/// buffers (copied onto the row at booking); new bookings use the new values.
pub async fn update(
    db: &Db,
    org: OrgId,
    id: Uuid,
    patch: ServicePatch,
) -> Result<ServiceRow, CatalogError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            store::update_service(tx, org, id, &patch)
                .await
                .map_err(name_taken)?
                .ok_or(CatalogError::NotFound)
        })
    })
    .await
}

/// Services matching `q` (at most `q.limit`), oldest first.
pub async fn list(db: &Db, org: OrgId, q: ListServices) -> Result<Vec<ServiceRow>, CatalogError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move { Ok(store::list_services(tx, org, &q).await?) })
    })
    .await
}

pub async fn get(db: &Db, org: OrgId, id: Uuid) -> Result<ServiceRow, CatalogError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            store::find_service(tx, org, id)
                .await?
                .ok_or(CatalogError::NotFound)
        })
    })
    .await
}

/// Archives a service: it is no longer listed (unless asked for), offered or bookable, and its
/// appointments keep it. Archiving twice is the same as once.
pub async fn archive(db: &Db, org: OrgId, id: Uuid) -> Result<(), CatalogError> {
    let found = db
        .tenant_tx(org, |tx| {
            Box::pin(
                async move { Ok::<_, CatalogError>(store::archive_service(tx, org, id).await?) },
            )
        })
        .await?;
    if found {
        Ok(())
    } else {
        Err(CatalogError::NotFound)
    }
}

/// The active services (at most 200) and the clinic's zone: what the voice agent may offer.
pub async fn bookable(db: &Db, org: OrgId) -> Result<(Tz, Vec<ServiceRow>), CatalogError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            let q = ListServices {
                active: Some(true),
                include_archived: false,
                search: None,
                after: None,
                limit: 200,
            };
            let rows = store::list_services(tx, org, &q).await?;
            let tz = effective_settings(tx, org).await?.timezone;
            Ok((tz, rows))
        })
    })
    .await
}

//! Providers: create, list, read, change, delete (only one nobody has booked: deactivate the
//! others). Every write checks that the services it names belong to the org, in the same
//! transaction.

use servicekit::db::PoolUnavailable;
use tenancy::{Db, OrgId};
use uuid::Uuid;

use crate::domain::provider::{ProviderPatch, ProviderSpec};
use crate::store::providers::{self as store, ListProviders, ProviderRow};
use crate::store::services::find_service;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("this org already has a provider with that name")]
    NameTaken,
    #[error("provider not found")]
    NotFound,
    #[error("service_ids: {0} is not a service of this clinic")]
    UnknownService(Uuid),
    #[error("this provider has appointments: deactivate it (active: false) instead")]
    HasAppointments,
    #[error(transparent)]
    Store(#[from] diesel::result::Error),
    #[error(transparent)]
    Pool(#[from] PoolUnavailable),
}

fn name_taken(e: diesel::result::Error) -> ProviderError {
    if store::is_name_taken(&e) {
        ProviderError::NameTaken
    } else {
        e.into()
    }
}

async fn check_services(
    tx: &diesel_async::AsyncPgConnection,
    org: OrgId,
    ids: Option<&Vec<Uuid>>,
) -> Result<(), ProviderError> {
    for id in ids.into_iter().flatten() {
        if find_service(tx, org, *id).await?.is_none() {
            return Err(ProviderError::UnknownService(*id));
        }
    }
    Ok(())
}

pub async fn create(db: &Db, org: OrgId, spec: ProviderSpec) -> Result<ProviderRow, ProviderError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            check_services(tx, org, spec.service_ids.as_ref()).await?;
            // The default provider exists before the first one an admin adds, so an org that
            // adds "Dr. Patel" keeps its "Clinic" (deactivate it to book only Dr. Patel).
            store::all_providers(tx, org).await?;
            store::insert_provider(tx, org, &spec)
                .await
                .map_err(name_taken)
        })
    })
    .await
}

pub async fn list(
    db: &Db,
    org: OrgId,
    q: ListProviders,
) -> Result<Vec<ProviderRow>, ProviderError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move { Ok(store::list_providers(tx, org, &q).await?) })
    })
    .await
}

pub async fn get(db: &Db, org: OrgId, id: Uuid) -> Result<ProviderRow, ProviderError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            store::find_provider(tx, org, id)
                .await?
                .ok_or(ProviderError::NotFound)
        })
    })
    .await
}

pub async fn update(
    db: &Db,
    org: OrgId,
    id: Uuid,
    patch: ProviderPatch,
) -> Result<ProviderRow, ProviderError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            check_services(tx, org, patch.service_ids.as_ref().and_then(Option::as_ref)).await?;
            store::update_provider(tx, org, id, &patch)
                .await
                .map_err(name_taken)?
                .ok_or(ProviderError::NotFound)
        })
    })
    .await
}

/// Deletes a provider nobody has booked (appointments keep theirs forever).
pub async fn delete(db: &Db, org: OrgId, id: Uuid) -> Result<(), ProviderError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            if store::find_provider(tx, org, id).await?.is_none() {
                return Err(ProviderError::NotFound);
            }
            if store::has_appointments(tx, org, id).await? {
                return Err(ProviderError::HasAppointments);
            }
            store::delete_provider(tx, org, id).await?;
            Ok(())
        })
    })
    .await
}

/// Active providers (the voice agent matches a spoken name against them), at most 200.
pub async fn active(db: &Db, org: OrgId) -> Result<Vec<ProviderRow>, ProviderError> {
    list(
        db,
        org,
        ListProviders {
            active: Some(true),
            limit: 200,
            ..Default::default()
        },
    )
    .await
}

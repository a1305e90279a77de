//! The org's phone numbers and which agent answers each. Every change rewrites the number's
//! routes in the same transaction, so webhooks resolve to the right org; a number imported into
//! Vapi is pointed at our server URL after the save.

use diesel_async::AsyncPgConnection;
use servicekit::page::PageRequest;
use tenancy::OrgId;
use uuid::Uuid;

use crate::core::vapi_sync;
use crate::domain::fields::{self, InvalidField};
use crate::state::VoiceState;
use crate::store::agents;
use crate::store::error::StoreError;
use crate::store::numbers::{self as store, NumberFields, NumberRow};

#[derive(Debug, thiserror::Error)]
pub enum NumberError {
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    #[error("number not found")]
    NotFound,
    /// The number (or its Vapi phone number id) belongs to another number already.
    #[error("this number (or Vapi phone number id) is already in use")]
    Taken,
    #[error(transparent)]
    Store(StoreError),
}

crate::store::error::store_error_from!(NumberError);

/// A number as the dashboard sends it, before validation.
#[derive(Debug, Clone, Default)]
pub struct NumberInput {
    pub number: String,
    pub label: Option<String>,
    pub vapi_phone_number_id: Option<String>,
    pub agent_id: Option<Uuid>,
}

pub fn validate(b: NumberInput) -> Result<NumberFields, InvalidField> {
    Ok(NumberFields {
        number: fields::e164("number", &b.number)?,
        label: fields::text("label", b.label, 200, false)?,
        vapi_phone_number_id: Some(fields::text(
            "vapi_phone_number_id",
            b.vapi_phone_number_id,
            100,
            false,
        )?)
        .filter(|s| !s.is_empty()),
        agent_id: b.agent_id,
    })
}

/// A unique violation is the number being taken; anything else is the store's.
fn taken(e: diesel::result::Error) -> NumberError {
    let e = StoreError::from(e);
    if e.is_unique_violation() {
        NumberError::Taken
    } else {
        NumberError::Store(e)
    }
}

async fn check_agent(
    tx: &mut AsyncPgConnection,
    org: OrgId,
    agent: Option<Uuid>,
) -> Result<(), NumberError> {
    if let Some(id) = agent
        && agents::find_agent(tx, org, id).await?.is_none()
    {
        return Err(InvalidField::new("agent_id", "no such agent in this org").into());
    }
    Ok(())
}

pub async fn create(
    st: &VoiceState,
    org: OrgId,
    input: NumberInput,
) -> Result<NumberRow, NumberError> {
    let f = validate(input)?;
    let row = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                check_agent(tx, org, f.agent_id).await?;
                let row = store::insert_number(tx, org, &f).await.map_err(taken)?;
                store::route_number(tx, org, &row).await.map_err(taken)?;
                Ok::<_, NumberError>(row)
            })
        })
        .await?;
    link(st, &row).await;
    Ok(row)
}

/// One page of the org's numbers, oldest first.
pub async fn list(
    st: &VoiceState,
    org: OrgId,
    page: PageRequest,
) -> Result<Vec<NumberRow>, NumberError> {
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::list_numbers(tx, org, page.after, page.fetch_limit())
                    .await
                    .map_err(NumberError::from)
            })
        })
        .await
}

pub async fn get(st: &VoiceState, org: OrgId, id: Uuid) -> Result<NumberRow, NumberError> {
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::find_number(tx, org, id)
                    .await
                    .map_err(NumberError::from)
            })
        })
        .await?
        .ok_or(NumberError::NotFound)
}

/// Replaces a number's settings, e.g. assigns it to another agent.
pub async fn update(
    st: &VoiceState,
    org: OrgId,
    id: Uuid,
    input: NumberInput,
) -> Result<NumberRow, NumberError> {
    let f = validate(input)?;
    let row = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                check_agent(tx, org, f.agent_id).await?;
                let Some(row) = store::update_number(tx, org, id, &f).await.map_err(taken)? else {
                    return Ok(None);
                };
                store::route_number(tx, org, &row).await.map_err(taken)?;
                Ok::<_, NumberError>(Some(row))
            })
        })
        .await?
        .ok_or(NumberError::NotFound)?;
    link(st, &row).await;
    Ok(row)
}

/// Removes a number: webhooks for it are no longer routed to this org.
pub async fn delete(st: &VoiceState, org: OrgId, id: Uuid) -> Result<(), NumberError> {
    let deleted = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                if store::find_number(tx, org, id).await?.is_none() {
                    return Ok(false);
                }
                store::unroute_number(tx, org, id).await?;
                store::delete_number(tx, org, id)
                    .await
                    .map_err(NumberError::from)
            })
        })
        .await?;
    if deleted {
        Ok(())
    } else {
        Err(NumberError::NotFound)
    }
}

/// Points the number's Vapi phone number at us (when both a Vapi id and key exist); a failure is
/// logged, the number is saved either way and routes already.
async fn link(st: &VoiceState, row: &NumberRow) {
    if let Some(v) = &row.vapi_phone_number_id
        && let Err(e) = vapi_sync::link_number(st, v).await
    {
        tracing::warn!(number = %row.id, error = %e, "linking the number in Vapi failed");
    }
}

//! Opt-outs as admins see and edit them; every change is audited with who made it.

use chrono::{DateTime, Utc};
use events::{Channel as EventChannel, ContactOptedOutV1};
use tenancy::{OrgId, UserId};

use super::CoreError;
use crate::domain::phone::is_e164;
use crate::state::AppState;
use crate::store::opt_outs::{self, AuditRow, OptOutRow};

fn check(phone: &str) -> Result<(), CoreError> {
    if is_e164(phone) {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "invalid_field",
            "phone",
            "phone must be E.164, e.g. +15550100123",
        ))
    }
}

pub async fn list(
    st: &AppState,
    org: OrgId,
    after: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<OptOutRow>, CoreError> {
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                opt_outs::list(tx, org, after, limit)
                    .await
                    .map_err(CoreError::from)
            })
        })
        .await
}

/// Adds `phone` by hand; `true` when it was not opted out before.
pub async fn add(
    st: &AppState,
    org: OrgId,
    actor: UserId,
    phone: String,
) -> Result<bool, CoreError> {
    check(&phone)?;
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let added =
                    opt_outs::add(tx, org, &phone, "admin", None, Some(actor.as_uuid())).await?;
                if added {
                    bus::enqueue(
                        tx,
                        org,
                        &ContactOptedOutV1 {
                            phone: phone.clone(),
                            channel: EventChannel::Sms,
                            keyword: None,
                            opted_out_at: Utc::now(),
                        },
                    )
                    .await?;
                }
                Ok::<_, CoreError>(added)
            })
        })
        .await
}

/// Removes `phone` by hand (the patient asked to be texted again).
pub async fn remove(
    st: &AppState,
    org: OrgId,
    actor: UserId,
    phone: String,
) -> Result<(), CoreError> {
    check(&phone)?;
    let removed = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                if !opt_outs::is_opted_out(tx, org, &phone).await? {
                    return Ok::<_, CoreError>(false);
                }
                opt_outs::remove(tx, org, &phone, "admin", None, Some(actor.as_uuid()))
                    .await
                    .map_err(CoreError::from)
            })
        })
        .await?;
    if removed {
        Ok(())
    } else {
        Err(CoreError::NotFound("opt-out"))
    }
}

pub async fn audit(st: &AppState, org: OrgId, phone: String) -> Result<Vec<AuditRow>, CoreError> {
    check(&phone)?;
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                opt_outs::audit_of(tx, org, &phone)
                    .await
                    .map_err(CoreError::from)
            })
        })
        .await
}

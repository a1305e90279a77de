//! Rotating an org's own Vapi webhook secret: a new random secret, sealed and stored, shown
//! once; the previous one keeps working for the grace period (default 24 h, at most 168 h) so
//! Vapi can be updated.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::{DateTime, Utc};
use ring::rand::SecureRandom as _;
use tenancy::OrgId;

use crate::domain::fields::InvalidField;
use crate::domain::sealing;
use crate::state::VoiceState;
use crate::store::error::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    #[error("random source failed")]
    Random,
    #[error("sealing the secret failed: {0}")]
    Sealing(#[source] anyhow::Error),
    #[error(transparent)]
    Store(StoreError),
}

crate::store::error::store_error_from!(RotateError);

/// The new secret (shown once) and until when the previous one is accepted.
pub struct Rotated {
    pub secret: String,
    pub previous_valid_until: DateTime<Utc>,
}

pub async fn rotate(
    st: &VoiceState,
    org: OrgId,
    grace_hours: Option<i64>,
) -> Result<Rotated, RotateError> {
    let grace = grace_hours.unwrap_or(24);
    if !(0..=168).contains(&grace) {
        return Err(
            InvalidField::new("grace_hours", "grace_hours must be between 0 and 168").into(),
        );
    }
    let mut raw = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| RotateError::Random)?;
    let secret = B64URL.encode(raw);
    let sealed = st
        .keys
        .encrypt(org.as_uuid(), sealing::WEBHOOK_SECRET, secret.as_bytes())
        .map_err(|e| RotateError::Sealing(e.into()))?;
    let until = Utc::now() + chrono::Duration::hours(grace);
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                crate::store::secrets::rotate(tx, org, &sealed, until)
                    .await
                    .map_err(RotateError::from)
            })
        })
        .await?;
    Ok(Rotated {
        secret,
        previous_valid_until: until,
    })
}

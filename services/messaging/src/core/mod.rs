//! messaging's use cases, one file per capability, with one typed error (`CoreError`) the routes
//! map to problems. No HTTP types here.

pub mod accounts;
pub mod alerts;
pub mod appointments;
pub mod dispatch;
pub mod messages;
pub mod opt_outs;
pub mod outbound;
pub mod settings;
pub mod templates;
pub mod webhooks;

use servicekit::crypto::{CryptoError, KeyRing, Sealed};
use servicekit::db::PoolUnavailable;
use tenancy::OrgId;

/// Why a use case did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{detail}")]
    Invalid {
        code: &'static str,
        field: Option<&'static str>,
        detail: String,
    },
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("the recipient has opted out of messages from this clinic")]
    OptedOut,
    #[error(
        "outside the WhatsApp 24-hour window only an approved template (content_sid) may be sent"
    )]
    WhatsappWindowClosed,
    #[error("this Idempotency-Key was used with another request")]
    IdempotencyConflict,
    #[error("Twilio rejected these credentials ({0}); nothing was stored")]
    CredentialsRejected(String),
    #[error("Twilio could not be reached to verify the credentials")]
    TwilioUnavailable(String),
    #[error("the webhook signature is missing or does not match")]
    BadSignature,
    #[error("database: {0}")]
    Store(#[from] diesel::result::Error),
    #[error("database unavailable")]
    Pool(#[from] PoolUnavailable),
    #[error("{0:#}")]
    Internal(anyhow::Error),
}

impl From<CryptoError> for CoreError {
    fn from(e: CryptoError) -> Self {
        CoreError::Internal(anyhow::anyhow!("crypto: {e}"))
    }
}

impl CoreError {
    pub fn invalid(code: &'static str, field: &'static str, detail: impl Into<String>) -> Self {
        CoreError::Invalid {
            code,
            field: Some(field),
            detail: detail.into(),
        }
    }
}

/// Purposes bound with the org as associated data: a ciphertext copied to another column or org
/// does not open.
pub const BODY_PURPOSE: &str = "messaging.body";
pub const AUTH_TOKEN_PURPOSE: &str = "messaging.twilio_auth_token";
pub const API_SECRET_PURPOSE: &str = "messaging.twilio_api_key_secret";

pub fn open_text(
    keys: &KeyRing,
    org: OrgId,
    purpose: &str,
    key_id: &str,
    ct: &[u8],
) -> Result<String, CoreError> {
    let plain = keys.decrypt(
        org.as_uuid(),
        purpose,
        &Sealed {
            key_id: key_id.to_string(),
            ciphertext: ct.to_vec(),
        },
    )?;
    String::from_utf8(plain)
        .map_err(|_| CoreError::Internal(anyhow::anyhow!("sealed text is not UTF-8")))
}

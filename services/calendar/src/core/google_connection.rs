//! An org's Google connection: the consent URL (PKCE, sealed state), the callback that exchanges
//! the code and stores the refresh token sealed, the status, and disconnecting (revoke at
//! Google, forget here). No transaction is ever held across a Google call.

use servicekit::db::PoolUnavailable;
use tenancy::{Db, OrgId, UserId};

use crate::clients::google::oauth::{self, StateError};
use crate::clients::google::{Google, GoogleError};
use crate::store::google::{self as store, ConnectionRow, FailedJobs};

#[derive(Debug, thiserror::Error)]
pub enum GoogleConnectionError {
    #[error("the Google integration is not configured on this deployment")]
    NotConfigured,
    #[error("the state does not match this connection attempt: {0}")]
    InvalidState(StateError),
    #[error("Google refused the authorization code (expired or already used)")]
    CodeRejected,
    #[error("Google sent no refresh token; connect again (consent is forced)")]
    NoRefreshToken,
    #[error("google connection not found")]
    NotConnected,
    /// Google could not be reached or answered an error retrying may fix.
    #[error("google: {0}")]
    Unavailable(GoogleError),
    #[error(transparent)]
    Store(#[from] diesel::result::Error),
    #[error(transparent)]
    Pool(#[from] PoolUnavailable),
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl From<GoogleError> for GoogleConnectionError {
    fn from(e: GoogleError) -> Self {
        match e {
            GoogleError::NotConfigured => GoogleConnectionError::NotConfigured,
            GoogleError::InvalidGrant => GoogleConnectionError::CodeRejected,
            other => GoogleConnectionError::Unavailable(other),
        }
    }
}

/// The org's connection (`None`: never connected) and its Google writes that failed for good.
#[derive(Debug, Clone)]
pub struct GoogleStatus {
    pub connection: Option<ConnectionRow>,
    pub failed: FailedJobs,
}

/// The consent URL for `user` of `org` to send their browser to.
pub fn connect(google: &Google, org: OrgId, user: UserId) -> Result<String, GoogleConnectionError> {
    if !google.client.settings.enabled() {
        return Err(GoogleConnectionError::NotConfigured);
    }
    let (verifier, challenge) = oauth::pkce().map_err(GoogleConnectionError::Internal)?;
    let state = oauth::seal_state(&google.keys, org, user, &verifier)
        .map_err(GoogleConnectionError::Internal)?;
    Ok(google.client.authorize_url(&state, &challenge)?)
}

/// Finishes connecting: checks the state, exchanges the code, stores the refresh token sealed.
pub async fn complete(
    db: &Db,
    google: &Google,
    org: OrgId,
    user: UserId,
    code: &str,
    state: &str,
) -> Result<GoogleStatus, GoogleConnectionError> {
    let verifier = oauth::open_state(&google.keys, org, user, state)
        .map_err(GoogleConnectionError::InvalidState)?;
    let tokens = google.client.exchange_code(code, &verifier).await?;
    let Some(refresh) = tokens.refresh_token else {
        return Err(GoogleConnectionError::NoRefreshToken);
    };
    let sealed = google
        .seal_refresh_token(org, &refresh)
        .map_err(GoogleConnectionError::Internal)?;
    google.forget_token(org).await;
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            store::upsert_connection(tx, org, user, &sealed.key_id, &sealed.ciphertext).await?;
            Ok(GoogleStatus {
                connection: store::find_connection(tx, org).await?,
                failed: store::failed_jobs(tx, org).await?,
            })
        })
    })
    .await
}

/// The org's connection and failed writes.
pub async fn status(db: &Db, org: OrgId) -> Result<GoogleStatus, GoogleConnectionError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            Ok(GoogleStatus {
                connection: store::find_connection(tx, org).await?,
                failed: store::failed_jobs(tx, org).await?,
            })
        })
    })
    .await
}

/// Revokes the token at Google (a failure to reach Google still disconnects here) and forgets it.
pub async fn disconnect(db: &Db, google: &Google, org: OrgId) -> Result<(), GoogleConnectionError> {
    let row = status(db, org)
        .await?
        .connection
        .filter(|r| r.status == "connected")
        .ok_or(GoogleConnectionError::NotConnected)?;
    if let Ok(token) = google.open_refresh_token(org, row.sealed_token())
        && let Err(e) = google.client.revoke(&token).await
    {
        tracing::warn!(error = %e, "google revoke failed; disconnecting locally anyway");
    }
    google.forget_token(org).await;
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            Ok(store::mark_disconnected(tx, org, Some("disconnected_by_admin")).await?)
        })
    })
    .await
}

//! The `client_credentials` grant: a configured service client gets a short-lived service token.

use crate::core::infra::Infra;
use crate::domain::refresh::constant_time_eq;
use crate::domain::tokens::TokenResponse;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum ClientGrantError {
    #[error("client authentication failed")]
    InvalidClient,
    #[error(transparent)]
    Infra(#[from] Infra),
}

pub async fn client_grant(
    st: &AppState,
    client_id: &str,
    client_secret: &str,
) -> Result<TokenResponse, ClientGrantError> {
    use secrecy::ExposeSecret as _;
    let digest = |s: &str| ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let given = digest(client_secret);
    let client = st.settings.service_clients.iter().find(|c| {
        c.name == client_id
            && constant_time_eq(digest(c.secret.expose_secret()).as_ref(), given.as_ref())
    });
    match client {
        Some(c) => Ok(st.service_token(&c.name).await?),
        None => {
            metrics::counter!("auth_client_credentials_failures_total").increment(1);
            Err(ClientGrantError::InvalidClient)
        }
    }
}

//! The service token voice presents to other services: a fixed one from configuration, or one
//! fetched from the auth service with the client-credentials grant and cached until shortly
//! before it expires.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no service token: set CALENDAR_SERVICE_TOKEN or SERVICE_CLIENT_SECRET")]
    NotConfigured,
    #[error("token request failed: {0}")]
    Http(String),
}

#[derive(Clone)]
pub enum TokenSource {
    Static(SecretString),
    ClientCredentials(Arc<Fetcher>),
    None,
}

pub struct Fetcher {
    http: reqwest::Client,
    url: String,
    client_id: String,
    client_secret: SecretString,
    cached: Mutex<Option<(SecretString, Instant)>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

impl TokenSource {
    pub fn from_settings(s: &crate::config::VoiceSettings, http: reqwest::Client) -> Self {
        if let Some(t) = &s.calendar_service_token {
            return TokenSource::Static(t.clone());
        }
        match &s.service_client_secret {
            Some(secret) => TokenSource::ClientCredentials(Arc::new(Fetcher {
                http,
                url: s.auth_token_url.clone(),
                client_id: s.service_client_id.clone(),
                client_secret: secret.clone(),
                cached: Mutex::new(None),
            })),
            None => TokenSource::None,
        }
    }

    pub async fn token(&self) -> Result<SecretString, TokenError> {
        match self {
            TokenSource::Static(t) => Ok(t.clone()),
            TokenSource::None => Err(TokenError::NotConfigured),
            TokenSource::ClientCredentials(f) => f.token().await,
        }
    }

    /// Drops a cached token the server refused (401), so the next call fetches a new one.
    pub async fn invalidate(&self) {
        if let TokenSource::ClientCredentials(f) = self {
            *f.cached.lock().await = None;
        }
    }
}

impl Fetcher {
    async fn token(&self) -> Result<SecretString, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some((t, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let req = self
            .http
            .post(format!("{}?grant_type=client_credentials", self.url))
            // The grant type travels in the query; the body has exactly the client's credentials
            // (auth refuses unknown fields).
            .json(&serde_json::json!({
                "client_id": self.client_id,
                "client_secret": self.client_secret.expose_secret(),
            }))
            .timeout(Duration::from_secs(3));
        let resp = servicekit::telemetry::inject_traceparent(req)
            .send()
            .await
            .map_err(|e| TokenError::Http(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(TokenError::Http(format!("auth answered {}", resp.status())));
        }
        let body: TokenResponse = resp
            .json()
            .await
            .map_err(|e| TokenError::Http(e.to_string()))?;
        // Renew a minute early (or halfway through a very short lifetime).
        let life = body.expires_in.unwrap_or(300);
        let margin = (life / 2).min(60);
        let token = SecretString::from(body.access_token);
        *cached = Some((
            token.clone(),
            Instant::now() + Duration::from_secs(life - margin),
        ));
        Ok(token)
    }
}

//! An OpenID Connect provider (Google) as a relying party talks to it: the discovery document,
//! a JWKS cache (refetched on an unknown `kid`), the authorization URL with PKCE, and the code
//! exchange. The ID token itself is checked by `domain::oidc`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use reqwest::Url;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use crate::config::AuthSettings;
use crate::domain::oidc::{
    Expected, IdClaims, IdTokenError, endpoint_ok, form_encode, verify_id_token,
};

/// The one provider configured today.
pub const GOOGLE: &str = "google";

/// How long the discovery document and the JWKS are kept.
const CACHE_TTL: Duration = Duration::from_secs(3600);
/// An unknown `kid` refetches the JWKS, but such refetches happen at most this often (a flood
/// of forged kids must not turn into a flood of requests to the provider).
const MIN_REFETCH: Duration = Duration::from_secs(10);

/// The fields of the provider's `/.well-known/openid-configuration` we use.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// Discovery, JWKS or token endpoint unreachable or answering nonsense.
    #[error("the identity provider could not be used: {0}")]
    Provider(String),
    /// The token endpoint refused the code (`error` of its answer, RFC 6749 §5.2).
    #[error("the identity provider refused the authorization code ({0})")]
    Exchange(String),
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
}

struct Cached<T> {
    at: Instant,
    value: Arc<T>,
}

/// What the token endpoint returned.
#[derive(Debug, Deserialize)]
pub struct TokenAnswer {
    pub id_token: Option<String>,
    pub access_token: Option<String>,
}

/// One OIDC provider: its settings, an HTTP client that never follows redirects (an SSRF
/// guard), and the cached discovery document and JWKS.
pub struct OidcClient {
    pub provider: &'static str,
    pub issuer: String,
    pub client_id: String,
    client_secret: SecretString,
    http: reqwest::Client,
    discovery: Mutex<Option<Cached<Discovery>>>,
    jwks: Mutex<Option<Cached<Vec<Jwk>>>>,
    /// When an unknown `kid` last made us refetch the JWKS.
    last_refetch: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OidcClient({}, {})", self.provider, self.issuer)
    }
}

fn provider_err(what: &str, e: impl std::fmt::Display) -> SsoError {
    SsoError::Provider(format!("{what}: {e}"))
}

impl OidcClient {
    pub fn new(
        provider: &'static str,
        issuer: String,
        client_id: String,
        client_secret: SecretString,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(OidcClient {
            provider,
            issuer,
            client_id,
            client_secret,
            http,
            discovery: Mutex::new(None),
            jwks: Mutex::new(None),
            last_refetch: Mutex::new(None),
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, SsoError> {
        let r = self
            .http
            .get(url)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| provider_err(url, e))?;
        if !r.status().is_success() {
            return Err(provider_err(url, format!("HTTP {}", r.status())));
        }
        r.json::<T>().await.map_err(|e| provider_err(url, e))
    }

    /// The discovery document (cached `CACHE_TTL`); its `issuer` must be the configured one
    /// (OIDC Discovery §4.3) and its endpoints https (or loopback http).
    pub async fn discovery(&self) -> Result<Arc<Discovery>, SsoError> {
        if let Some(c) = lock(&self.discovery).as_ref()
            && c.at.elapsed() < CACHE_TTL
        {
            return Ok(c.value.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let doc: Discovery = self.get_json(&url).await?;
        if doc.issuer != self.issuer {
            return Err(provider_err(
                "discovery",
                format!(
                    "issuer {:?} is not the configured {:?}",
                    doc.issuer, self.issuer
                ),
            ));
        }
        for e in [
            &doc.authorization_endpoint,
            &doc.token_endpoint,
            &doc.jwks_uri,
        ] {
            if !endpoint_ok(e) {
                return Err(provider_err("discovery", format!("endpoint {e:?} refused")));
            }
        }
        let doc = Arc::new(doc);
        *lock(&self.discovery) = Some(Cached {
            at: Instant::now(),
            value: doc.clone(),
        });
        Ok(doc)
    }

    /// The provider's signing keys (cached `CACHE_TTL`; `refetch` asks again unless another
    /// refetch happened within `MIN_REFETCH`). Keys this crate cannot parse are skipped.
    pub async fn keys(&self, refetch: bool) -> Result<Arc<Vec<Jwk>>, SsoError> {
        let cached = lock(&self.jwks)
            .as_ref()
            .map(|c| (c.at.elapsed(), c.value.clone()));
        if let Some((age, keys)) = cached {
            if !refetch && age < CACHE_TTL {
                return Ok(keys);
            }
            if refetch {
                let mut last = lock(&self.last_refetch);
                if last.is_some_and(|t| t.elapsed() < MIN_REFETCH) {
                    return Ok(keys);
                }
                *last = Some(Instant::now());
            }
        }
        let jwks_uri = self.discovery().await?.jwks_uri.clone();
        #[derive(Deserialize)]
        struct Set {
            keys: Vec<serde_json::Value>,
        }
        let set: Set = self.get_json(&jwks_uri).await?;
        let keys: Vec<Jwk> = set
            .keys
            .into_iter()
            .filter_map(|k| serde_json::from_value(k).ok())
            .collect();
        let keys = Arc::new(keys);
        *lock(&self.jwks) = Some(Cached {
            at: Instant::now(),
            value: keys.clone(),
        });
        Ok(keys)
    }

    /// The authorization URL (code flow, `openid email profile`, PKCE S256).
    pub async fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        code_challenge: &str,
    ) -> Result<Url, SsoError> {
        let d = self.discovery().await?;
        let mut url = Url::parse(&d.authorization_endpoint)
            .map_err(|e| provider_err("authorization_endpoint", e))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "openid email profile")
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url)
    }

    /// Exchanges the authorization code at the token endpoint (form POST with the client
    /// credentials in the body, `client_secret_post`, and the PKCE verifier).
    pub async fn exchange(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenAnswer, SsoError> {
        let d = self.discovery().await?;
        let body = form_encode(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", &self.client_id),
            ("client_secret", self.client_secret.expose_secret()),
            ("code_verifier", code_verifier),
        ]);
        let r = self
            .http
            .post(&d.token_endpoint)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| provider_err("token endpoint", e))?;
        let status = r.status();
        if status.is_client_error() {
            #[derive(Deserialize)]
            struct Refusal {
                error: Option<String>,
            }
            let refusal: Option<Refusal> = r.json().await.ok();
            let error = refusal
                .and_then(|r| r.error)
                .filter(|e| e.len() <= 64 && e.bytes().all(|b| b.is_ascii_graphic()))
                .unwrap_or_else(|| format!("HTTP {status}"));
            return Err(SsoError::Exchange(error));
        }
        if !status.is_success() {
            return Err(provider_err("token endpoint", format!("HTTP {status}")));
        }
        r.json()
            .await
            .map_err(|e| provider_err("token endpoint", e))
    }

    /// Verifies `id_token` for this sign-in, refetching the JWKS once when its key is unknown.
    pub async fn verify(
        &self,
        id_token: &str,
        nonce: &str,
        access_token: Option<&str>,
    ) -> Result<IdClaims, SsoError> {
        let expected = Expected {
            issuer: &self.issuer,
            client_id: &self.client_id,
            nonce,
        };
        let keys = self.keys(false).await?;
        match verify_id_token(id_token, &keys, &expected, access_token) {
            Err(IdTokenError::UnknownKey) => {
                let keys = self.keys(true).await?;
                Ok(verify_id_token(id_token, &keys, &expected, access_token)?)
            }
            other => Ok(other?),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A provider asked for by name that is unknown, or known but not configured.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    Unknown,
    Disabled,
}

/// The configured providers (Google only today); cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    google: Option<Arc<OidcClient>>,
}

impl Providers {
    /// Google is on when `AUTH_GOOGLE_CLIENT_ID` is set (config.rs then requires the secret).
    pub fn from_settings(s: &AuthSettings) -> anyhow::Result<Self> {
        let google = match (&s.google_client_id, &s.google_client_secret) {
            (Some(id), Some(secret)) => Some(Arc::new(OidcClient::new(
                GOOGLE,
                s.google_issuer.clone(),
                id.clone(),
                secret.clone(),
            )?)),
            _ => None,
        };
        Ok(Providers { google })
    }

    pub fn get(&self, name: &str) -> Result<&Arc<OidcClient>, Lookup> {
        match name {
            GOOGLE => self.google.as_ref().ok_or(Lookup::Disabled),
            _ => Err(Lookup::Unknown),
        }
    }
}

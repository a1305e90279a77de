//! Access-token verification: only the configured asymmetric algorithms, `iss`, `aud`,
//! `exp`/`nbf` with a small leeway, and the key chosen by `kid` from the auth service's JWKS,
//! fetched over HTTP, cached, and refetched on an unknown `kid` at most every N seconds.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use servicekit::config::JwtSettings;
use tokio::sync::{Mutex, RwLock};

use crate::claims::Claims;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("token is malformed")]
    Malformed,
    #[error("token algorithm is not accepted")]
    Algorithm,
    #[error("token has no key id")]
    NoKid,
    #[error("token was signed by an unknown key")]
    UnknownKid,
    #[error("token signature is invalid")]
    Signature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token issuer is not accepted")]
    Issuer,
    #[error("token audience is not accepted")]
    Audience,
    #[error("token claims are invalid: {0}")]
    Claims(String),
    #[error("session has been revoked")]
    Revoked,
    #[error("token verification is unavailable: {0}")]
    Unavailable(String),
}

impl AuthError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing_token",
            AuthError::Expired => "token_expired",
            AuthError::NotYetValid => "token_not_yet_valid",
            AuthError::Revoked => "session_revoked",
            AuthError::Unavailable(_) => "auth_unavailable",
            AuthError::Malformed
            | AuthError::Algorithm
            | AuthError::NoKid
            | AuthError::UnknownKid
            | AuthError::Signature
            | AuthError::Issuer
            | AuthError::Audience
            | AuthError::Claims(_) => "invalid_token",
        }
    }
}

impl From<AuthError> for servicekit::ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unavailable(why) => {
                servicekit::ApiError::unavailable("auth_unavailable", anyhow_msg(why))
            }
            other => servicekit::ApiError::unauthorized(other.code(), other.to_string()),
        }
    }
}

fn anyhow_msg(why: String) -> std::io::Error {
    std::io::Error::other(why)
}

/// Where a verifier gets its JWKS. Every service but auth fetches it over HTTP; auth reads its
/// own keys (it cannot fetch from itself before it listens, and should not need to).
pub trait JwksSource: Send + Sync {
    fn fetch(&self) -> futures_util::future::BoxFuture<'_, Result<JwkSet, String>>;
}

struct Keys {
    by_kid: HashMap<String, (DecodingKey, Algorithm)>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

pub struct JwtVerifier {
    settings: JwtSettings,
    algorithms: Vec<Algorithm>,
    keys: RwLock<Keys>,
    fetch_lock: Mutex<()>,
    http: reqwest::Client,
    source: Option<std::sync::Arc<dyn JwksSource>>,
    /// Tokens already verified (signature, iss, aud) → their claims, until they expire; emptied
    /// whenever the key set is refetched, so a key that leaves the JWKS takes its tokens with it.
    verified: std::sync::Mutex<HashMap<String, (Claims, String)>>,
}

/// Verified tokens remembered per process; past this the memory is simply cleared.
const MAX_VERIFIED: usize = 10_000;

impl JwtVerifier {
    /// Accepts EdDSA and ES256 (the algorithms the auth service signs with); never HS*, never none.
    pub fn new(settings: JwtSettings) -> Self {
        Self::with_algorithms(settings, vec![Algorithm::EdDSA, Algorithm::ES256])
    }

    pub fn with_algorithms(settings: JwtSettings, algorithms: Vec<Algorithm>) -> Self {
        let algorithms = algorithms
            .into_iter()
            .filter(|a| is_asymmetric(*a))
            .collect();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        Self {
            settings,
            algorithms,
            keys: RwLock::new(Keys {
                by_kid: HashMap::new(),
                fetched_at: None,
                attempted_at: None,
            }),
            fetch_lock: Mutex::new(()),
            http,
            source: None,
            verified: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// A verifier whose keys come from `source` instead of `JWKS_URL`.
    pub fn with_source(settings: JwtSettings, source: std::sync::Arc<dyn JwksSource>) -> Self {
        let mut v = Self::new(settings);
        v.source = Some(source);
        v
    }

    /// Verifies `token` for one of `audiences` and returns its claims.
    pub async fn verify(&self, token: &str, audiences: &[String]) -> Result<Claims, AuthError> {
        let aud_key = audiences.join("\n");
        if let Some(claims) = self.remembered(token, &aud_key) {
            return Ok(claims);
        }
        let claims = self.verify_uncached(token, audiences).await?;
        if let Ok(mut v) = self.verified.lock() {
            if v.len() >= MAX_VERIFIED {
                v.clear();
            }
            v.insert(token.to_string(), (claims.clone(), aud_key));
        }
        Ok(claims)
    }

    /// Forgets every remembered token: the next verification of each runs in full.
    pub fn forget_verified(&self) {
        if let Ok(mut v) = self.verified.lock() {
            v.clear();
        }
    }

    /// A token verified before for the same audiences, still inside its validity window.
    fn remembered(&self, token: &str, aud_key: &str) -> Option<Claims> {
        let v = self.verified.lock().ok()?;
        let (claims, aud) = v.get(token)?;
        let now = chrono_now();
        let leeway = i64::try_from(self.settings.leeway.as_secs()).unwrap_or(i64::MAX);
        let fresh = aud == aud_key
            && claims.exp + leeway > now
            && claims.nbf.is_none_or(|nbf| nbf - leeway <= now);
        fresh.then(|| claims.clone())
    }

    async fn verify_uncached(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Result<Claims, AuthError> {
        let header = decode_header(token).map_err(|_| AuthError::Malformed)?;
        if !self.algorithms.contains(&header.alg) {
            return Err(AuthError::Algorithm);
        }
        let kid = header.kid.ok_or(AuthError::NoKid)?;
        let (key, key_alg) = self.key_for(&kid).await?;
        if key_alg != header.alg {
            return Err(AuthError::Algorithm);
        }
        let mut v = Validation::new(key_alg);
        v.algorithms = vec![key_alg];
        v.leeway = self.settings.leeway.as_secs();
        v.validate_nbf = true;
        v.validate_exp = true;
        v.set_issuer(&[&self.settings.issuer]);
        v.set_audience(audiences);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        decode::<Claims>(token, &key, &v)
            .map(|d| d.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                match e.kind() {
                    K::ExpiredSignature => AuthError::Expired,
                    K::ImmatureSignature => AuthError::NotYetValid,
                    K::InvalidIssuer => AuthError::Issuer,
                    K::InvalidAudience => AuthError::Audience,
                    K::InvalidSignature => AuthError::Signature,
                    K::InvalidAlgorithm => AuthError::Algorithm,
                    K::MissingRequiredClaim(c) => AuthError::Claims(format!("missing {c}")),
                    K::Json(_) | K::InvalidClaimFormat(_) => {
                        AuthError::Claims("unexpected claim shape".into())
                    }
                    _ => AuthError::Malformed,
                }
            })
    }

    async fn key_for(&self, kid: &str) -> Result<(DecodingKey, Algorithm), AuthError> {
        {
            let keys = self.keys.read().await;
            let fresh = keys
                .fetched_at
                .is_some_and(|t| t.elapsed() < self.settings.jwks_max_age);
            if let Some(k) = keys.by_kid.get(kid)
                && fresh
            {
                return Ok(k.clone());
            }
        }
        // Unknown kid or stale set: refetch, at most once per `jwks_min_refetch` across all requests.
        let _guard = self.fetch_lock.lock().await;
        let (may_fetch, stale_known) = {
            let keys = self.keys.read().await;
            let may = keys
                .attempted_at
                .is_none_or(|t| t.elapsed() >= self.settings.jwks_min_refetch);
            (may, keys.by_kid.get(kid).cloned())
        };
        if may_fetch {
            let fetched = self.fetch().await;
            let mut keys = self.keys.write().await;
            keys.attempted_at = Some(Instant::now());
            match fetched {
                Ok(set) => {
                    keys.by_kid = set;
                    keys.fetched_at = Some(Instant::now());
                    if let Ok(mut v) = self.verified.lock() {
                        v.clear();
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "JWKS fetch failed");
                    // A known key keeps working through a JWKS outage; an unknown one cannot.
                    return stale_known.ok_or(AuthError::Unavailable("JWKS unreachable".into()));
                }
            }
        }
        let keys = self.keys.read().await;
        match keys.by_kid.get(kid) {
            Some(k) => Ok(k.clone()),
            None if keys.fetched_at.is_none() => {
                Err(AuthError::Unavailable("JWKS not loaded".into()))
            }
            None => Err(AuthError::UnknownKid),
        }
    }

    async fn fetch_set(&self) -> Result<JwkSet, String> {
        if let Some(source) = &self.source {
            return source.fetch().await;
        }
        let req = servicekit::telemetry::inject_traceparent(self.http.get(&self.settings.jwks_url));
        let resp = req.send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("JWKS answered {}", resp.status()));
        }
        resp.json().await.map_err(|e| e.to_string())
    }

    async fn fetch(&self) -> Result<HashMap<String, (DecodingKey, Algorithm)>, String> {
        let set = self.fetch_set().await?;
        let mut out = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            // The algorithm comes from the key type, never from the token: an EC or Ed25519 key
            // cannot be abused as an HMAC secret (algorithm confusion).
            let alg = match &jwk.algorithm {
                AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P384 => {
                    Algorithm::ES384
                }
                _ => continue,
            };
            if !self.algorithms.contains(&alg) {
                continue;
            }
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                out.insert(kid, (key, alg));
            }
        }
        Ok(out)
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn is_asymmetric(a: Algorithm) -> bool {
    matches!(a, Algorithm::EdDSA | Algorithm::ES256 | Algorithm::ES384)
}

//! Token signing keys: ECDSA P-256 (ES256, what the official Supabase clients accept; ADR 0018),
//! the private half sealed with the service's KeyRing in `auth.signing_keys`. Ed25519 (EdDSA) keys
//! made before ADR 0018 are still read and published until they retire: an instance finding an
//! EdDSA key active rotates to an ES256 one. One key signs; keys retired by `auth keys rotate` stay published in the
//! JWKS until every token they signed has expired. Running instances re-read the table every
//! `reload` so a rotation made by the CLI takes effect everywhere.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::Utc;
use diesel_async::AsyncConnection;
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::JwkSet;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use servicekit::crypto::{KeyRing, Sealed};
use servicekit::db::{PgPool, checkout};
use tokio::sync::RwLock;
use uuid::Uuid;

use crate::store::signing_keys::{self, KeyRow};

const PURPOSE: &str = "auth.signing_key";
/// Published this long beyond the access-token lifetime after retirement (clock skew, caches).
const PUBLISH_MARGIN: Duration = Duration::from_secs(300);

pub struct Signing {
    pub kid: String,
    pub alg: jsonwebtoken::Algorithm,
    pub key: EncodingKey,
}

/// The algorithm new keys use.
pub const ALG: &str = "ES256";

struct Loaded {
    signing: Arc<Signing>,
    jwks: Arc<serde_json::Value>,
    at: Instant,
}

pub struct KeyStore {
    pool: PgPool,
    ring: KeyRing,
    reload: Duration,
    /// How long a key retired at load time stays published (access-token lifetime + margin).
    publish_old: Duration,
    loaded: RwLock<Option<Loaded>>,
}

fn new_row(ring: &KeyRing) -> anyhow::Result<KeyRow> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| anyhow::anyhow!("key generation failed"))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| anyhow::anyhow!("key parse failed"))?;
    let sealed = ring.encrypt(Uuid::nil(), PURPOSE, pkcs8.as_ref())?;
    Ok(KeyRow {
        kid: format!(
            "es-{}",
            Uuid::new_v4()
                .simple()
                .to_string()
                .get(..16)
                .unwrap_or_default()
        ),
        alg: ALG.into(),
        private_key: sealed.ciphertext,
        enc_key_id: sealed.key_id,
        // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
        public_key: pair.public_key().as_ref().to_vec(),
        created_at: Utc::now(),
        retired_at: None,
        publish_until: None,
    })
}

/// The public JWK of a stored key (EC P-256, or OKP Ed25519 for keys made before ADR 0018).
fn public_jwk(r: &KeyRow) -> serde_json::Value {
    if r.alg == ALG {
        let x = r.public_key.get(1..33).unwrap_or_default();
        let y = r.public_key.get(33..65).unwrap_or_default();
        serde_json::json!({"kty": "EC", "crv": "P-256", "alg": r.alg, "use": "sig",
                           "kid": r.kid, "x": B64URL.encode(x), "y": B64URL.encode(y)})
    } else {
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "alg": r.alg, "use": "sig",
                           "kid": r.kid, "x": B64URL.encode(&r.public_key)})
    }
}

/// An active key of the current algorithm exists.
fn has_current(rows: &[KeyRow]) -> bool {
    rows.iter().any(|r| r.retired_at.is_none() && r.alg == ALG)
}

impl KeyStore {
    /// A store that loads (and on first use creates) the keys when first asked.
    pub fn new(pool: PgPool, ring: KeyRing, reload: Duration, access_ttl: Duration) -> Arc<Self> {
        Arc::new(KeyStore {
            pool,
            ring,
            reload,
            publish_old: access_ttl + PUBLISH_MARGIN,
            loaded: RwLock::new(None),
        })
    }

    async fn read(
        pool: &PgPool,
        ring: &KeyRing,
        create: bool,
        publish_old: Duration,
    ) -> anyhow::Result<Loaded> {
        let mut conn = checkout(pool).await?;
        let sealer = ring.clone();
        let until = Utc::now() + chrono::Duration::from_std(publish_old)?;
        let rows: Vec<KeyRow> = conn
            .transaction(async move |c| {
                let mut rows = signing_keys::live(c).await?;
                if create && !has_current(&rows) {
                    signing_keys::lock(c).await?;
                    rows = signing_keys::live(c).await?;
                    if !has_current(&rows) {
                        // An active EdDSA key (made before ADR 0018) retires like a rotation:
                        // published until every token it signed has expired.
                        if rows.iter().any(|r| r.retired_at.is_none()) {
                            signing_keys::retire_current(c, until).await?;
                            rows = signing_keys::live(c).await?;
                        }
                        let row = new_row(&sealer)
                            .map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
                        signing_keys::insert(c, &row).await?;
                        rows.insert(0, row);
                    }
                }
                Ok::<_, diesel::result::Error>(rows)
            })
            .await?;
        let current = rows
            .iter()
            .find(|r| r.retired_at.is_none())
            .ok_or_else(|| anyhow::anyhow!("no active signing key"))?;
        let pkcs8 = ring_decrypt(ring, current)?;
        let (alg, key) = if current.alg == ALG {
            (
                jsonwebtoken::Algorithm::ES256,
                EncodingKey::from_ec_der(&pkcs8),
            )
        } else {
            (
                jsonwebtoken::Algorithm::EdDSA,
                EncodingKey::from_ed_der(&pkcs8),
            )
        };
        let signing = Arc::new(Signing {
            kid: current.kid.clone(),
            alg,
            key,
        });
        let keys: Vec<serde_json::Value> = rows.iter().map(public_jwk).collect();
        Ok(Loaded {
            signing,
            jwks: Arc::new(serde_json::json!({ "keys": keys })),
            at: Instant::now(),
        })
    }

    /// The loaded keys, read again when older than `reload`; a failed re-read keeps the old ones.
    async fn current(&self) -> anyhow::Result<(Arc<Signing>, Arc<serde_json::Value>)> {
        {
            let loaded = self.loaded.read().await;
            if let Some(l) = loaded.as_ref().filter(|l| l.at.elapsed() < self.reload) {
                return Ok((l.signing.clone(), l.jwks.clone()));
            }
        }
        let mut slot = self.loaded.write().await;
        if let Some(l) = slot.as_ref().filter(|l| l.at.elapsed() < self.reload) {
            return Ok((l.signing.clone(), l.jwks.clone()));
        }
        match Self::read(&self.pool, &self.ring, true, self.publish_old).await {
            Ok(next) => {
                let out = (next.signing.clone(), next.jwks.clone());
                *slot = Some(next);
                Ok(out)
            }
            Err(e) => match slot.as_ref() {
                Some(l) => {
                    tracing::warn!(error = %e, "signing keys could not be re-read; keeping the loaded ones");
                    Ok((l.signing.clone(), l.jwks.clone()))
                }
                None => Err(e),
            },
        }
    }

    /// Forgets the loaded keys so the next use reads the table (after a rotation).
    pub async fn invalidate(&self) {
        *self.loaded.write().await = None;
    }

    pub async fn signing(&self) -> anyhow::Result<Arc<Signing>> {
        Ok(self.current().await?.0)
    }

    /// The public JWKS document.
    pub async fn jwks(&self) -> anyhow::Result<Arc<serde_json::Value>> {
        Ok(self.current().await?.1)
    }

    /// Adds a new signing key; the previous one stays published for `access_ttl` + a margin.
    /// Returns the new key id.
    pub async fn rotate(
        pool: &PgPool,
        ring: &KeyRing,
        access_ttl: Duration,
    ) -> anyhow::Result<String> {
        let mut conn = checkout(pool).await?;
        let row = new_row(ring)?;
        let kid = row.kid.clone();
        let until = Utc::now() + chrono::Duration::from_std(access_ttl + PUBLISH_MARGIN)?;
        conn.transaction(async move |c| {
            signing_keys::lock(c).await?;
            signing_keys::retire_current(c, until).await?;
            signing_keys::insert(c, &row).await?;
            Ok::<_, diesel::result::Error>(())
        })
        .await?;
        Ok(kid)
    }
}

fn ring_decrypt(ring: &KeyRing, row: &KeyRow) -> anyhow::Result<Vec<u8>> {
    Ok(ring.decrypt(
        Uuid::nil(),
        PURPOSE,
        &Sealed {
            key_id: row.enc_key_id.clone(),
            ciphertext: row.private_key.clone(),
        },
    )?)
}

/// The verifier inside the auth service reads the same keys (no HTTP round trip to itself).
pub struct LocalJwks(pub Arc<KeyStore>);

impl tenancy::JwksSource for LocalJwks {
    fn fetch(&self) -> futures_util::future::BoxFuture<'_, Result<JwkSet, String>> {
        Box::pin(async move {
            let doc = self.0.jwks().await.map_err(|e| e.to_string())?;
            serde_json::from_value((*doc).clone()).map_err(|e| e.to_string())
        })
    }
}

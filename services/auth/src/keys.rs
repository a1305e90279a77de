//! Token signing keys: Ed25519 (EdDSA), the private half sealed with the service's KeyRing in
//! `auth.signing_keys`. One key signs; keys retired by `auth keys rotate` stay published in the
//! JWKS until every token they signed has expired. Running instances re-read the table every
//! `reload` so a rotation made by the CLI takes effect everywhere.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::JwkSet;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use servicekit::crypto::{KeyRing, Sealed};
use servicekit::db::{PgPool, checkout};
use tokio::sync::RwLock;
use uuid::Uuid;

use crate::store::schema::signing_keys;

const PURPOSE: &str = "auth.signing_key";
/// Published this long beyond the access-token lifetime after retirement (clock skew, caches).
const PUBLISH_MARGIN: Duration = Duration::from_secs(300);

#[derive(Queryable, Selectable, Insertable, Clone)]
#[diesel(table_name = signing_keys)]
struct KeyRow {
    kid: String,
    alg: String,
    private_key: Vec<u8>,
    enc_key_id: String,
    public_key: Vec<u8>,
    created_at: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
    publish_until: Option<DateTime<Utc>>,
}

pub struct Signing {
    pub kid: String,
    pub key: EncodingKey,
}

async fn live(c: &mut diesel_async::AsyncPgConnection) -> QueryResult<Vec<KeyRow>> {
    signing_keys::table
        .filter(
            signing_keys::publish_until
                .is_null()
                .or(signing_keys::publish_until.gt(Utc::now())),
        )
        .order(signing_keys::created_at.desc())
        .select(KeyRow::as_select())
        .load::<KeyRow>(c)
        .await
}

struct Loaded {
    signing: Arc<Signing>,
    jwks: Arc<serde_json::Value>,
    at: Instant,
}

pub struct KeyStore {
    pool: PgPool,
    ring: KeyRing,
    reload: Duration,
    loaded: RwLock<Option<Loaded>>,
}

fn new_row(ring: &KeyRing) -> anyhow::Result<KeyRow> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| anyhow::anyhow!("key generation failed"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| anyhow::anyhow!("key parse failed"))?;
    let sealed = ring.encrypt(Uuid::nil(), PURPOSE, pkcs8.as_ref())?;
    Ok(KeyRow {
        kid: format!("ed-{}", &Uuid::new_v4().simple().to_string()[..16]),
        alg: "EdDSA".into(),
        private_key: sealed.ciphertext,
        enc_key_id: sealed.key_id,
        public_key: pair.public_key().as_ref().to_vec(),
        created_at: Utc::now(),
        retired_at: None,
        publish_until: None,
    })
}

/// Serialises key creation and rotation across instances.
async fn lock(conn: &mut diesel_async::AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(7239101)")
        .execute(conn)
        .await
        .map(|_| ())
}

impl KeyStore {
    /// A store that loads (and on first use creates) the keys when first asked.
    pub fn new(pool: PgPool, ring: KeyRing, reload: Duration) -> Arc<Self> {
        Arc::new(KeyStore {
            pool,
            ring,
            reload,
            loaded: RwLock::new(None),
        })
    }

    async fn read(pool: &PgPool, ring: &KeyRing, create: bool) -> anyhow::Result<Loaded> {
        let mut conn = checkout(pool).await?;
        let sealer = ring.clone();
        let rows: Vec<KeyRow> = conn
            .transaction(async move |c| {
                let mut rows = live(c).await?;
                if create && !rows.iter().any(|r| r.retired_at.is_none()) {
                    lock(c).await?;
                    rows = live(c).await?;
                    if !rows.iter().any(|r| r.retired_at.is_none()) {
                        let row = new_row(&sealer)
                            .map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
                        diesel::insert_into(signing_keys::table)
                            .values(&row)
                            .execute(c)
                            .await?;
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
        let signing = Arc::new(Signing {
            kid: current.kid.clone(),
            key: EncodingKey::from_ed_der(&pkcs8),
        });
        let keys: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "alg": r.alg, "use": "sig",
                                   "kid": r.kid, "x": B64URL.encode(&r.public_key)})
            })
            .collect();
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
        match Self::read(&self.pool, &self.ring, true).await {
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
            lock(c).await?;
            diesel::update(signing_keys::table.filter(signing_keys::retired_at.is_null()))
                .set((
                    signing_keys::retired_at.eq(Utc::now()),
                    signing_keys::publish_until.eq(until),
                ))
                .execute(c)
                .await?;
            diesel::insert_into(signing_keys::table)
                .values(&row)
                .execute(c)
                .await?;
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

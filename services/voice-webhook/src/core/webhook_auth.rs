//! Authenticating a Vapi webhook before its body is read: the shared secret or the HMAC
//! signature (with a Redis mark per signature so a captured request cannot be replayed inside
//! the tolerance window). A signature is claimed while its delivery is processed and marked
//! processed after; a delivery whose processing failed with a server error releases its claim,
//! so Vapi's retry of it is accepted. A refusal is counted and logged without the body.

use secrecy::ExposeSecret;
use tenancy::OrgId;

use crate::config::WebhookAuth;
use crate::domain::sealing;
use crate::domain::signature::{self, HmacRefusal};
use crate::state::VoiceState;
use crate::store::error::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WebhookAuthError {
    /// Not from Vapi (or replayed); the reason is in the metric and the log line.
    #[error("the webhook is not authenticated")]
    Refused,
    /// The same signed delivery is being processed right now (a concurrent duplicate).
    #[error("this signed delivery is being processed")]
    InFlight,
    #[error("redis unavailable: {0}")]
    RedisUnavailable(#[source] anyhow::Error),
    #[error("the org's webhook secret cannot be opened: {0}")]
    Sealing(#[source] anyhow::Error),
    #[error(transparent)]
    Store(StoreError),
}

crate::store::error::store_error_from!(WebhookAuthError);

fn refuse(reason: &'static str) -> WebhookAuthError {
    metrics::counter!("voice_webhook_auth_failures_total", "reason" => reason).increment(1);
    tracing::warn!(reason, "vapi webhook refused");
    WebhookAuthError::Refused
}

/// The secrets a request may be signed with: the org's own (current and, during a rotation,
/// previous) when the URL names an org that has them, the global ones otherwise.
pub async fn secrets_for(
    st: &VoiceState,
    org: Option<OrgId>,
) -> Result<Vec<Vec<u8>>, WebhookAuthError> {
    if let Some(org) = org {
        let found = st
            .db
            .tenant_tx(org, |tx| {
                Box::pin(async move {
                    crate::store::secrets::find(tx, org)
                        .await
                        .map_err(WebhookAuthError::from)
                })
            })
            .await?;
        if let Some(s) = found {
            let open = |sealed: &servicekit::crypto::Sealed| {
                st.keys
                    .decrypt(org.as_uuid(), sealing::WEBHOOK_SECRET, sealed)
                    .map_err(|e| WebhookAuthError::Sealing(e.into()))
            };
            let mut out = vec![open(&s.current)?];
            if let Some((prev, until)) = &s.previous
                && *until > chrono::Utc::now()
            {
                out.push(open(prev)?);
            }
            return Ok(out);
        }
    }
    Ok(st
        .settings
        .webhook_secrets
        .iter()
        .map(|k| k.expose_secret().as_bytes().to_vec())
        .collect())
}

/// Checks the request's credentials (`header` reads a request header by name) against
/// `secrets`, as `WEBHOOK_AUTH` says: the shared secret or the HMAC signature. A signed request
/// returns its claim on the signature, to [`settle`] once it is answered.
pub async fn authenticate(
    st: &VoiceState,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    secrets: &[Vec<u8>],
) -> Result<Option<SignatureClaim>, WebhookAuthError> {
    let s = &st.settings;
    if secrets.is_empty() {
        return Err(refuse("not_configured"));
    }
    match s.webhook_auth {
        WebhookAuth::Secret => {
            let value = header(&s.secret_header);
            let presented = value
                .as_deref()
                .and_then(|v| signature::presented_secret(&s.secret_header, v))
                .ok_or_else(|| refuse("missing_secret"))?;
            // Every configured secret is compared, so timing does not tell which one matched.
            let ok = secrets.iter().fold(false, |ok, k| {
                signature::secret_matches(presented.as_bytes(), k) | ok
            });
            if ok {
                Ok(None)
            } else {
                Err(refuse("wrong_secret"))
            }
        }
        WebhookAuth::Hmac => {
            let secrets: Vec<&[u8]> = secrets.iter().map(Vec::as_slice).collect();
            let sig = header("x-signature");
            let timestamp = header("x-timestamp");
            let now = chrono::Utc::now().timestamp();
            let tolerance = i64::try_from(s.timestamp_tolerance.as_secs()).unwrap_or(300);
            signature::verify_hmac(
                &secrets,
                timestamp.as_deref(),
                sig.as_deref(),
                body,
                now,
                tolerance,
            )
            .map_err(|r| {
                refuse(match r {
                    HmacRefusal::Missing => "missing_signature",
                    HmacRefusal::BadTimestamp => "bad_timestamp",
                    HmacRefusal::Stale => "stale_timestamp",
                    HmacRefusal::BadSignature => "bad_signature",
                })
            })?;
            // A valid signature is processed once: claim it now, mark it processed (for twice
            // the window) once answered, release it when processing fails (`settle`).
            let sig = sig.unwrap_or_default().trim().to_ascii_lowercase();
            let key = format!("{}voice:vapi-sig:{sig}", st.redis_prefix);
            let mut conn = st
                .redis
                .get()
                .await
                .map_err(|e| WebhookAuthError::RedisUnavailable(e.into()))?;
            let claimed: bool = deadpool_redis::redis::cmd("SET")
                .arg(&key)
                .arg(PENDING)
                .arg("NX")
                .arg("EX")
                .arg(PENDING_SECS)
                .query_async::<Option<String>>(&mut *conn)
                .await
                .map(|r| r.is_some())
                .map_err(|e| WebhookAuthError::RedisUnavailable(e.into()))?;
            if claimed {
                return Ok(Some(SignatureClaim {
                    key,
                    keep_secs: tolerance.max(1) * 2 + 60,
                }));
            }
            let mark: Option<String> = deadpool_redis::redis::cmd("GET")
                .arg(&key)
                .query_async(&mut *conn)
                .await
                .map_err(|e| WebhookAuthError::RedisUnavailable(e.into()))?;
            if mark.as_deref() == Some(PENDING) {
                metrics::counter!("voice_webhook_auth_failures_total", "reason" => "in_flight")
                    .increment(1);
                Err(WebhookAuthError::InFlight)
            } else {
                Err(refuse("replayed_signature"))
            }
        }
    }
}

/// The mark of a signature whose delivery is being processed.
const PENDING: &str = "pending";
/// How long a claim outlives a process that died while processing (then a retry is accepted).
const PENDING_SECS: i64 = 60;

/// A signed delivery's claim on its signature, held while it is processed.
#[derive(Debug)]
#[must_use = "settle the claim once the delivery is answered"]
pub struct SignatureClaim {
    key: String,
    keep_secs: i64,
}

/// Ends a claim: `processed` marks the signature used (a replay is refused from now on); not
/// processed (the delivery failed with a server error) releases it, so Vapi's retry of the
/// same signed delivery is accepted. A Redis failure here is logged: the claim then expires.
pub async fn settle(st: &VoiceState, claim: SignatureClaim, processed: bool) {
    let done = async {
        let mut conn = st.redis.get().await.map_err(anyhow::Error::from)?;
        if processed {
            deadpool_redis::redis::cmd("SET")
                .arg(&claim.key)
                .arg("done")
                .arg("EX")
                .arg(claim.keep_secs)
                .query_async::<()>(&mut *conn)
                .await?;
        } else {
            deadpool_redis::redis::cmd("DEL")
                .arg(&claim.key)
                .query_async::<()>(&mut *conn)
                .await?;
        }
        Ok::<_, anyhow::Error>(())
    };
    if let Err(e) = done.await {
        tracing::warn!(error = %e, processed, "settling a webhook signature claim failed");
    }
}

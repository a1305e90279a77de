//! Authenticating a Vapi webhook before its body is read: the shared secret or the HMAC
//! signature (with a Redis mark per signature so a captured request cannot be replayed inside
//! the tolerance window). A refusal is a 401, counted, logged without the body.

use actix_web::HttpRequest;
use secrecy::ExposeSecret;
use servicekit::ApiError;
use tenancy::OrgId;

use crate::config::WebhookAuth;
use crate::domain::signature::{self, HmacRefusal};
use crate::state::VoiceState;

fn refuse(reason: &'static str) -> ApiError {
    metrics::counter!("voice_webhook_auth_failures_total", "reason" => reason).increment(1);
    tracing::warn!(reason, "vapi webhook refused");
    ApiError::unauthorized(
        "invalid_webhook_credentials",
        "the webhook is not authenticated",
    )
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The secrets a request may be signed with: the org's own (current and, during a rotation,
/// previous) when the URL names an org that has them, the global ones otherwise.
pub async fn secrets_for(st: &VoiceState, org: Option<OrgId>) -> Result<Vec<Vec<u8>>, ApiError> {
    if let Some(org) = org {
        let found = st
            .db
            .tenant_tx(org, |tx| {
                Box::pin(async move {
                    crate::store::secrets::find(tx, org)
                        .await
                        .map_err(ApiError::from)
                })
            })
            .await?;
        if let Some(s) = found {
            let open = |sealed: &servicekit::crypto::Sealed| {
                st.keys
                    .decrypt(org.as_uuid(), SECRET_PURPOSE, sealed)
                    .map_err(ApiError::internal)
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

pub const SECRET_PURPOSE: &str = "voice.webhook_secret";

pub async fn authenticate(
    st: &VoiceState,
    req: &HttpRequest,
    body: &[u8],
    secrets: &[Vec<u8>],
) -> Result<(), ApiError> {
    let s = &st.settings;
    if secrets.is_empty() {
        return Err(refuse("not_configured"));
    }
    match s.webhook_auth {
        WebhookAuth::Secret => {
            let presented = header(req, &s.secret_header)
                .and_then(|v| signature::presented_secret(&s.secret_header, v))
                .ok_or_else(|| refuse("missing_secret"))?;
            // Every configured secret is compared, so timing does not tell which one matched.
            let ok = secrets.iter().fold(false, |ok, k| {
                signature::secret_matches(presented.as_bytes(), k) | ok
            });
            if ok {
                Ok(())
            } else {
                Err(refuse("wrong_secret"))
            }
        }
        WebhookAuth::Hmac => {
            let secrets: Vec<&[u8]> = secrets.iter().map(Vec::as_slice).collect();
            let sig = header(req, "x-signature");
            let now = chrono::Utc::now().timestamp();
            let tolerance = i64::try_from(s.timestamp_tolerance.as_secs()).unwrap_or(300);
            signature::verify_hmac(
                &secrets,
                header(req, "x-timestamp"),
                sig,
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
            // A valid signature is good once: remember it for twice the window.
            let sig = sig.unwrap_or_default().trim().to_ascii_lowercase();
            let key = format!("{}voice:vapi-sig:{sig}", st.redis_prefix);
            let mut conn = st
                .redis
                .get()
                .await
                .map_err(|e| ApiError::unavailable("redis_unavailable", e))?;
            let first: bool = deadpool_redis::redis::cmd("SET")
                .arg(&key)
                .arg(1u8)
                .arg("NX")
                .arg("EX")
                .arg(tolerance.max(1) * 2 + 60)
                .query_async::<Option<String>>(&mut *conn)
                .await
                .map(|r| r.is_some())
                .map_err(|e| ApiError::unavailable("redis_unavailable", e))?;
            if first {
                Ok(())
            } else {
                Err(refuse("replayed_signature"))
            }
        }
    }
}

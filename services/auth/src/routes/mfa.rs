//! TOTP MFA: enroll, challenge, verify (activates the factor, then raises the session to aal2),
//! unenroll; recovery codes shown once and usable instead of a code.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use servicekit::crypto::Sealed;
use servicekit::{ApiError, Json};
use tenancy::claims::Aal;
use tenancy::{Aal1Tenant, OrgId};
use uuid::Uuid;

use crate::domain::totp;
use crate::limits::Limit;
use crate::routes::origin;
use crate::state::AppState;
use crate::store::audit::{self, Origin};
use crate::store::mfa::{self, Challenge, Factor};
use crate::store::sessions::{self, Which};

const PURPOSE: &str = "auth.totp_secret";
const MAX_FACTORS: usize = 10;
const RECOVERY_CODES: usize = 10;
const CHALLENGE_TTL_SECS: i64 = 300;

fn aal2_required() -> ApiError {
    ApiError::forbidden(
        "aal2_required",
        "verify a factor first (this needs an aal2 session)",
    )
}

fn recovery_hash(code: &str) -> Vec<u8> {
    let normalized: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    ring::digest::digest(&ring::digest::SHA256, normalized.as_bytes())
        .as_ref()
        .to_vec()
}

fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..RECOVERY_CODES)
        .map(|_| {
            let bytes: [u8; 10] = rand::random();
            let s: String = bytes
                .iter()
                .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
                .collect();
            format!("{}-{}", &s[..5], &s[5..])
        })
        .collect()
}

fn qr_svg(uri: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(ApiError::internal)?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build())
}

async fn audit_in(
    st: &AppState,
    org: OrgId,
    user: Uuid,
    action: &'static str,
    target: Uuid,
    meta: serde_json::Value,
    origin: &Origin,
) -> Result<(), ApiError> {
    let origin = origin.clone();
    st.db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                audit::record(
                    c,
                    org.0,
                    Some(user),
                    action,
                    Some(target.to_string()),
                    meta,
                    &origin,
                )
                .await?;
                Ok::<_, ApiError>(())
            })
        })
        .await
}

fn view(f: &Factor) -> serde_json::Value {
    json!({"id": f.id, "type": "totp", "friendly_name": f.friendly_name, "status": f.status,
           "created_at": f.created_at, "verified_at": f.verified_at})
}

#[utoipa::path(get, path = "/api/auth/factors", responses((status = 200)))]
#[get("/api/auth/factors")]
pub async fn list(st: web::Data<AppState>, t: Aal1Tenant) -> Result<HttpResponse, ApiError> {
    let uid = t.0.user_id().0;
    let (factors, codes) = st
        .db
        .system_tx(|c| {
            Box::pin(async move {
                Ok::<_, ApiError>((
                    mfa::factors_of(c, uid).await?,
                    mfa::unused_recovery_codes(c, uid).await?,
                ))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({"items": factors.iter().map(view).collect::<Vec<_>>(), "recovery_codes_left": codes})))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Enroll {
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// Only `totp`.
    #[serde(default)]
    pub factor_type: Option<String>,
}

#[utoipa::path(post, path = "/api/auth/factors", request_body = Enroll, responses((status = 201), (status = 403)))]
#[post("/api/auth/factors")]
pub async fn enroll(
    st: web::Data<AppState>,
    req: HttpRequest,
    t: Aal1Tenant,
    body: Json<Enroll>,
) -> Result<HttpResponse, ApiError> {
    let t = t.0;
    let body = body.into_inner();
    if body.factor_type.as_deref().is_some_and(|f| f != "totp") {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("factor_type"),
            "only totp factors are supported",
        ));
    }
    let name = body
        .friendly_name
        .map(|n| n.trim().chars().take(100).collect::<String>());
    let uid = t.user_id().0;
    let email = t.claims().email.clone().unwrap_or_default();
    let secret: [u8; totp::SECRET_LEN] = rand::random();
    let sealed = st
        .ring
        .encrypt(uid, PURPOSE, &secret)
        .map_err(ApiError::internal)?;
    let factor = Factor {
        id: Uuid::new_v4(),
        user_id: uid,
        friendly_name: name,
        secret: sealed.ciphertext,
        secret_key_id: sealed.key_id,
        status: "unverified".into(),
        last_used_step: None,
        created_at: Utc::now(),
        verified_at: None,
    };
    let aal = t.aal();
    let f2 = factor.clone();
    st.db
        .system_tx(|c| {
            Box::pin(async move {
                let existing = mfa::factors_of(c, uid).await?;
                if existing.iter().any(|f| f.status == "verified") && aal != Aal::Aal2 {
                    return Err(aal2_required());
                }
                if existing.len() >= MAX_FACTORS {
                    return Err(ApiError::Conflict {
                        code: "too_many_factors",
                        detail: format!("at most {MAX_FACTORS} factors"),
                        extra: None,
                    });
                }
                mfa::insert_factor(c, &f2).await?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    audit_in(
        &st,
        t.org_id(),
        uid,
        "mfa.enrolled",
        factor.id,
        json!({}),
        &origin(&req, st.settings.trust_forwarded_for),
    )
    .await?;
    let uri = totp::uri("Voxanne", &email, &secret);
    let mut body = view(&factor);
    body["totp"] = json!({"secret": totp::base32(&secret), "uri": uri, "qr_code": qr_svg(&uri)?});
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(body))
}

#[utoipa::path(post, path = "/api/auth/factors/{id}/challenge", responses((status = 201), (status = 404)))]
#[post("/api/auth/factors/{id}/challenge")]
pub async fn challenge(
    st: web::Data<AppState>,
    t: Aal1Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let t = t.0;
    let (uid, sid, fid) = (t.user_id().0, t.session_id().0, id.into_inner());
    let ch = Challenge {
        id: Uuid::new_v4(),
        factor_id: fid,
        session_id: sid,
        created_at: Utc::now(),
        expires_at: Utc::now() + chrono::Duration::seconds(CHALLENGE_TTL_SECS),
        verified_at: None,
    };
    let ch2 = ch.clone();
    st.db
        .system_tx(|c| {
            Box::pin(async move {
                mfa::factor(c, uid, fid)
                    .await?
                    .ok_or_else(|| ApiError::not_found("factor"))?;
                mfa::insert_challenge(c, &ch2).await?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(json!({"id": ch.id, "expires_at": ch.expires_at})))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    pub challenge_id: Uuid,
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}

enum Verified {
    Ok {
        first: bool,
        method: &'static str,
        revoked: Vec<Uuid>,
    },
    Failed(&'static str),
}

#[utoipa::path(post, path = "/api/auth/factors/{id}/verify", request_body = Verify, responses((status = 200), (status = 401), (status = 429)))]
#[post("/api/auth/factors/{id}/verify")]
pub async fn verify(
    st: web::Data<AppState>,
    req: HttpRequest,
    t: Aal1Tenant,
    id: web::Path<Uuid>,
    body: Json<Verify>,
) -> Result<HttpResponse, ApiError> {
    let t = t.0;
    let body = body.into_inner();
    let (uid, sid, fid, org) = (t.user_id().0, t.session_id().0, id.into_inner(), t.org_id());
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let fid_s = fid.to_string();
    let limit = Limit {
        scope: "mfa_verify",
        subject: &fid_s,
        max: 5,
        window: std::time::Duration::from_secs(300),
    };
    if let Some(retry) = st.limit_reached(&limit).await? {
        audit_in(&st, org, uid, "mfa.rate_limited", fid, json!({}), &origin).await?;
        return Err(ApiError::TooManyRequests {
            retry_after_secs: retry,
        });
    }
    let (code, recovery) = match (body.code, body.recovery_code) {
        (Some(c), None) => (Some(c), None),
        (None, Some(r)) => (None, Some(r)),
        _ => {
            return Err(ApiError::invalid(
                "invalid_field",
                Some("code"),
                "send exactly one of code and recovery_code",
            ));
        }
    };
    let st2 = st.clone();
    let challenge_id = body.challenge_id;
    let outcome = st
        .db
        .system_tx(|c| {
            Box::pin(async move {
                let factor = mfa::factor(c, uid, fid)
                    .await?
                    .ok_or_else(|| ApiError::not_found("factor"))?;
                if !mfa::consume_challenge(c, challenge_id, fid, sid).await? {
                    return Err(ApiError::invalid(
                        "invalid_challenge",
                        Some("challenge_id"),
                        "the challenge is unknown, expired or already used",
                    ));
                }
                let first = factor.status != "verified";
                let method = if let Some(code) = code {
                    let secret = st2
                        .ring
                        .decrypt(
                            uid,
                            PURPOSE,
                            &Sealed {
                                key_id: factor.secret_key_id.clone(),
                                ciphertext: factor.secret.clone(),
                            },
                        )
                        .map_err(ApiError::internal)?;
                    let now = Utc::now().timestamp().max(0) as u64;
                    let Some(step) = totp::matching_step(&secret, &code, now) else {
                        return Ok(Verified::Failed("mfa.verify_failed"));
                    };
                    if mfa::advance_step(c, fid, step as i64).await? == 0 {
                        return Ok(Verified::Failed("mfa.code_replayed"));
                    }
                    "totp"
                } else {
                    if first {
                        return Err(ApiError::invalid(
                            "invalid_field",
                            Some("recovery_code"),
                            "a new factor is verified with a code",
                        ));
                    }
                    let code = recovery.unwrap_or_default();
                    if !mfa::use_recovery_code(c, uid, &recovery_hash(&code)).await? {
                        return Ok(Verified::Failed("mfa.recovery_code_failed"));
                    }
                    "mfa/recovery_code"
                };
                let mut revoked = Vec::new();
                if first {
                    mfa::mark_verified(c, fid).await?;
                    // The first factor ends every other (aal1) session of the user.
                    revoked = sessions::revoke(c, uid, Which::AllBut(sid), "mfa_enrolled").await?;
                }
                Ok::<_, ApiError>(Verified::Ok {
                    first,
                    method,
                    revoked,
                })
            })
        })
        .await?;
    let (first, method, revoked) = match outcome {
        Verified::Failed(action) => {
            st.limit_hit(&limit).await?;
            metrics::counter!("auth_mfa_failures_total").increment(1);
            audit_in(&st, org, uid, action, fid, json!({}), &origin).await?;
            return Err(ApiError::unauthorized(
                "invalid_mfa_code",
                "the code is wrong, expired or already used",
            ));
        }
        Verified::Ok {
            first,
            method,
            revoked,
        } => (first, method, revoked),
    };
    st.publish_revocations(&revoked).await?;
    let session = st
        .db
        .system_tx(|c| {
            Box::pin(
                async move { Ok::<_, ApiError>(sessions::raise_to_aal2(c, sid, method).await?) },
            )
        })
        .await?;
    let mut recovery_codes = None;
    if first && method == "totp" {
        let codes = new_recovery_codes();
        let hashes: Vec<Vec<u8>> = codes.iter().map(|c| recovery_hash(c)).collect();
        st.db
            .system_tx(|c| {
                Box::pin(async move {
                    Ok::<_, ApiError>(mfa::replace_recovery_codes(c, uid, &hashes).await?)
                })
            })
            .await?;
        recovery_codes = Some(codes);
    }
    let action = match (first, method) {
        (_, "mfa/recovery_code") => "mfa.recovery_code_used",
        (true, _) => "mfa.factor_activated",
        _ => "mfa.verified",
    };
    audit_in(
        &st,
        org,
        uid,
        action,
        fid,
        json!({"method": method}),
        &origin,
    )
    .await?;
    st.limit_reset(&limit).await?;
    let pair = st.session_pair(&session).await?;
    let mut body = serde_json::to_value(&pair).map_err(ApiError::internal)?;
    if let Some(codes) = recovery_codes {
        body["recovery_codes"] = json!(codes);
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body))
}

#[utoipa::path(delete, path = "/api/auth/factors/{id}", responses((status = 204), (status = 403), (status = 404)))]
#[delete("/api/auth/factors/{id}")]
pub async fn remove(
    st: web::Data<AppState>,
    req: HttpRequest,
    t: Aal1Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let t = t.0;
    let (uid, fid) = (t.user_id().0, id.into_inner());
    let aal = t.aal();
    st.db
        .system_tx(|c| {
            Box::pin(async move {
                let factor = mfa::factor(c, uid, fid)
                    .await?
                    .ok_or_else(|| ApiError::not_found("factor"))?;
                if factor.status == "verified" && aal != Aal::Aal2 {
                    return Err(aal2_required());
                }
                mfa::delete_factor(c, uid, fid).await?;
                if !mfa::factors_of(c, uid)
                    .await?
                    .iter()
                    .any(|f| f.status == "verified")
                {
                    mfa::delete_recovery_codes(c, uid).await?;
                }
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    audit_in(
        &st,
        t.org_id(),
        uid,
        "mfa.removed",
        fid,
        json!({}),
        &origin(&req, st.settings.trust_forwarded_for),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

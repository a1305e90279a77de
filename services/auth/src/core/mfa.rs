//! TOTP MFA: enroll, challenge, verify (activates the factor, then raises the session to aal2),
//! unenroll; recovery codes shown once and usable instead of a code. Failures are limited per
//! factor and audited.

use chrono::{DateTime, Utc};
use serde_json::json;
use servicekit::crypto::Sealed;
use tenancy::claims::Aal;
use tenancy::{OrgId, UserId};
use uuid::Uuid;

use crate::core::audit::record_in;
use crate::core::infra::{Infra, infra_from};
use crate::core::limits::Limit;
use crate::domain::tokens::TokenResponse;
use crate::domain::{secret, totp};
use crate::state::AppState;
use crate::store::audit::Origin;
use crate::store::mfa::{self, Challenge, Factor};
use crate::store::sessions::{self, Which};
use crate::store::status::FactorStatus;

const PURPOSE: &str = "auth.totp_secret";
pub const MAX_FACTORS: usize = 10;
const CHALLENGE_TTL_SECS: i64 = 300;
/// Challenges a user may open per 5 minutes (each is a row; verifying is limited separately).
const CHALLENGES_PER_WINDOW: u32 = 20;

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error("verify a factor first (this needs an aal2 session)")]
    Aal2Required,
    #[error("at most {MAX_FACTORS} factors")]
    TooManyFactors,
    #[error("factor not found")]
    FactorNotFound,
    #[error("too many requests")]
    RateLimited { retry_after: u64 },
    /// Both or neither of `code` and `recovery_code`.
    #[error("send exactly one of code and recovery_code")]
    CodeOrRecoveryCode,
    #[error("the challenge is unknown, expired or already used")]
    InvalidChallenge,
    #[error("a new factor is verified with a code")]
    RecoveryCodeForNewFactor,
    #[error("the code is wrong, expired or already used")]
    InvalidCode,
    #[error("recovery codes come with a verified factor; verify one first")]
    NoVerifiedFactor,
    #[error(transparent)]
    Infra(#[from] Infra),
}
infra_from!(MfaError);

/// Who asks: the user, their session and its assurance level, the org audits go to.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub user: UserId,
    pub session: Uuid,
    pub aal: Aal,
    pub org: OrgId,
}

pub async fn list(st: &AppState, user: UserId) -> Result<(Vec<Factor>, i64), Infra> {
    st.db
        .system_tx(|c| {
            Box::pin(async move {
                Ok::<_, Infra>((
                    mfa::factors_of(c, user).await?,
                    mfa::unused_recovery_codes(c, user).await?,
                ))
            })
        })
        .await
}

/// A new, unverified TOTP factor and what the authenticator app needs.
#[derive(Debug)]
pub struct Enrolled {
    pub factor: Factor,
    pub secret: String,
    pub uri: String,
    pub qr_code: String,
}

/// Enrolls a TOTP factor (with a verified factor already, only from an aal2 session).
pub async fn enroll(
    st: &AppState,
    who: Caller,
    email: &str,
    friendly_name: Option<String>,
    origin: &Origin,
) -> Result<Enrolled, MfaError> {
    let name = friendly_name.map(|n| n.trim().chars().take(100).collect::<String>());
    let uid = who.user;
    let secret: [u8; totp::SECRET_LEN] = rand::random();
    let sealed = st
        .ring
        .encrypt(uid.0, PURPOSE, &secret)
        .map_err(Infra::internal)?;
    let factor = Factor {
        id: Uuid::new_v4(),
        user_id: uid,
        friendly_name: name,
        secret: sealed.ciphertext,
        secret_key_id: sealed.key_id,
        status: FactorStatus::Unverified,
        last_used_step: None,
        created_at: Utc::now(),
        verified_at: None,
    };
    let f2 = factor.clone();
    st.db
        .system_tx(|c| {
            Box::pin(async move {
                let existing = mfa::factors_of(c, uid).await?;
                if existing.iter().any(|f| f.status == FactorStatus::Verified)
                    && who.aal != Aal::Aal2
                {
                    return Err(MfaError::Aal2Required);
                }
                if existing.len() >= MAX_FACTORS {
                    return Err(MfaError::TooManyFactors);
                }
                mfa::insert_factor(c, &f2).await?;
                Ok::<_, MfaError>(())
            })
        })
        .await?;
    record_in(
        st,
        who.org,
        uid,
        "mfa.enrolled",
        factor.id.to_string(),
        json!({}),
        origin,
    )
    .await?;
    let uri = totp::uri("Voxanne", email, &secret);
    let qr_code = totp::qr_svg(&uri).map_err(Infra::internal)?;
    Ok(Enrolled {
        factor,
        secret: totp::base32(&secret),
        uri,
        qr_code,
    })
}

/// Opens a challenge of the user's factor in this session.
pub async fn challenge(
    st: &AppState,
    who: Caller,
    factor: Uuid,
) -> Result<(Uuid, DateTime<Utc>), MfaError> {
    let uid = who.user;
    let subject = uid.to_string();
    let limit = Limit {
        scope: "mfa_challenge",
        subject: &subject,
        max: CHALLENGES_PER_WINDOW,
        window: std::time::Duration::from_secs(300),
    };
    if let Some(retry_after) = st.limit_take(&limit).await?.refused {
        return Err(MfaError::RateLimited { retry_after });
    }
    let ch = Challenge {
        id: Uuid::new_v4(),
        factor_id: factor,
        session_id: who.session,
        created_at: Utc::now(),
        expires_at: Utc::now() + chrono::Duration::seconds(CHALLENGE_TTL_SECS),
        verified_at: None,
    };
    let ch2 = ch.clone();
    st.db
        .system_tx(|c| {
            Box::pin(async move {
                mfa::factor(c, uid, factor)
                    .await?
                    .ok_or(MfaError::FactorNotFound)?;
                mfa::insert_challenge(c, &ch2).await?;
                Ok::<_, MfaError>(())
            })
        })
        .await?;
    Ok((ch.id, ch.expires_at))
}

/// What the factor is verified with.
#[derive(Debug)]
pub struct Proof {
    pub challenge_id: Uuid,
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}

/// A verified factor: the session's new tokens, and the recovery codes when the first factor
/// was just activated (shown once).
#[derive(Debug)]
pub struct Verified {
    pub tokens: TokenResponse,
    pub recovery_codes: Option<Vec<String>>,
}

enum Outcome {
    Ok {
        first: bool,
        method: &'static str,
        revoked: Vec<Uuid>,
    },
    Failed(&'static str),
}

const TOTP: &str = "totp";
const RECOVERY_CODE: &str = "mfa/recovery_code";

/// Verifies a challenge of the factor with a code (or a recovery code): the first time it
/// activates the factor and ends the user's other sessions; the session becomes aal2.
pub async fn verify(
    st: &AppState,
    who: Caller,
    fid: Uuid,
    proof: Proof,
    origin: &Origin,
) -> Result<Verified, MfaError> {
    let (uid, sid, org) = (who.user, who.session, who.org);
    let fid_s = fid.to_string();
    let limit = Limit {
        scope: "mfa_verify",
        subject: &fid_s,
        max: 5,
        window: std::time::Duration::from_secs(300),
    };
    let (code, recovery) = match (proof.code, proof.recovery_code) {
        (Some(c), None) => (Some(c), None),
        (None, Some(r)) => (None, Some(r)),
        _ => return Err(MfaError::CodeOrRecoveryCode),
    };
    // Counted before the code is checked (atomically), so parallel guesses cannot exceed the
    // limit; a success resets the count.
    let taken = st.limit_take(&limit).await?;
    if let Some(retry_after) = taken.refused {
        if taken.first_refusal {
            record_in(
                st,
                org,
                uid,
                "mfa.rate_limited",
                fid_s.clone(),
                json!({}),
                origin,
            )
            .await?;
        }
        return Err(MfaError::RateLimited { retry_after });
    }
    // A recovery code is hashed (argon2id with the user's salt) before the transaction.
    let recovery_candidates = match &recovery {
        Some(code) => recovery_candidates(st, uid, code).await?,
        None => Vec::new(),
    };
    let st2 = st.clone();
    let challenge_id = proof.challenge_id;
    let outcome = st
        .db
        .system_tx(|c| {
            Box::pin(async move {
                let factor = mfa::factor(c, uid, fid)
                    .await?
                    .ok_or(MfaError::FactorNotFound)?;
                if !mfa::consume_challenge(c, challenge_id, fid, sid).await? {
                    return Err(MfaError::InvalidChallenge);
                }
                let first = factor.status != FactorStatus::Verified;
                let method = if let Some(code) = code {
                    let secret = st2
                        .ring
                        .decrypt(
                            uid.0,
                            PURPOSE,
                            &Sealed {
                                key_id: factor.secret_key_id.clone(),
                                ciphertext: factor.secret.clone(),
                            },
                        )
                        .map_err(Infra::internal)?;
                    let now = u64::try_from(Utc::now().timestamp()).unwrap_or(0);
                    let Some(step) = totp::matching_step(&secret, &code, now) else {
                        return Ok(Outcome::Failed("mfa.verify_failed"));
                    };
                    let step = i64::try_from(step).map_err(Infra::internal)?;
                    if mfa::advance_step(c, fid, step).await? == 0 {
                        return Ok(Outcome::Failed("mfa.code_replayed"));
                    }
                    TOTP
                } else {
                    if first {
                        return Err(MfaError::RecoveryCodeForNewFactor);
                    }
                    let mut used = false;
                    for hash in &recovery_candidates {
                        if mfa::use_recovery_code(c, uid, hash).await? {
                            used = true;
                            break;
                        }
                    }
                    if !used {
                        return Ok(Outcome::Failed("mfa.recovery_code_failed"));
                    }
                    RECOVERY_CODE
                };
                let mut revoked = Vec::new();
                if first {
                    mfa::mark_verified(c, fid).await?;
                    // The first factor ends every other (aal1) session of the user.
                    revoked = sessions::revoke(c, uid, Which::AllBut(sid), "mfa_enrolled").await?;
                }
                Ok::<_, MfaError>(Outcome::Ok {
                    first,
                    method,
                    revoked,
                })
            })
        })
        .await?;
    let (first, method, revoked) = match outcome {
        Outcome::Failed(action) => {
            metrics::counter!("auth_mfa_failures_total").increment(1);
            record_in(st, org, uid, action, fid_s.clone(), json!({}), origin).await?;
            return Err(MfaError::InvalidCode);
        }
        Outcome::Ok {
            first,
            method,
            revoked,
        } => (first, method, revoked),
    };
    st.publish_revocations(&revoked).await?;
    let session = st
        .db
        .system_tx(|c| {
            Box::pin(async move { Ok::<_, Infra>(sessions::raise_to_aal2(c, sid, method).await?) })
        })
        .await?;
    let mut recovery_codes = None;
    if first && method == TOTP {
        recovery_codes = Some(issue_recovery_codes(st, uid).await?);
    }
    let action = match (first, method) {
        (_, RECOVERY_CODE) => "mfa.recovery_code_used",
        (true, _) => "mfa.factor_activated",
        _ => "mfa.verified",
    };
    record_in(
        st,
        org,
        uid,
        action,
        fid_s.clone(),
        json!({"method": method}),
        origin,
    )
    .await?;
    st.limit_reset(&limit).await?;
    let tokens = st.session_pair(&session).await?;
    Ok(Verified {
        tokens,
        recovery_codes,
    })
}

/// What a presented recovery code may be stored as: argon2id with the user's salt, or (codes
/// issued before they were salted) its SHA-256.
async fn recovery_candidates(
    st: &AppState,
    uid: UserId,
    code: &str,
) -> Result<Vec<Vec<u8>>, Infra> {
    let stored = st
        .db
        .system_tx(|c| {
            Box::pin(async move { Ok::<_, Infra>(mfa::any_unused_recovery_code(c, uid).await?) })
        })
        .await?;
    let mut candidates = vec![secret::legacy_recovery_hash(code)];
    if let Some(salt) = stored.as_deref().and_then(secret::recovery_salt) {
        let derived = st
            .hasher
            .derive(secret::normalize_recovery_code(code), salt.to_vec())
            .await?;
        candidates.push(secret::salted_recovery_hash(salt, &derived));
    }
    Ok(candidates)
}

/// New recovery codes for the user (replacing every old one), stored salted and slow-hashed;
/// the plain codes are returned to be shown once.
async fn issue_recovery_codes(st: &AppState, uid: UserId) -> Result<Vec<String>, Infra> {
    let codes = secret::new_recovery_codes();
    let salt: [u8; secret::RECOVERY_SALT_LEN] = rand::random();
    let mut hashes = Vec::with_capacity(codes.len());
    for code in &codes {
        let derived = st
            .hasher
            .derive(secret::normalize_recovery_code(code), salt.to_vec())
            .await?;
        hashes.push(secret::salted_recovery_hash(&salt, &derived));
    }
    st.db
        .system_tx(|c| {
            Box::pin(
                async move { Ok::<_, Infra>(mfa::replace_recovery_codes(c, uid, &hashes).await?) },
            )
        })
        .await?;
    Ok(codes)
}

/// Replaces the user's recovery codes with new ones (every old code stops working); needs a
/// verified factor. The caller has passed the step-up check.
pub async fn regenerate_recovery_codes(
    st: &AppState,
    who: Caller,
    origin: &Origin,
) -> Result<Vec<String>, MfaError> {
    let uid = who.user;
    let enrolled = st
        .db
        .system_tx(|c| {
            Box::pin(async move { Ok::<_, Infra>(mfa::has_verified_factor(c, uid).await?) })
        })
        .await?;
    if !enrolled {
        return Err(MfaError::NoVerifiedFactor);
    }
    let codes = issue_recovery_codes(st, uid).await?;
    record_in(
        st,
        who.org,
        uid,
        "mfa.recovery_codes_regenerated",
        uid.to_string(),
        json!({"codes": codes.len()}),
        origin,
    )
    .await?;
    Ok(codes)
}

/// Removes the user's factor (a verified one only from an aal2 session); the recovery codes go
/// with the last verified factor.
pub async fn remove(
    st: &AppState,
    who: Caller,
    fid: Uuid,
    origin: &Origin,
) -> Result<(), MfaError> {
    let uid = who.user;
    st.db
        .system_tx(|c| {
            Box::pin(async move {
                let factor = mfa::factor(c, uid, fid)
                    .await?
                    .ok_or(MfaError::FactorNotFound)?;
                if factor.status == FactorStatus::Verified && who.aal != Aal::Aal2 {
                    return Err(MfaError::Aal2Required);
                }
                mfa::delete_factor(c, uid, fid).await?;
                if !mfa::factors_of(c, uid)
                    .await?
                    .iter()
                    .any(|f| f.status == FactorStatus::Verified)
                {
                    mfa::delete_recovery_codes(c, uid).await?;
                }
                Ok::<_, MfaError>(())
            })
        })
        .await?;
    record_in(
        st,
        who.org,
        uid,
        "mfa.removed",
        fid.to_string(),
        json!({}),
        origin,
    )
    .await?;
    Ok(())
}

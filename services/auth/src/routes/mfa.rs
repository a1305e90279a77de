//! TOTP MFA over HTTP: list, enroll, challenge, verify (raises the session to aal2), remove.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::{ApiError, Json};
use tenancy::{Aal1Tenant, Tenant};
use uuid::Uuid;

use crate::core::mfa::{self, Caller, Proof};
use crate::core::step_up;
use crate::domain::tokens::TokenResponse;
use crate::routes::problem::gotrue;
use crate::routes::problem::{assurance, origin};
use crate::state::AppState;
use crate::store::mfa::Factor;
use crate::store::status::FactorStatus;

fn caller(t: &Tenant) -> Caller {
    Caller {
        user: t.user_id(),
        session: t.session_id().0,
        aal: t.aal(),
        org: t.org_id(),
    }
}

/// An MFA factor (TOTP only).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FactorView {
    pub id: Uuid,
    /// Always `totp`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub friendly_name: Option<String>,
    /// `unverified` until a code verified it, then `verified`.
    pub status: FactorStatus,
    pub created_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
}

impl From<Factor> for FactorView {
    fn from(f: Factor) -> Self {
        FactorView {
            id: f.id,
            kind: "totp",
            friendly_name: f.friendly_name,
            status: f.status,
            created_at: f.created_at,
            verified_at: f.verified_at,
        }
    }
}

/// The caller's factors and how many recovery codes are left.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FactorList {
    pub items: Vec<FactorView>,
    pub recovery_codes_left: i64,
}

/// What an authenticator app needs, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TotpSetup {
    /// Base32.
    pub secret: String,
    /// `otpauth://totp/…`.
    pub uri: String,
    /// The URI as an SVG QR code.
    pub qr_code: String,
}

/// A new factor and its TOTP setup.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnrolledView {
    #[serde(flatten)]
    pub factor: FactorView,
    pub totp: TotpSetup,
}

/// An open challenge of a factor.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChallengeView {
    pub id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// The session's new tokens (now aal2), and the recovery codes when the first factor was just
/// activated (shown once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerifiedView {
    #[serde(flatten)]
    pub tokens: TokenResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

#[utoipa::path(get, path = "/api/auth/factors", operation_id = "list_factors", security(("bearer" = [])),
    responses((status = 200, description = "the caller's factors", body = FactorList)))]
pub async fn list(st: web::Data<AppState>, t: Aal1Tenant) -> Result<HttpResponse, ApiError> {
    let (factors, codes) = mfa::list(&st, t.0.user_id()).await?;
    Ok(HttpResponse::Ok().json(FactorList {
        items: factors.into_iter().map(FactorView::from).collect(),
        recovery_codes_left: codes,
    }))
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

#[utoipa::path(post, path = "/api/auth/factors", operation_id = "enroll_factor", security(("bearer" = [])), request_body = Enroll,
    responses((status = 201, description = "a new, unverified factor", body = EnrolledView),
              (status = 200, description = "GoTrue dialect (`X-Supabase-Api-Version`): a new, unverified factor (`qr_code` is raw SVG)", body = GoTrueEnrolled),
              (status = 403, description = "aal2_required: a verified factor exists and the session is aal1; reauthentication_needed: no sign-in within the step-up window"),
              (status = 409, description = "too_many_factors"),
              (status = 422, description = "invalid_field: factor_type other than totp")))]
pub async fn enroll(
    st: web::Data<AppState>,
    req: HttpRequest,
    t: Result<Aal1Tenant, ApiError>,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let go = gotrue::requested(&req);
    let r = async {
        let t = gotrue::bearer(go, t)?;
        enroll_run(&st, &req, go, t.0, body.into_inner()).await
    };
    gotrue::answer(go, r.await)
}

/// GoTrue's enrolment answer (`supabase.auth.mfa.enroll`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GoTrueEnrolled {
    pub id: Uuid,
    /// `totp`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `""` when none was given.
    pub friendly_name: String,
    pub totp: TotpSetup,
}

/// Either dialect's enrolment answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum EnrollAnswer {
    Ours(EnrolledView),
    GoTrue(GoTrueEnrolled),
}

async fn enroll_run(
    st: &AppState,
    req: &HttpRequest,
    go: bool,
    t: Tenant,
    body: serde_json::Value,
) -> Result<HttpResponse, ApiError> {
    let body: Enroll = if go {
        // GoTrue's `issuer` is ignored: the issuer is this service's.
        let m = gotrue::object(body)?;
        Enroll {
            friendly_name: gotrue::opt_str(&m, "friendly_name")?,
            factor_type: gotrue::opt_str(&m, "factor_type")?,
        }
    } else {
        let raw = serde_json::to_vec(&body).map_err(ApiError::internal)?;
        servicekit::json::parse(&raw)?
    };
    if body.factor_type.as_deref().is_some_and(|f| f != "totp") {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("factor_type"),
            "only totp factors are supported",
        ));
    }
    step_up::require(st, &assurance(&t)).await?;
    let email = t.claims().email.clone().unwrap_or_default();
    let origin = origin(req, st.settings.trust_forwarded_for);
    let e = mfa::enroll(st, caller(&t), &email, body.friendly_name, &origin).await?;
    if go {
        return Ok(HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(EnrollAnswer::GoTrue(GoTrueEnrolled {
                id: e.factor.id,
                kind: "totp",
                friendly_name: e.factor.friendly_name.clone().unwrap_or_default(),
                totp: TotpSetup {
                    secret: e.secret,
                    uri: e.uri,
                    qr_code: e.qr_code,
                },
            })));
    }
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(EnrolledView {
            factor: FactorView::from(e.factor),
            totp: TotpSetup {
                secret: e.secret,
                uri: e.uri,
                qr_code: e.qr_code,
            },
        }))
}

#[utoipa::path(post, path = "/api/auth/factors/{id}/challenge", operation_id = "challenge_factor", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "a factor of the caller")),
    responses((status = 201, description = "a challenge to verify within 5 minutes", body = ChallengeView),
              (status = 200, description = "GoTrue dialect (`X-Supabase-Api-Version`): the challenge, `expires_at` in Unix seconds", body = GoTrueChallenge),
              (status = 404, description = "not a factor of the caller"),
              (status = 429, description = "rate_limited: too many challenges opened (20 per 5 minutes)")))]
pub async fn challenge(
    st: web::Data<AppState>,
    req: HttpRequest,
    t: Result<Aal1Tenant, ApiError>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let go = gotrue::requested(&req);
    let r = async {
        let t = gotrue::bearer(go, t)?;
        Ok::<_, ApiError>(mfa::challenge(&st, caller(&t.0), id.into_inner()).await?)
    }
    .await;
    gotrue::answer(
        go,
        r.map(|(id, expires_at)| {
            if go {
                HttpResponse::Ok().json(GoTrueChallenge {
                    id,
                    kind: "totp",
                    expires_at: expires_at.timestamp(),
                })
            } else {
                HttpResponse::Created().json(ChallengeView { id, expires_at })
            }
        }),
    )
}

/// GoTrue's challenge answer: `expires_at` in Unix seconds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GoTrueChallenge {
    pub id: Uuid,
    /// `totp`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub expires_at: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    pub challenge_id: Uuid,
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}

#[utoipa::path(post, path = "/api/auth/factors/{id}/verify", operation_id = "verify_factor", security(("bearer" = [])), request_body = Verify,
    params(("id" = Uuid, Path, description = "a factor of the caller")),
    responses((status = 200, description = "verified: the session is aal2", body = VerifiedView),
              (status = 401, description = "invalid_mfa_code"),
              (status = 404, description = "not a factor of the caller"),
              (status = 422, description = "invalid_challenge, or invalid_field (code/recovery_code)"),
              (status = 429, description = "rate_limited: too many failed codes for this factor")))]
pub async fn verify(
    st: web::Data<AppState>,
    req: HttpRequest,
    t: Result<Aal1Tenant, ApiError>,
    id: web::Path<Uuid>,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let go = gotrue::requested(&req);
    let r = async {
        let t = gotrue::bearer(go, t)?;
        verify_run(&st, &req, go, t, id.into_inner(), body.into_inner()).await
    };
    gotrue::answer(go, r.await)
}

async fn verify_run(
    st: &AppState,
    req: &HttpRequest,
    go: bool,
    t: Aal1Tenant,
    id: Uuid,
    body: serde_json::Value,
) -> Result<HttpResponse, ApiError> {
    let b: Verify = if go {
        // GoTrue clients also send `factor_id` (the path's) and may send more: ignored.
        let m = gotrue::object(body)?;
        let challenge = gotrue::req_str(&m, "challenge_id")?;
        Verify {
            challenge_id: challenge.parse().map_err(|_| {
                ApiError::invalid(
                    "invalid_field",
                    Some("challenge_id"),
                    "`challenge_id` is not a UUID",
                )
            })?,
            code: gotrue::opt_str(&m, "code")?,
            recovery_code: gotrue::opt_str(&m, "recovery_code")?,
        }
    } else {
        let raw = serde_json::to_vec(&body).map_err(ApiError::internal)?;
        servicekit::json::parse(&raw)?
    };
    let origin = origin(req, st.settings.trust_forwarded_for);
    let v = mfa::verify(
        st,
        caller(&t.0),
        id,
        Proof {
            challenge_id: b.challenge_id,
            code: b.code,
            recovery_code: b.recovery_code,
        },
        &origin,
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(VerifiedView {
            tokens: v.tokens,
            recovery_codes: v.recovery_codes,
        }))
}

#[utoipa::path(delete, path = "/api/auth/factors/{id}", operation_id = "remove_factor", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "a factor of the caller")),
    responses((status = 204, description = "removed"),
              (status = 200, description = "GoTrue dialect (`X-Supabase-Api-Version`): removed", body = RemovedFactor),
              (status = 403, description = "aal2_required: the caller enrolled a factor and the session is aal1; reauthentication_needed: no sign-in within the step-up window"),
              (status = 404, description = "not a factor of the caller")))]
pub async fn remove(
    st: web::Data<AppState>,
    req: HttpRequest,
    t: Result<Aal1Tenant, ApiError>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let go = gotrue::requested(&req);
    let id = id.into_inner();
    let r = async {
        let t = gotrue::bearer(go, t)?;
        step_up::require(&st, &assurance(&t.0)).await?;
        let origin = origin(&req, st.settings.trust_forwarded_for);
        mfa::remove(&st, caller(&t.0), id, &origin).await?;
        Ok::<_, ApiError>(if go {
            HttpResponse::Ok().json(RemovedFactor { id })
        } else {
            HttpResponse::NoContent().finish()
        })
    };
    gotrue::answer(go, r.await)
}

/// GoTrue's unenrol answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RemovedFactor {
    pub id: Uuid,
}

/// New recovery codes, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecoveryCodesView {
    pub recovery_codes: Vec<String>,
}

/// Replaces the caller's recovery codes (every old one stops working). Needs aal2 and a recent
/// verification (step-up).
#[utoipa::path(post, path = "/api/auth/factors/recovery-codes/regenerate", operation_id = "regenerate_recovery_codes", security(("bearer" = [])),
    responses((status = 200, description = "the new codes, shown once", body = RecoveryCodesView),
              (status = 403, description = "aal2_required or reauthentication_needed (step-up)"),
              (status = 409, description = "no_verified_factor: recovery codes come with a verified factor")))]
pub async fn regenerate_recovery_codes(
    st: web::Data<AppState>,
    req: HttpRequest,
    t: Aal1Tenant,
) -> Result<HttpResponse, ApiError> {
    step_up::require(&st, &assurance(&t.0)).await?;
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let codes = mfa::regenerate_recovery_codes(&st, caller(&t.0), &origin).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(RecoveryCodesView {
            recovery_codes: codes,
        }))
}

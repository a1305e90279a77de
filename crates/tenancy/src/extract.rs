//! actix extractors. `Tenant` is the only source of an org for tenant endpoints: it comes from a
//! verified, unrevoked access token, never from a header, path or body. `ServiceCaller` admits
//! only service tokens, for `/internal/...` routes that name the org in their path.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use servicekit::ApiError;

use crate::claims::{Aal, Claims, Role, SERVICE_ROLE};
use crate::ids::{OrgId, SessionId, UserId};
use crate::revocation::Revocations;
use crate::verifier::{AuthError, JwtVerifier};

/// What the extractors need; put in app data as `web::Data<AuthState>`.
pub struct AuthState {
    pub verifier: JwtVerifier,
    pub revocations: Revocations,
    pub user_audiences: Vec<String>,
    pub service_audiences: Vec<String>,
}

impl AuthState {
    pub fn from_settings(
        settings: &servicekit::CommonSettings,
        redis: servicekit::db::RedisPool,
    ) -> Self {
        AuthState {
            verifier: JwtVerifier::new(settings.jwt.clone()),
            revocations: Revocations::new(redis, settings.redis_prefix.clone()),
            user_audiences: settings.jwt.audience.clone(),
            service_audiences: vec![settings.jwt.service_audience.clone()],
        }
    }
}

/// How old the newest authentication of a token may be for a sensitive operation (auth's
/// `AUTH_STEP_UP_MAX_AGE_SECS` default).
pub const STEP_UP_MAX_AGE_SECS: i64 = 600;

/// `amr` methods that are a second factor (as auth writes them).
const MFA_METHODS: [&str; 3] = ["totp", "mfa/recovery_code", "recovery"];

/// The verified caller of a tenant endpoint.
#[derive(Debug, Clone)]
pub struct Tenant {
    org_id: OrgId,
    user_id: UserId,
    role: Role,
    session_id: SessionId,
    aal: Aal,
    claims: Arc<Claims>,
}

impl Tenant {
    pub fn org_id(&self) -> OrgId {
        self.org_id
    }
    pub fn user_id(&self) -> UserId {
        self.user_id
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }
    pub fn aal(&self) -> Aal {
        self.aal
    }
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// Role guard: `tenant.require(Role::Admin)?` refuses staff and viewers with 403.
    pub fn require(&self, required: Role) -> Result<(), ApiError> {
        if self.role.at_least(required) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "insufficient_role",
                format!("this action needs the {required:?} role or higher").to_lowercase(),
            ))
        }
    }

    /// Step-up for sensitive operations outside auth (credential changes: a Vapi webhook secret,
    /// a Google connection, a Twilio account): the token's newest authentication must be within
    /// [`STEP_UP_MAX_AGE_SECS`] — for an `aal2` token its newest second factor (ADR 0010). An
    /// enrolled user's `aal1` token never gets here (`mfa_required`). Refreshing does not renew
    /// it: `amr` keeps the sign-in times. 403 `reauthentication_needed` otherwise.
    pub fn require_recent_auth(&self) -> Result<(), ApiError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let newest = self
            .claims
            .amr
            .iter()
            .filter(|e| self.aal != Aal::Aal2 || MFA_METHODS.contains(&e.method.as_str()))
            .map(|e| e.timestamp)
            .max();
        match newest {
            Some(t) if t >= now.saturating_sub(STEP_UP_MAX_AGE_SECS) => Ok(()),
            _ => Err(ApiError::forbidden(
                "reauthentication_needed",
                format!(
                    "this needs a recent sign-in: verify your factor again (or re-enter your password) and retry within {STEP_UP_MAX_AGE_SECS} seconds"
                ),
            )),
        }
    }

    /// Builds a tenant from claims already verified (used by the extractor).
    pub fn from_claims(claims: Claims) -> Result<Self, ApiError> {
        if claims.role.as_deref() == Some(SERVICE_ROLE) {
            return Err(ApiError::forbidden(
                "service_token_not_allowed",
                "service tokens cannot call tenant endpoints",
            ));
        }
        let user_id = claims
            .sub
            .parse::<UserId>()
            .map_err(|_| ApiError::unauthorized("invalid_token", "token subject is not a user"))?;
        let session_id = claims
            .session_id
            .map(SessionId)
            .ok_or_else(|| ApiError::unauthorized("invalid_token", "token has no session"))?;
        let (Some(org), Some(role)) = (claims.app_metadata.org_id, claims.app_metadata.org_role)
        else {
            return Err(ApiError::forbidden(
                "no_org",
                "the token is not bound to an organization",
            ));
        };
        Ok(Tenant {
            org_id: OrgId(org),
            user_id,
            role,
            session_id,
            aal: claims.aal.unwrap_or(Aal::Aal1),
            claims: Arc::new(claims),
        })
    }
}

fn bearer(req: &HttpRequest) -> Result<String, AuthError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(token.trim().to_string())
}

fn auth_state(req: &HttpRequest) -> Result<web::Data<AuthState>, ApiError> {
    req.app_data::<web::Data<AuthState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(std::io::Error::other("AuthState missing from app data")))
}

async fn extract_tenant(
    token: Result<String, AuthError>,
    state: Result<web::Data<AuthState>, ApiError>,
    enforce_mfa: bool,
) -> Result<Tenant, ApiError> {
    let state = state?;
    let token = token?;
    let claims = state.verifier.verify(&token, &state.user_audiences).await?;
    let tenant = Tenant::from_claims(claims)?;
    if state.revocations.is_revoked(tenant.session_id).await? {
        return Err(AuthError::Revoked.into());
    }
    if enforce_mfa && tenant.claims.app_metadata.mfa_required && tenant.aal != Aal::Aal2 {
        return Err(ApiError::forbidden(
            "mfa_required",
            "this organization requires multi-factor authentication: verify a factor first",
        ));
    }
    tracing::Span::current().record("org", tracing::field::display(tenant.org_id));
    Ok(tenant)
}

impl FromRequest for Tenant {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(extract_tenant(bearer(req), auth_state(req), true))
    }
}

/// A tenant whose org may require MFA it has not done yet: only for the routes that get it
/// there (enrolling and verifying a factor, logout, the profile).
#[derive(Debug, Clone)]
pub struct Aal1Tenant(pub Tenant);

impl FromRequest for Aal1Tenant {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let fut = extract_tenant(bearer(req), auth_state(req), false);
        Box::pin(async move { fut.await.map(Aal1Tenant) })
    }
}

/// Another Voxanne service, authenticated by a service token (`role: service`, `sub: service:<name>`).
#[derive(Debug, Clone)]
pub struct ServiceCaller {
    pub name: String,
}

impl FromRequest for ServiceCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let state = auth_state(req);
        Box::pin(async move {
            let state = state?;
            let claims = state
                .verifier
                .verify(&token?, &state.service_audiences)
                .await?;
            let name = claims
                .sub
                .strip_prefix("service:")
                .filter(|n| !n.is_empty());
            match (claims.role.as_deref(), name) {
                (Some(SERVICE_ROLE), Some(name)) => Ok(ServiceCaller {
                    name: name.to_string(),
                }),
                _ => Err(ApiError::forbidden(
                    "service_token_required",
                    "this endpoint is for Voxanne services only",
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::{AmrEntry, AppMetadata, Audience};

    fn tenant(aal: Aal, amr: &[(&str, i64)]) -> Tenant {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
            .unwrap_or(0);
        let claims = Claims {
            sub: UserId::new_random().to_string(),
            aud: Audience::One("authenticated".into()),
            iss: "test".into(),
            exp: now + 900,
            iat: now,
            nbf: None,
            session_id: Some(SessionId::new_random().as_uuid()),
            aal: Some(aal),
            amr: amr
                .iter()
                .map(|(m, ago)| AmrEntry {
                    method: (*m).into(),
                    timestamp: now - ago,
                })
                .collect(),
            email: None,
            role: Some("authenticated".into()),
            app_metadata: AppMetadata {
                org_id: Some(OrgId::new_random().as_uuid()),
                org_role: Some(Role::Admin),
                mfa_required: false,
            },
        };
        Tenant::from_claims(claims).unwrap()
    }

    fn code(r: Result<(), ApiError>) -> Option<String> {
        r.err().map(|e| e.code().to_string())
    }

    #[test]
    fn a_credential_change_needs_a_sign_in_within_ten_minutes() {
        assert_eq!(
            code(tenant(Aal::Aal1, &[("password", 30)]).require_recent_auth()),
            None
        );
        assert_eq!(
            code(tenant(Aal::Aal1, &[("password", 660)]).require_recent_auth()).as_deref(),
            Some("reauthentication_needed")
        );
        // No authentication time at all is not recent.
        assert_eq!(
            code(tenant(Aal::Aal1, &[]).require_recent_auth()).as_deref(),
            Some("reauthentication_needed")
        );
    }

    #[test]
    fn an_aal2_token_counts_only_its_second_factor() {
        // A fresh password step-up does not renew an enrolled user's second factor.
        assert_eq!(
            code(tenant(Aal::Aal2, &[("password", 5), ("totp", 700)]).require_recent_auth())
                .as_deref(),
            Some("reauthentication_needed")
        );
        assert_eq!(
            code(tenant(Aal::Aal2, &[("password", 900), ("totp", 60)]).require_recent_auth()),
            None
        );
    }
}

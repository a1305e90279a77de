//! The one place auth's errors become HTTP problems: every `From<core error> for ApiError`, plus
//! the two request helpers every route shares (the caller's origin, absent-vs-null fields).

pub mod gotrue;

use actix_web::HttpRequest;
use servicekit::ApiError;

use crate::core::client_grant::ClientGrantError;
use crate::core::flags::FlagError;
use crate::core::infra::Infra;
use crate::core::members::MemberError;
use crate::core::mfa::MfaError;
use crate::core::orgs::OrgError;
use crate::core::password_grant::PasswordGrantError;
use crate::core::profile::ProfileError;
use crate::core::reauth::ReauthError;
use crate::core::recovery::RecoveryError;
use crate::core::refresh_grant::RefreshGrantError;
use crate::core::sessions::SessionError;
use crate::core::signup::SignupError;
use crate::core::sso_sign_in::{AuthorizeError, CallbackError, PkceGrantError, SignInError};
use crate::core::step_up::{Assurance, StepUpError};
use crate::domain::org::OrgFieldError;
use crate::store::audit::Origin;

const NOT_A_MEMBER: &str = "you are not an active member of that organization";

fn too_many(retry_after: u64) -> ApiError {
    ApiError::TooManyRequests {
        retry_after_secs: retry_after,
    }
}

fn conflict(code: &'static str, detail: String) -> ApiError {
    ApiError::Conflict {
        code,
        detail,
        extra: None,
    }
}

fn bad_request(code: &'static str, detail: String) -> ApiError {
    ApiError::BadRequest { code, detail }
}

impl From<Infra> for ApiError {
    fn from(e: Infra) -> Self {
        match e {
            Infra::Db(e) => e.into(),
            Infra::Pool(e) => e.into(),
            Infra::Redis(e) => ApiError::unavailable("redis_unavailable", e),
            Infra::SigningKeys(e) => ApiError::unavailable("signing_keys_unavailable", e),
            Infra::Revocations(e) => e.into(),
            Infra::Gone(what) => ApiError::not_found(what),
            Infra::HashingBusy => {
                metrics::counter!("auth_hashing_shed_total").increment(1);
                // No error value: shedding must stay cheap under a flood (an anyhow error
                // captures a backtrace per shed request when RUST_BACKTRACE is set).
                ApiError::Unavailable {
                    code: "hashing_busy",
                    source: None,
                }
            }
            Infra::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// An org field of a request whose field names are `name_field` and `timezone_field`.
fn org_field(e: OrgFieldError, name_field: &str, timezone_field: &str) -> ApiError {
    let field = match e {
        OrgFieldError::Name => name_field,
        OrgFieldError::Timezone => timezone_field,
    };
    ApiError::invalid("invalid_field", Some(field), e.to_string())
}

impl From<SignupError> for ApiError {
    fn from(e: SignupError) -> Self {
        match e {
            SignupError::RateLimited { retry_after } => too_many(retry_after),
            SignupError::InvalidEmail(m) => ApiError::invalid("invalid_field", Some("email"), m),
            SignupError::WeakPassword(m) => ApiError::invalid("weak_password", Some("password"), m),
            SignupError::OrgField(f) => org_field(f, "org_name", "org_timezone"),
            e @ SignupError::EmailTaken => conflict("email_taken", e.to_string()),
            SignupError::Infra(i) => i.into(),
        }
    }
}

impl From<PasswordGrantError> for ApiError {
    fn from(e: PasswordGrantError) -> Self {
        match e {
            PasswordGrantError::RateLimited { retry_after } => too_many(retry_after),
            e @ PasswordGrantError::InvalidCredentials => {
                ApiError::unauthorized("invalid_credentials", e.to_string())
            }
            PasswordGrantError::NotAMember => ApiError::forbidden("not_a_member", NOT_A_MEMBER),
            PasswordGrantError::Infra(i) => i.into(),
        }
    }
}

impl From<RefreshGrantError> for ApiError {
    fn from(e: RefreshGrantError) -> Self {
        let detail = e.to_string();
        match e {
            RefreshGrantError::InvalidToken => {
                ApiError::unauthorized("invalid_refresh_token", detail)
            }
            RefreshGrantError::SessionRevoked => ApiError::unauthorized("session_revoked", detail),
            RefreshGrantError::SessionExpired | RefreshGrantError::Inactive => {
                ApiError::unauthorized("session_expired", detail)
            }
            RefreshGrantError::AlreadyUsed => {
                ApiError::unauthorized("refresh_token_already_used", detail)
            }
            RefreshGrantError::NotAMember => ApiError::forbidden("not_a_member", NOT_A_MEMBER),
            RefreshGrantError::Infra(i) => i.into(),
        }
    }
}

impl From<ClientGrantError> for ApiError {
    fn from(e: ClientGrantError) -> Self {
        match e {
            e @ ClientGrantError::InvalidClient => {
                ApiError::unauthorized("invalid_client", e.to_string())
            }
            ClientGrantError::Infra(i) => i.into(),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::NotFound => ApiError::not_found("session"),
            SessionError::Infra(i) => i.into(),
        }
    }
}

impl From<ProfileError> for ApiError {
    fn from(e: ProfileError) -> Self {
        let detail = e.to_string();
        match e {
            ProfileError::NotFound => ApiError::not_found("user"),
            ProfileError::CurrentPasswordMissing => {
                ApiError::invalid("missing_field", Some("current_password"), detail)
            }
            ProfileError::WeakPassword(m) => {
                ApiError::invalid("weak_password", Some("password"), m)
            }
            ProfileError::WrongCurrentPassword => {
                ApiError::unauthorized("invalid_credentials", detail)
            }
            ProfileError::RateLimited { retry_after } => too_many(retry_after),
            ProfileError::InvalidNonce => bad_request("reauthentication_not_valid", detail),
            ProfileError::Infra(i) => i.into(),
        }
    }
}

impl From<RecoveryError> for ApiError {
    fn from(e: RecoveryError) -> Self {
        let detail = e.to_string();
        match e {
            RecoveryError::RateLimited { retry_after } => too_many(retry_after),
            RecoveryError::PasswordMissing => {
                ApiError::invalid("missing_field", Some("password"), detail)
            }
            RecoveryError::WeakPassword(m) => {
                ApiError::invalid("weak_password", Some("password"), m)
            }
            RecoveryError::InvalidToken => bad_request("invalid_or_expired_token", detail),
            RecoveryError::Infra(i) => i.into(),
        }
    }
}

impl From<MfaError> for ApiError {
    fn from(e: MfaError) -> Self {
        let detail = e.to_string();
        match e {
            MfaError::Aal2Required => ApiError::forbidden("aal2_required", detail),
            MfaError::TooManyFactors => conflict("too_many_factors", detail),
            MfaError::FactorNotFound => ApiError::not_found("factor"),
            MfaError::RateLimited { retry_after } => too_many(retry_after),
            MfaError::CodeOrRecoveryCode => {
                ApiError::invalid("invalid_field", Some("code"), detail)
            }
            MfaError::InvalidChallenge => {
                ApiError::invalid("invalid_challenge", Some("challenge_id"), detail)
            }
            MfaError::RecoveryCodeForNewFactor => {
                ApiError::invalid("invalid_field", Some("recovery_code"), detail)
            }
            MfaError::InvalidCode => ApiError::unauthorized("invalid_mfa_code", detail),
            MfaError::NoVerifiedFactor => conflict("no_verified_factor", detail),
            MfaError::Infra(i) => i.into(),
        }
    }
}

impl From<crate::core::audit::MemberEventsError> for ApiError {
    fn from(e: crate::core::audit::MemberEventsError) -> Self {
        use crate::core::audit::MemberEventsError as E;
        let detail = e.to_string();
        match e {
            E::NotShared => ApiError::forbidden("login_failures_not_shared", detail),
            E::NotFound => ApiError::not_found("organization"),
            E::Infra(i) => i.into(),
        }
    }
}

impl From<OrgError> for ApiError {
    fn from(e: OrgError) -> Self {
        let detail = e.to_string();
        match e {
            OrgError::NotFound => ApiError::not_found("organization"),
            OrgError::Mismatch => ApiError::forbidden("org_mismatch", detail),
            OrgError::Field(f) => org_field(f, "org_name", "timezone"),
            OrgError::OutOfRange { field, .. } => {
                ApiError::invalid("invalid_field", Some(field), detail)
            }
            OrgError::DeletionNotScheduled => conflict("deletion_not_scheduled", detail),
            OrgError::Infra(i) => i.into(),
        }
    }
}

impl From<MemberError> for ApiError {
    fn from(e: MemberError) -> Self {
        let detail = e.to_string();
        match e {
            MemberError::MemberNotFound => ApiError::not_found("member"),
            MemberError::InvitationNotFound => ApiError::not_found("invitation"),
            MemberError::OwnerOnly(_) | MemberError::AboveOwnRole => {
                ApiError::forbidden("insufficient_role", detail)
            }
            MemberError::LastOwner => conflict("last_owner", detail),
            MemberError::InvalidEmail(m) => ApiError::invalid("invalid_field", Some("email"), m),
            MemberError::InvitationNotPending => conflict("invitation_not_pending", detail),
            MemberError::InvitationEmailMismatch => {
                ApiError::forbidden("invitation_email_mismatch", detail)
            }
            MemberError::AlreadyMember => conflict("already_member", detail),
            MemberError::Infra(i) => i.into(),
        }
    }
}

impl From<FlagError> for ApiError {
    fn from(e: FlagError) -> Self {
        match e {
            FlagError::NotFound => ApiError::not_found("flag"),
            FlagError::Infra(i) => i.into(),
        }
    }
}

impl From<AuthorizeError> for ApiError {
    fn from(e: AuthorizeError) -> Self {
        let detail = e.to_string();
        match e {
            AuthorizeError::RateLimited { retry_after } => too_many(retry_after),
            AuthorizeError::UnknownProvider(_) => bad_request("unknown_provider", detail),
            AuthorizeError::ProviderDisabled(_) => bad_request("provider_disabled", detail),
            AuthorizeError::RedirectNotAllowed => bad_request("redirect_not_allowed", detail),
            AuthorizeError::InvalidInvitation => {
                ApiError::invalid("invalid_field", Some("invitation"), detail)
            }
            AuthorizeError::Pkce(_) => bad_request("validation_failed", detail),
            AuthorizeError::Provider(e) => ApiError::unavailable("provider_unavailable", e),
            AuthorizeError::Infra(i) => i.into(),
        }
    }
}

impl From<CallbackError> for ApiError {
    fn from(e: CallbackError) -> Self {
        let detail = e.to_string();
        match e {
            CallbackError::InvalidState | CallbackError::OtherBrowser => {
                bad_request("invalid_state", detail)
            }
            CallbackError::RedirectNotAllowed => bad_request("redirect_not_allowed", detail),
            CallbackError::Infra(i) => i.into(),
        }
    }
}

/// A sign-in failure as a problem (the callback turns it into the redirect's fragment).
impl From<SignInError> for ApiError {
    fn from(e: SignInError) -> Self {
        let detail = e.to_string();
        match e {
            SignInError::UnknownProvider(_) => bad_request("unknown_provider", detail),
            SignInError::ProviderDisabled(_) => bad_request("provider_disabled", detail),
            SignInError::ProviderRefused(_) => ApiError::forbidden("provider_refused", detail),
            SignInError::MissingCode => bad_request("missing_code", detail),
            SignInError::Sso(e) => ApiError::unavailable("provider_unavailable", e),
            SignInError::InvalidProviderEmail(_) => ApiError::forbidden("invalid_email", detail),
            SignInError::EmailNotVerified => ApiError::forbidden("email_not_verified", detail),
            SignInError::UnverifiedAccountExists => {
                ApiError::forbidden("account_exists_unverified", detail)
            }
            SignInError::InvitationNotPending => {
                ApiError::forbidden("invitation_not_pending", detail)
            }
            SignInError::InvitationEmailMismatch => {
                ApiError::forbidden("invitation_email_mismatch", detail)
            }
            SignInError::NotAMember => ApiError::forbidden("not_a_member", detail),
            SignInError::OrgName(f) => org_field(f, "org_name", "timezone"),
            SignInError::Infra(i) => i.into(),
        }
    }
}

impl From<ReauthError> for ApiError {
    fn from(e: ReauthError) -> Self {
        let detail = e.to_string();
        match e {
            ReauthError::RateLimited { retry_after } => too_many(retry_after),
            ReauthError::InvalidNonce => bad_request("reauthentication_not_valid", detail),
            ReauthError::Infra(i) => i.into(),
        }
    }
}

impl From<PkceGrantError> for ApiError {
    fn from(e: PkceGrantError) -> Self {
        let detail = e.to_string();
        match e {
            PkceGrantError::Missing(field) => {
                ApiError::invalid("missing_field", Some(field), detail)
            }
            PkceGrantError::NotFound => ApiError::NotFound {
                code: "flow_state_not_found",
                detail,
            },
            PkceGrantError::Expired => ApiError::Unprocessable {
                code: "flow_state_expired",
                detail,
                field: None,
            },
            PkceGrantError::BadVerifier => bad_request("bad_code_verifier", detail),
            PkceGrantError::SignIn(e) => e.into(),
            PkceGrantError::Infra(i) => i.into(),
        }
    }
}

impl From<StepUpError> for ApiError {
    fn from(e: StepUpError) -> Self {
        let detail = e.to_string();
        match e {
            StepUpError::Aal2Required => ApiError::forbidden("aal2_required", detail),
            StepUpError::MfaRequired => ApiError::forbidden("mfa_required", detail),
            StepUpError::ReauthenticationNeeded(_) => {
                ApiError::forbidden("reauthentication_needed", detail)
            }
            StepUpError::Infra(i) => i.into(),
        }
    }
}

/// How the caller of `t` authenticated, for the step-up check (`core::step_up`).
pub fn assurance(t: &tenancy::Tenant) -> Assurance {
    Assurance {
        user: t.user_id(),
        aal: t.aal(),
        amr: t.claims().amr.clone(),
    }
}

/// The caller's IP and user agent. `X-Forwarded-For` counts only when the gateway in front is
/// trusted to set it (`AUTH_TRUST_FORWARDED_FOR`); otherwise a client could pick its own IP and
/// escape the per-IP limits.
pub fn origin(req: &HttpRequest, trust_forwarded: bool) -> Origin {
    // The gateway appends the address it saw: the LAST entry is the one a client cannot forge
    // (earlier entries are whatever the client sent).
    let forwarded = || {
        req.headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|s| !s.is_empty())
            .map(str::to_string)
    };
    let ip = if trust_forwarded {
        forwarded().or_else(|| req.peer_addr().map(|a| a.ip().to_string()))
    } else {
        req.peer_addr().map(|a| a.ip().to_string())
    };
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    Origin { ip, user_agent }
}

/// For `Option<Option<T>>` fields: tells an absent field (`None`) from an explicit `null`
/// (`Some(None)`).
pub fn present<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

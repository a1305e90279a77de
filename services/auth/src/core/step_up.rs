//! Step-up: what a sensitive operation (password change, factor changes, sign-out-everywhere,
//! member role changes, org deletion, recovery-code regeneration) asks of the caller's token:
//! aal2 when the user has a verified factor, and an authentication within
//! `AUTH_STEP_UP_MAX_AGE_SECS` (default 600). One check, called by every such route.

use chrono::Utc;
use tenancy::UserId;
use tenancy::claims::{Aal, AmrEntry};

use crate::core::infra::Infra;
use crate::state::AppState;
use crate::store::mfa;

/// `amr` methods that are a second factor.
const MFA_METHODS: [&str; 3] = ["totp", "mfa/recovery_code", "recovery"];

#[derive(Debug, thiserror::Error)]
pub enum StepUpError {
    /// The user enrolled a factor and this session has not verified it (aal1).
    #[error("you enrolled a second factor: verify it first (this needs an aal2 session)")]
    Aal2Required,
    /// Like `Aal2Required`, for routes other than sensitive operations (the code every
    /// service's `Tenant` answers for an aal1 token that must be aal2).
    #[error("you enrolled a second factor: verify it before anything else")]
    MfaRequired,
    /// The token's newest authentication is older than the step-up window.
    #[error(
        "this needs a recent sign-in: verify your factor again (or re-enter your password) and retry within {0} seconds"
    )]
    ReauthenticationNeeded(u64),
    #[error(transparent)]
    Infra(#[from] Infra),
}

/// What a token says about how (and when) its caller authenticated.
#[derive(Debug, Clone)]
pub struct Assurance {
    pub user: UserId,
    pub aal: Aal,
    pub amr: Vec<AmrEntry>,
}

/// Whether the user has a verified factor (then aal2 is required for everything but reaching it).
pub async fn enrolled(st: &AppState, user: UserId) -> Result<bool, Infra> {
    st.db
        .system_tx(|c| {
            Box::pin(async move { Ok::<_, Infra>(mfa::has_verified_factor(c, user).await?) })
        })
        .await
}

/// Refuses an aal1 token of a user who enrolled a factor (routes reachable before MFA that are
/// not about MFA itself, e.g. reading the profile).
pub async fn require_aal2_if_enrolled(st: &AppState, a: &Assurance) -> Result<(), StepUpError> {
    if a.aal != Aal::Aal2 && enrolled(st, a.user).await? {
        return Err(StepUpError::MfaRequired);
    }
    Ok(())
}

/// When the caller last proved who they are: for an enrolled user the newest second factor,
/// otherwise the newest authentication of any kind (unix seconds).
pub fn authenticated_at(amr: &[AmrEntry], enrolled: bool) -> Option<i64> {
    amr.iter()
        .filter(|e| !enrolled || MFA_METHODS.contains(&e.method.as_str()))
        .map(|e| e.timestamp)
        .max()
}

/// The assurance half of the step-up check: aal2 for a user who enrolled a factor (for an
/// operation whose recency is proven otherwise, e.g. by a mailed reauthentication nonce).
pub async fn require_aal(st: &AppState, a: &Assurance) -> Result<(), StepUpError> {
    if a.aal != Aal::Aal2 && enrolled(st, a.user).await? {
        return Err(StepUpError::Aal2Required);
    }
    Ok(())
}

/// The step-up check of a sensitive operation.
pub async fn require(st: &AppState, a: &Assurance) -> Result<(), StepUpError> {
    let enrolled = enrolled(st, a.user).await?;
    if enrolled && a.aal != Aal::Aal2 {
        return Err(StepUpError::Aal2Required);
    }
    let max_age = st.settings.step_up_max_age.as_secs();
    let oldest_ok = Utc::now()
        .timestamp()
        .saturating_sub(i64::try_from(max_age).unwrap_or(i64::MAX));
    match authenticated_at(&a.amr, enrolled) {
        Some(at) if at >= oldest_ok => Ok(()),
        _ => Err(StepUpError::ReauthenticationNeeded(max_age)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(method: &str, timestamp: i64) -> AmrEntry {
        AmrEntry {
            method: method.into(),
            timestamp,
        }
    }

    #[test]
    fn an_enrolled_user_counts_only_the_second_factor() {
        let amr = [e("password", 900), e("totp", 100)];
        assert_eq!(authenticated_at(&amr, false), Some(900));
        assert_eq!(authenticated_at(&amr, true), Some(100));
        assert_eq!(authenticated_at(&[e("password", 900)], true), None);
        assert_eq!(authenticated_at(&[], false), None);
    }
}

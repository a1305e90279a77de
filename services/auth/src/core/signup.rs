//! Signup: a new user with a password and a new org they own, in one transaction (the org's
//! `org.created.v1`, the audit entries, the verification mail, and — unless the email must be
//! confirmed first — the first session with it).
//!
//! With `AUTH_SIGNUP_CONFIRM_EMAIL` (the default) a registered email is answered exactly like a
//! new one: the same 201 and body (a fresh random user id, no tokens), after the same argon2
//! work, and the owner of the account gets an "account exists" mail instead of a verification
//! one. Nothing about the existing account changes.

use chrono::Utc;
use serde_json::json;
use tenancy::{Role, UserId};
use uuid::Uuid;

use crate::core::infra::{Infra, infra_from};
use crate::core::limits::Limit;
use crate::core::orgs::create_org;
use crate::core::recovery::queue_verification;
use crate::domain::org::{self, OrgFieldError};
use crate::domain::tokens::{OrgClaim, TokenResponse};
use crate::domain::{email, password};
use crate::state::AppState;
use crate::store::accounts::{self, User};
use crate::store::audit::{self, Origin};
use crate::store::mail_outbox;
use crate::store::sessions;

#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error("too many requests")]
    RateLimited { retry_after: u64 },
    #[error("{0}")]
    InvalidEmail(&'static str),
    #[error("{0}")]
    WeakPassword(&'static str),
    #[error(transparent)]
    OrgField(#[from] OrgFieldError),
    #[error("an account with this email exists; log in instead")]
    EmailTaken,
    #[error(transparent)]
    Infra(#[from] Infra),
}
infra_from!(SignupError);

/// What signing up asks for.
#[derive(Debug)]
pub struct Signup {
    pub email: String,
    pub password: String,
    pub org_name: String,
    pub org_timezone: String,
    pub display_name: Option<String>,
    /// GoTrue's `data` (a JSON object; `{}` on our own signup).
    pub user_metadata: serde_json::Value,
}

/// A signup waiting for its email to be confirmed (what the client is told; for a registered
/// email the id is random and nothing was created).
#[derive(Debug)]
pub struct Pending {
    pub id: UserId,
    pub email: String,
    pub created_at: chrono::DateTime<Utc>,
}

/// What a signup answers.
#[derive(Debug)]
pub enum Outcome {
    /// `AUTH_SIGNUP_CONFIRM_EMAIL=false`: the first token pair.
    Session(Box<TokenResponse>),
    /// The default: confirm the mailed link, then log in.
    Pending(Pending),
}

/// Signs up (limited per IP).
pub async fn signup(st: &AppState, req: Signup, origin: &Origin) -> Result<Outcome, SignupError> {
    if st.hasher.saturated(crate::domain::password::Class::Other) {
        return Err(Infra::HashingBusy.into());
    }
    let ip = origin.ip.clone().unwrap_or_default();
    let per_ip = Limit {
        scope: "signup_ip",
        subject: &ip,
        max: st.settings.signup_per_ip_per_hour,
        window: std::time::Duration::from_secs(3600),
    };
    if let Some(retry_after) = st.limit_take(&per_ip).await?.refused {
        return Err(SignupError::RateLimited { retry_after });
    }
    let (email, normalized) = email::parse(&req.email).map_err(SignupError::InvalidEmail)?;
    password::check_policy(&req.password).map_err(SignupError::WeakPassword)?;
    let org_name = org::check_name(&req.org_name)?;
    org::check_timezone(&req.org_timezone)?;
    // Always hashed, also for a registered email: the answer takes as long either way.
    let hash = st.hasher.hash(req.password).await.map_err(Infra::from)?;
    let confirm = st.settings.signup_confirm_email;
    let now = Utc::now();
    let user = User {
        id: UserId(Uuid::new_v4()),
        email,
        email_normalized: normalized,
        password_hash: Some(hash),
        display_name: req.display_name.map(|d| org::display_name(&d)),
        email_verified_at: None,
        created_at: now,
        updated_at: now,
        user_metadata: req.user_metadata,
    };
    let tz = req.org_timezone;
    let st2 = st.clone();
    let done = st
        .db
        .system_tx(|c| {
            let user = user.clone();
            let origin = origin.clone();
            Box::pin(async move {
                if let Some(owner) = accounts::user_by_email(c, &user.email_normalized).await? {
                    if !confirm {
                        return Err(SignupError::EmailTaken);
                    }
                    // Told to the owner only, at the address on the account, and at most once
                    // an hour: anyone can trigger it, so it must not become a way to flood an
                    // inbox (the answer is the same either way).
                    let site = &st2.settings.public_url;
                    let hour_ago = now - chrono::Duration::hours(1);
                    if mail_outbox::queued_since(c, &owner.email, "account_exists", hour_ago)
                        .await?
                    {
                        return Ok::<_, SignupError>(None);
                    }
                    mail_outbox::queue_mail(
                        c,
                        &owner.email,
                        "account_exists",
                        "Someone tried to sign up with your email",
                        &format!(
                            "Someone (maybe you) tried to create a Voxanne account with this email address, which already has one. Nothing was changed.\n\nSign in at {site}, or reset your password there if you forgot it.\n\nIf this was not you, you can ignore this mail."
                        ),
                    )
                    .await?;
                    return Ok::<_, SignupError>(None);
                }
                accounts::insert_user(c, &user).await?;
                let org = create_org(c, user.id, org_name, tz, &origin).await?;
                audit::record(
                    c,
                    org.id,
                    Some(user.id),
                    "user.signup",
                    Some(user.id.to_string()),
                    json!({}),
                    &origin,
                )
                .await?;
                let session = if confirm {
                    None
                } else {
                    let session =
                        st2.new_session(user.id, Some(org.id), "password", &origin, None)?;
                    sessions::insert(c, &session).await?;
                    Some(session)
                };
                queue_verification(c, &st2.settings.public_url, user.id, &user.email).await?;
                Ok::<_, SignupError>(Some((org, session)))
            })
        })
        .await?;
    // None: the email is registered (the owner was mailed).
    let (org, session) = match done {
        None => {
            metrics::counter!("auth_signup_existing_email_total").increment(1);
            tracing::info!("signup with a registered email: the owner was mailed");
            return Ok(Outcome::Pending(Pending {
                id: UserId(Uuid::new_v4()),
                email: user.email,
                created_at: now,
            }));
        }
        Some(created) => created,
    };
    tracing::info!(user = %user.id, org = %org.id, "signup");
    let Some(session) = session else {
        return Ok(Outcome::Pending(Pending {
            id: user.id,
            email: user.email,
            created_at: now,
        }));
    };
    Ok(Outcome::Session(Box::new(
        st.token_pair(
            &user,
            &session,
            0,
            Some(OrgClaim {
                id: org.id,
                role: Role::Owner,
                mfa_required: false,
            }),
        )
        .await?,
    )))
}

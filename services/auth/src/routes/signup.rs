//! `POST /api/auth/signup`: a new user and the org they own.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use servicekit::{ApiError, Json};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenancy::UserId;

use crate::core::signup::{self, Outcome, Signup};
use crate::domain::tokens::{TokenResponse, UserParts, UserView};
use crate::routes::problem::gotrue;
use crate::routes::problem::origin;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub email: String,
    pub password: String,
    pub org_name: String,
    /// IANA time zone of the clinic, e.g. `America/New_York`.
    pub org_timezone: String,
    pub display_name: Option<String>,
    /// Not part of our body: GoTrue's `data` (set by the GoTrue dialect only).
    #[serde(skip)]
    pub user_metadata: serde_json::Value,
}

/// The user a signup created, waiting for its email to be confirmed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PendingUser {
    #[schema(value_type = Uuid)]
    pub id: UserId,
    pub email: String,
    /// Always false here: the mailed link confirms it.
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
}

/// A signup waiting for the mailed confirmation (`AUTH_SIGNUP_CONFIRM_EMAIL`, the default). A
/// registered email gets the same answer (with a random id) and its owner a mail.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignupPending {
    pub user: PendingUser,
    /// When the confirmation mail was queued.
    pub confirmation_sent_at: DateTime<Utc>,
}

/// What a signup answers: the pending user (default) or, with `AUTH_SIGNUP_CONFIRM_EMAIL=false`,
/// the first token pair.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum SignupAnswer {
    Pending(SignupPending),
    Session(Box<TokenResponse>),
}

/// GoTrue's signup body (`supabase.auth.signUp`): `data` becomes `user_metadata`; the org is
/// made from `data.org_name` / `data.timezone` (defaults: "My organization", `UTC`). Other
/// fields GoTrue clients send (`gotrue_meta_security`, `code_challenge`, …) are ignored.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct GoTrueSignup {
    pub email: String,
    pub password: String,
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
}

/// Either dialect's body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum SignupBody {
    Ours(SignupRequest),
    GoTrue(GoTrueSignup),
}

/// GoTrue's answer: a session, or (email to confirm) the bare user.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum GoTrueSignupAnswer {
    Session(Box<TokenResponse>),
    User(Box<UserView>),
}

pub const DEFAULT_ORG_NAME: &str = "My organization";
pub const DEFAULT_TIMEZONE: &str = "UTC";

#[utoipa::path(post, path = "/api/auth/signup", operation_id = "signup", request_body = SignupBody,
    responses((status = 201, description = "signed up. By default (`AUTH_SIGNUP_CONFIRM_EMAIL`) the pending user and no tokens — the same answer for an email that is already registered (its owner is mailed instead); log in after confirming the mailed link. With `AUTH_SIGNUP_CONFIRM_EMAIL=false`: the first token pair", body = SignupAnswer),
              (status = 200, description = "GoTrue dialect (`X-Supabase-Api-Version`): the session, or the bare user waiting for its confirmation (the same for a registered email, with a random id and no identities)", body = GoTrueSignupAnswer),
              (status = 409, description = "email_taken: the email is registered (only with `AUTH_SIGNUP_CONFIRM_EMAIL=false`)"),
              (status = 422, description = "invalid_field (email, org_name, org_timezone) or weak_password; GoTrue dialect: user_already_exists, weak_password"),
              (status = 429, description = "rate_limited: too many signups from this IP")))]
pub async fn signup(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let go = gotrue::requested(&req);
    gotrue::answer(go, run(&st, &req, go, body.into_inner()).await)
}

async fn run(
    st: &AppState,
    req: &HttpRequest,
    go: bool,
    body: serde_json::Value,
) -> Result<HttpResponse, ApiError> {
    let origin = origin(req, st.settings.trust_forwarded_for);
    let b = if go {
        let m = gotrue::object(body)?;
        let data = gotrue::opt_object(&m, "data")?.unwrap_or_default();
        let text = |k: &str| data.get(k).and_then(|v| v.as_str()).map(str::to_string);
        SignupRequest {
            email: gotrue::req_str(&m, "email")?,
            password: gotrue::req_str(&m, "password")?,
            org_name: text("org_name").unwrap_or_else(|| DEFAULT_ORG_NAME.into()),
            org_timezone: text("timezone").unwrap_or_else(|| DEFAULT_TIMEZONE.into()),
            display_name: text("display_name")
                .or_else(|| text("full_name"))
                .or_else(|| text("name")),
            user_metadata: serde_json::Value::Object(data),
        }
    } else {
        let raw = serde_json::to_vec(&body).map_err(ApiError::internal)?;
        servicekit::json::parse(&raw)?
    };
    let metadata = b.user_metadata.clone();
    let outcome = signup::signup(
        st,
        Signup {
            email: b.email,
            password: b.password,
            org_name: b.org_name,
            org_timezone: b.org_timezone,
            display_name: b.display_name,
            user_metadata: if go {
                metadata.clone()
            } else {
                serde_json::json!({})
            },
        },
        &origin,
    )
    .await?;
    if go {
        let answer = match outcome {
            Outcome::Session(pair) => GoTrueSignupAnswer::Session(pair),
            Outcome::Pending(p) => {
                // The same shape for a new and a registered email: no identities either way.
                let mut user = UserView::of(
                    UserParts {
                        id: p.id,
                        email: &p.email,
                        display_name: None,
                        email_verified_at: None,
                        has_password: false,
                        user_metadata: metadata,
                        created_at: p.created_at,
                        updated_at: p.created_at,
                    },
                    &st.audience(),
                    None,
                    Vec::new(),
                );
                user.confirmation_sent_at = Some(p.created_at);
                GoTrueSignupAnswer::User(Box::new(user))
            }
        };
        return Ok(HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(answer));
    }
    let answer = match outcome {
        Outcome::Session(pair) => SignupAnswer::Session(pair),
        Outcome::Pending(p) => SignupAnswer::Pending(SignupPending {
            user: PendingUser {
                id: p.id,
                email: p.email,
                email_verified: false,
                created_at: p.created_at,
            },
            confirmation_sent_at: p.created_at,
        }),
    };
    Ok(HttpResponse::Created().json(answer))
}

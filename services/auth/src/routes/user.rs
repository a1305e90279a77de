//! `GET /api/auth/user` and `PUT /api/auth/user`: the caller's own profile;
//! `POST /api/auth/reauthenticate`: step-up by password.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use servicekit::{ApiError, Json};
use tenancy::claims::Aal;
use tenancy::{Aal1Tenant, OrgId, Role, Tenant};
use uuid::Uuid;

use crate::core::profile::{self, Change};
use crate::core::reauth;
use crate::core::step_up;
use crate::core::tokens::{gotrue_factors, user_parts};
use crate::domain::tokens::{TokenResponse, UserView};
use crate::routes::problem::gotrue;
use crate::routes::problem::{assurance, origin, present};
use crate::state::AppState;

/// An org the user belongs to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserOrg {
    #[schema(value_type = Uuid)]
    pub id: OrgId,
    pub name: String,
    pub role: Role,
}

/// The caller as GoTrue answers a user (with our `display_name`, `email_verified`, `org_id`,
/// `org_role`), the token's aal and session, and every org the caller belongs to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProfileView {
    #[serde(flatten)]
    pub user: UserView,
    #[schema(value_type = String)]
    pub aal: Aal,
    pub session_id: Uuid,
    pub organizations: Vec<UserOrg>,
}

#[utoipa::path(get, path = "/api/auth/user", operation_id = "get_user", security(("bearer" = [])),
    responses((status = 200, description = "the caller's profile", body = ProfileView),
              (status = 403, description = "mfa_required: the caller enrolled a factor and this session has not verified it"),
              (status = 404, description = "the user is gone")))]
pub async fn get_user(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Result<Aal1Tenant, ApiError>,
) -> Result<HttpResponse, ApiError> {
    // Readable at aal1 when the org requires MFA the user has not set up yet (to set it up);
    // a user who enrolled a factor reaches aal2 first.
    let go = gotrue::requested(&req);
    let r = async {
        let Aal1Tenant(tenant) = gotrue::bearer(go, tenant)?;
        step_up::require_aal2_if_enrolled(&st, &assurance(&tenant)).await?;
        user_view(&st, &tenant).await
    };
    gotrue::answer(go, r.await)
}

async fn user_view(st: &AppState, tenant: &Tenant) -> Result<HttpResponse, ApiError> {
    let (user, memberships) = profile::get(st, tenant.user_id()).await?;
    let (factors, _) = crate::core::mfa::list(st, tenant.user_id()).await?;
    Ok(HttpResponse::Ok().json(ProfileView {
        user: UserView::of(
            user_parts(&user),
            &st.audience(),
            Some((tenant.org_id(), tenant.role())),
            gotrue_factors(&factors),
        ),
        aal: tenant.aal(),
        session_id: tenant.session_id().0,
        organizations: memberships
            .into_iter()
            .map(|(m, o)| UserOrg {
                id: o.id,
                name: o.name,
                role: m.role,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    pub display_name: Option<Option<String>>,
    pub password: Option<String>,
    pub current_password: Option<String>,
    /// GoTrue's `data`: merged into `user_metadata` (a key set to `null` is removed).
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Map<String, serde_json::Value>>,
    /// GoTrue's reauthentication nonce (mailed by `GET /api/auth/reauthenticate`): with
    /// `password`, instead of `current_password` and a recent sign-in.
    pub nonce: Option<String>,
}

#[utoipa::path(put, path = "/api/auth/user", operation_id = "update_user", security(("bearer" = [])), request_body = UpdateUser,
    responses((status = 200, description = "the caller's profile after the change", body = ProfileView),
              (status = 400, description = "reauthentication_not_valid: the nonce is wrong, used or expired (each nonce allows one try); GoTrue dialect: current_password_required, validation_failed"),
              (status = 401, description = "invalid_credentials: the current password is wrong"),
              (status = 403, description = "changing the password: aal2_required (the caller enrolled a factor) or reauthentication_needed (no sign-in within the step-up window and no nonce)"),
              (status = 404, description = "the user is gone"),
              (status = 422, description = "missing_field (current_password) or weak_password"),
              (status = 429, description = "rate_limited: too many wrong passwords for this account (shared with logins)")))]
pub async fn put_user(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Result<Tenant, ApiError>,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let go = gotrue::requested(&req);
    let r = async {
        let tenant = gotrue::bearer(go, tenant)?;
        update(&st, &req, go, &tenant, body.into_inner()).await
    };
    gotrue::answer(go, r.await)
}

/// GoTrue's `PUT /user` body: `data` (merged into `user_metadata`), `password`
/// (with our `current_password`); an email or phone change is refused (not offered).
fn gotrue_update(body: serde_json::Value) -> Result<UpdateUser, ApiError> {
    let m = gotrue::object(body)?;
    for field in ["email", "phone"] {
        if gotrue::opt_str(&m, field)?.is_some() {
            return Err(ApiError::invalid(
                "invalid_field",
                Some(field),
                format!("changing the {field} is not offered"),
            ));
        }
    }
    Ok(UpdateUser {
        display_name: None,
        password: gotrue::opt_str(&m, "password")?,
        current_password: gotrue::opt_str(&m, "current_password")?,
        data: gotrue::opt_object(&m, "data")?,
        nonce: gotrue::opt_str(&m, "nonce")?,
    })
}

async fn update(
    st: &AppState,
    req: &HttpRequest,
    go: bool,
    tenant: &Tenant,
    body: serde_json::Value,
) -> Result<HttpResponse, ApiError> {
    let b: UpdateUser = if go {
        gotrue_update(body)?
    } else {
        let raw = serde_json::to_vec(&body).map_err(ApiError::internal)?;
        servicekit::json::parse(&raw)?
    };
    if b.password.is_some() {
        if b.nonce.is_some() {
            // The mailed nonce proves a fresh authentication; a factor still needs aal2.
            step_up::require_aal(st, &assurance(tenant)).await?;
        } else {
            step_up::require(st, &assurance(tenant)).await?;
        }
    }
    let origin = origin(req, st.settings.trust_forwarded_for);
    profile::update(
        st,
        tenant.user_id(),
        tenant.org_id(),
        tenant.session_id().0,
        Change {
            display_name: b.display_name,
            password: b.password,
            current_password: b.current_password,
            user_metadata: b.data,
            nonce: b.nonce,
        },
        &origin,
    )
    .await?;
    user_view(st, tenant).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reauthenticate {
    pub password: String,
}

/// Step-up by password (for a user without a factor; one with a factor verifies it again):
/// the session records a fresh sign-in and its new tokens pass the step-up check of sensitive
/// operations for `AUTH_STEP_UP_MAX_AGE_SECS`.
#[utoipa::path(post, path = "/api/auth/reauthenticate", operation_id = "reauthenticate", security(("bearer" = [])), request_body = Reauthenticate,
    responses((status = 200, description = "the session's new tokens", body = TokenResponse),
              (status = 401, description = "invalid_credentials: the password is wrong"),
              (status = 404, description = "the user is gone"),
              (status = 429, description = "rate_limited: too many wrong passwords for this account (shared with logins)")))]
pub async fn reauthenticate(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    body: Json<Reauthenticate>,
) -> Result<HttpResponse, ApiError> {
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let tokens = profile::reauthenticate(
        &st,
        tenant.user_id(),
        tenant.org_id(),
        tenant.session_id().0,
        body.into_inner().password,
        &origin,
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(tokens))
}

/// GoTrue's `GET /api/auth/reauthenticate`: mails the caller a nonce for `PUT /api/auth/user
/// {password, nonce}`; answers `{}`.
#[utoipa::path(get, path = "/api/auth/reauthenticate", operation_id = "gotrue_reauthenticate", security(("bearer" = [])),
    responses((status = 200, description = "a six-digit nonce was mailed to the caller (valid 10 minutes, once): `{}`", body = gotrue::Empty),
              (status = 401, description = "missing_token / invalid_token (GoTrue dialect: no_authorization)"),
              (status = 403, description = "GoTrue dialect: bad_jwt, session_not_found"),
              (status = 404, description = "the user is gone"),
              (status = 429, description = "rate_limited: more than 5 nonces this hour")))]
pub async fn reauthenticate_nonce(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Result<Tenant, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let go = gotrue::requested(&req);
    let r = async {
        let tenant = gotrue::bearer(go, tenant)?;
        let origin = origin(&req, st.settings.trust_forwarded_for);
        reauth::send_nonce(&st, tenant.user_id(), &origin).await?;
        Ok(HttpResponse::Ok().json(gotrue::Empty {}))
    };
    gotrue::answer(go, r.await)
}

//! The caller's own sessions: list, revoke one, and `POST /api/auth/logout`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::ApiError;
use servicekit::page::Page;
use tenancy::{Aal1Tenant, OrgId, Tenant};
use uuid::Uuid;

use crate::core::sessions::{self, LogoutScope};
use crate::core::step_up;
use crate::routes::problem::{assurance, origin};
use crate::state::AppState;
use crate::store::sessions::Session;

/// One of the caller's sessions (one per device).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: DateTime<Utc>,
    pub refreshed_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// `aal1` or `aal2`.
    pub aal: String,
    #[schema(value_type = Option<Uuid>)]
    pub org_id: Option<OrgId>,
    /// The session of the token making this request.
    pub current: bool,
}

impl SessionView {
    fn of(s: Session, current: Uuid) -> Self {
        SessionView {
            current: s.id == current,
            id: s.id,
            user_agent: s.user_agent,
            ip: s.ip,
            created_at: s.created_at,
            refreshed_at: s.refreshed_at,
            expires_at: s.not_after,
            aal: s.aal,
            org_id: s.org_id,
        }
    }
}

/// Every live session of the caller, newest first (one page: `next_cursor` is always null).
#[utoipa::path(get, path = "/api/auth/sessions", operation_id = "list_sessions", security(("bearer" = [])),
    responses((status = 200, body = Page<SessionView>)))]
pub async fn list(st: web::Data<AppState>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    let current = tenant.session_id().0;
    let rows = sessions::list(&st, tenant.user_id()).await?;
    Ok(HttpResponse::Ok().json(Page {
        items: rows
            .into_iter()
            .map(|s| SessionView::of(s, current))
            .collect(),
        next_cursor: None,
    }))
}

#[utoipa::path(delete, path = "/api/auth/sessions/{id}", operation_id = "revoke_session", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "a session of the caller")),
    responses((status = 204, description = "revoked"), (status = 404, description = "not a live session of the caller")))]
pub async fn revoke(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let origin = origin(&req, st.settings.trust_forwarded_for);
    sessions::revoke(
        &st,
        tenant.org_id(),
        tenant.user_id(),
        id.into_inner(),
        &origin,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
pub struct LogoutQuery {
    pub scope: Option<String>,
}

/// `POST /api/auth/logout?scope=local|global|others` (default `local`; in the GoTrue dialect
/// `global`, as GoTrue's).
#[utoipa::path(post, path = "/api/auth/logout", operation_id = "logout", security(("bearer" = [])),
    params(("scope" = Option<String>, Query, description = "`local`, `others` or `global`; without it `local`, or `global` in the GoTrue dialect (`X-Supabase-Api-Version`), as GoTrue")),
    responses((status = 204, description = "the sessions ended"),
              (status = 403, description = "others/global only: aal2_required (the caller enrolled a factor) or reauthentication_needed (no sign-in within the step-up window)"),
              (status = 422, description = "invalid_field: an unknown scope")))]
pub async fn logout(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Result<Aal1Tenant, ApiError>,
    q: web::Query<LogoutQuery>,
) -> Result<HttpResponse, ApiError> {
    let go = crate::routes::problem::gotrue::requested(&req);
    let r = async {
        let Aal1Tenant(tenant) = crate::routes::problem::gotrue::bearer(go, tenant)?;
        // GoTrue's default scope is `global`; ours stays `local`.
        let default = if go { "global" } else { "local" };
        logout_run(&st, &req, &tenant, q.scope.as_deref().unwrap_or(default)).await?;
        Ok(HttpResponse::NoContent().finish())
    };
    crate::routes::problem::gotrue::answer(go, r.await)
}

async fn logout_run(
    st: &AppState,
    req: &HttpRequest,
    tenant: &Tenant,
    raw: &str,
) -> Result<(), ApiError> {
    let scope = LogoutScope::parse(raw).ok_or_else(|| {
        ApiError::invalid(
            "invalid_field",
            Some("scope"),
            format!("scope {raw:?} is not local, others or global"),
        )
    })?;
    // Signing this device out is always allowed; signing out everywhere is sensitive (a thief
    // with a stolen token must not lock the owner out of their other devices).
    if scope != LogoutScope::Local {
        step_up::require(st, &assurance(tenant)).await?;
    }
    let origin = origin(req, st.settings.trust_forwarded_for);
    sessions::logout(
        st,
        tenant.org_id(),
        tenant.user_id(),
        tenant.session_id().0,
        scope,
        &origin,
    )
    .await?;
    Ok(())
}

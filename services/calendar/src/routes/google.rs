//! `/api/integrations/google`: connect (authorization URL), callback (code exchange; the refresh
//! token stored sealed), status, disconnect (revoke). Admins only. The dashboard's page at the
//! redirect URI hands `code` and `state` to the callback with the admin's own token, so the
//! state must match the org and the user that started the connection.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::ApiError;
use tenancy::{Role, Tenant};
use utoipa::{IntoParams, ToSchema};

use crate::clients::google::oauth;
use crate::core::google_connection::{self, GoogleStatus};
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectView {
    /// Send the admin's browser here.
    pub url: String,
    pub expires_in_seconds: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GoogleStatusView {
    pub connected: bool,
    /// `connected`, `disconnected` or `never_connected`.
    pub status: String,
    pub calendar_id: Option<String>,
    pub connected_at: Option<DateTime<Utc>>,
    pub disconnected_at: Option<DateTime<Utc>>,
    /// Why it is disconnected (`invalid_grant`, `disconnected_by_admin`), or the last sync error.
    pub last_error: Option<String>,
    pub busy_synced_at: Option<DateTime<Utc>>,
    /// Appointment changes that could not be written to Google after every retry (or because
    /// the connection was lost). They stay until a reconnect retries them.
    pub failed_sync_jobs: i64,
    /// The newest failed write's error.
    pub last_sync_error: Option<String>,
    pub last_sync_failed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by Google when the admin declined.
    pub error: Option<String>,
}

/// The Google consent URL for this org (admin).
#[utoipa::path(get, path = "/api/integrations/google/connect", tag = "google", security(("bearer" = [])),
    responses((status = 200, body = ConnectView),
              (status = 403, description = "admin only (`insufficient_role`); a sign-in older than 10 minutes (`reauthentication_needed`)"),
              (status = 409, description = "google_not_configured")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn connect(st: web::Data<AppState>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    tenant.require_recent_auth()?;
    let url = google_connection::connect(&st.google, tenant.org_id(), tenant.user_id())?;
    Ok(HttpResponse::Ok().json(ConnectView {
        url,
        expires_in_seconds: oauth::STATE_TTL_SECS,
    }))
}

/// Finish connecting: exchanges the code and stores the refresh token sealed (admin).
#[utoipa::path(get, path = "/api/integrations/google/callback", tag = "google", params(CallbackQuery),
    security(("bearer" = [])),
    responses((status = 200, body = GoogleStatusView),
        (status = 400, description = "invalid_state, google_access_denied or google_no_refresh_token"),
        (status = 409, description = "google_not_configured"),
        (status = 422, description = "invalid_query (code and state are required) or google_code_rejected"),
        (status = 503, description = "google_unavailable")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn callback(
    st: web::Data<AppState>,
    tenant: Tenant,
    q: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let q = q.into_inner();
    if let Some(e) = q.error {
        return Err(ApiError::BadRequest {
            code: "google_access_denied",
            detail: format!("Google did not grant access ({e})"),
        });
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("code"),
            "code and state are required",
        ));
    };
    let row = google_connection::complete(
        &st.db,
        &st.google,
        tenant.org_id(),
        tenant.user_id(),
        &code,
        &state,
    )
    .await?;
    Ok(HttpResponse::Ok().json(status_view(row)))
}

fn status_view(s: GoogleStatus) -> GoogleStatusView {
    let mut v = match s.connection {
        None => GoogleStatusView {
            connected: false,
            status: "never_connected".into(),
            calendar_id: None,
            connected_at: None,
            disconnected_at: None,
            last_error: None,
            busy_synced_at: None,
            failed_sync_jobs: 0,
            last_sync_error: None,
            last_sync_failed_at: None,
        },
        Some(r) => GoogleStatusView {
            connected: r.status == "connected",
            status: r.status,
            calendar_id: Some(r.calendar_id),
            connected_at: r.connected_at,
            disconnected_at: r.disconnected_at,
            last_error: r.last_error,
            busy_synced_at: r.busy_synced_at,
            failed_sync_jobs: 0,
            last_sync_error: None,
            last_sync_failed_at: None,
        },
    };
    v.failed_sync_jobs = s.failed.count;
    v.last_sync_error = s.failed.last_error;
    v.last_sync_failed_at = s.failed.last_failed_at;
    v
}

/// Whether this org is connected, and why not.
#[utoipa::path(get, path = "/api/integrations/google", tag = "google", security(("bearer" = [])),
    responses((status = 200, body = GoogleStatusView)))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn status(st: web::Data<AppState>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    let row = google_connection::status(&st.db, tenant.org_id()).await?;
    Ok(HttpResponse::Ok().json(status_view(row)))
}

/// Disconnect: revoke the token at Google, forget it here (admin).
#[utoipa::path(delete, path = "/api/integrations/google", tag = "google", security(("bearer" = [])),
    responses((status = 204, description = "disconnected"),
              (status = 403, description = "admin only (`insufficient_role`); a sign-in older than 10 minutes (`reauthentication_needed`)"),
              (status = 404, description = "not connected")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn disconnect(st: web::Data<AppState>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    tenant.require_recent_auth()?;
    google_connection::disconnect(&st.db, &st.google, tenant.org_id()).await?;
    Ok(HttpResponse::NoContent().finish())
}

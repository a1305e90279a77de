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

use crate::app::AppState;
use crate::google::{GoogleError, oauth};
use crate::store::google as store;

fn not_configured() -> ApiError {
    ApiError::Conflict {
        code: "google_not_configured",
        detail: "the Google integration is not configured on this deployment".into(),
        extra: None,
    }
}

fn upstream(e: GoogleError) -> ApiError {
    match e {
        GoogleError::NotConfigured => not_configured(),
        GoogleError::InvalidGrant => ApiError::invalid(
            "google_code_rejected",
            Some("code"),
            "Google refused the authorization code (expired or already used)",
        ),
        other => ApiError::unavailable("google_unavailable", anyhow::anyhow!("{other}")),
    }
}

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
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by Google when the admin declined.
    pub error: Option<String>,
}

/// The Google consent URL for this org (admin).
#[utoipa::path(get, path = "/api/integrations/google/connect", tag = "google",
    responses((status = 200, body = ConnectView), (status = 409, description = "google_not_configured")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn connect(st: web::Data<AppState>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    if !st.google.client.settings.enabled() {
        return Err(not_configured());
    }
    let (verifier, challenge) = oauth::pkce().map_err(ApiError::internal)?;
    let state = oauth::seal_state(
        &st.google.keys,
        tenant.org_id(),
        tenant.user_id(),
        &verifier,
    )
    .map_err(ApiError::internal)?;
    let url = st
        .google
        .client
        .authorize_url(&state, &challenge)
        .map_err(upstream)?;
    Ok(HttpResponse::Ok().json(ConnectView {
        url,
        expires_in_seconds: oauth::STATE_TTL_SECS,
    }))
}

/// Finish connecting: exchanges the code and stores the refresh token sealed (admin).
#[utoipa::path(get, path = "/api/integrations/google/callback", tag = "google", params(CallbackQuery),
    responses((status = 200, body = GoogleStatusView), (status = 400, description = "invalid_state or access_denied")))]
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
    let (org, user) = (tenant.org_id(), tenant.user_id());
    let verifier = oauth::open_state(&st.google.keys, org, user, &state).map_err(|e| {
        ApiError::BadRequest {
            code: "invalid_state",
            detail: format!("the state does not match this connection attempt: {e}"),
        }
    })?;
    let tokens = st
        .google
        .client
        .exchange_code(&code, &verifier)
        .await
        .map_err(upstream)?;
    let Some(refresh) = tokens.refresh_token else {
        return Err(ApiError::BadRequest {
            code: "google_no_refresh_token",
            detail: "Google sent no refresh token; connect again (consent is forced)".into(),
        });
    };
    let sealed = st
        .google
        .seal_refresh_token(org, &refresh)
        .map_err(ApiError::internal)?;
    st.google.forget_token(org).await;
    let row = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::upsert_connection(
                    tx,
                    org,
                    user.as_uuid(),
                    &sealed.key_id,
                    &sealed.ciphertext,
                )
                .await?;
                store::find_connection(tx, org)
                    .await
                    .map_err(ApiError::from)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(status_view(row)))
}

fn status_view(row: Option<store::ConnectionRow>) -> GoogleStatusView {
    match row {
        None => GoogleStatusView {
            connected: false,
            status: "never_connected".into(),
            calendar_id: None,
            connected_at: None,
            disconnected_at: None,
            last_error: None,
            busy_synced_at: None,
        },
        Some(r) => GoogleStatusView {
            connected: r.status == "connected",
            status: r.status,
            calendar_id: Some(r.calendar_id),
            connected_at: r.connected_at,
            disconnected_at: r.disconnected_at,
            last_error: r.last_error,
            busy_synced_at: r.busy_synced_at,
        },
    }
}

/// Whether this org is connected, and why not.
#[utoipa::path(get, path = "/api/integrations/google", tag = "google",
    responses((status = 200, body = GoogleStatusView)))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn status(st: web::Data<AppState>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    let org = tenant.org_id();
    let row = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::find_connection(tx, org)
                    .await
                    .map_err(ApiError::from)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(status_view(row)))
}

/// Disconnect: revoke the token at Google, forget it here (admin).
#[utoipa::path(delete, path = "/api/integrations/google", tag = "google",
    responses((status = 204), (status = 404, description = "not connected")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn disconnect(st: web::Data<AppState>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let org = tenant.org_id();
    let row = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::find_connection(tx, org)
                    .await
                    .map_err(ApiError::from)
            })
        })
        .await?
        .filter(|r| r.status == "connected")
        .ok_or_else(|| ApiError::not_found("google connection"))?;
    // Revoke first (outside any transaction); a failure to reach Google still disconnects here.
    if let Ok(token) = st.google.open_refresh_token(org, &row)
        && let Err(e) = st.google.client.revoke(&token).await
    {
        tracing::warn!(error = %e, "google revoke failed; disconnecting locally anyway");
    }
    st.google.forget_token(org).await;
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::mark_disconnected(tx, org, Some("disconnected_by_admin"))
                    .await
                    .map_err(ApiError::from)
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

//! The caller's own sessions: one per device, listable and revocable.

use actix_web::{HttpRequest, HttpResponse, delete, get, web};
use serde_json::json;
use servicekit::ApiError;
use tenancy::Tenant;
use uuid::Uuid;

use crate::routes::origin;
use crate::state::AppState;
use crate::store::audit;
use crate::store::sessions::{self, Which};

#[utoipa::path(get, path = "/api/auth/sessions", responses((status = 200)))]
#[get("/api/auth/sessions")]
pub async fn list(st: web::Data<AppState>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    let uid = tenant.user_id().0;
    let current = tenant.session_id().0;
    let rows = st
        .db
        .system_tx(|c| {
            Box::pin(async move { Ok::<_, ApiError>(sessions::live_of_user(c, uid).await?) })
        })
        .await?;
    let items: Vec<_> = rows
        .iter()
        .map(|s| {
            json!({"id": s.id, "user_agent": s.user_agent, "ip": s.ip, "created_at": s.created_at,
                   "refreshed_at": s.refreshed_at, "expires_at": s.not_after, "aal": s.aal,
                   "org_id": s.org_id, "current": s.id == current})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[utoipa::path(delete, path = "/api/auth/sessions/{id}", responses((status = 204), (status = 404)))]
#[delete("/api/auth/sessions/{id}")]
pub async fn revoke(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let uid = tenant.user_id().0;
    let org = tenant.org_id();
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let ids = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                // Only the caller's own sessions: another user's id looks unknown.
                let ids = sessions::revoke(c, uid, Which::One(id), "revoked_by_user").await?;
                if ids.is_empty() {
                    return Err(ApiError::not_found("session"));
                }
                audit::record(
                    c,
                    org.0,
                    Some(uid),
                    "session.revoked",
                    Some(id.to_string()),
                    json!({}),
                    &origin,
                )
                .await?;
                Ok::<_, ApiError>(ids)
            })
        })
        .await?;
    st.publish_revocations(&ids).await?;
    Ok(HttpResponse::NoContent().finish())
}

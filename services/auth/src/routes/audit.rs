//! `GET /api/auth/audit`: the org's audit log for admins and owners, newest first, keyset-paginated.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use tenancy::{Role, Tenant};
use uuid::Uuid;

use crate::state::AppState;
use crate::store::audit::{self, Filter};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub actor: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub cursor: Option<String>,
    /// 1..=200, default 50.
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/auth/audit", params(AuditQuery), responses((status = 200), (status = 403)))]
#[get("/api/auth/audit")]
pub async fn list(
    st: web::Data<AppState>,
    tenant: Tenant,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let q = q.into_inner();
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("limit"),
            "limit must be 1 to 200",
        ));
    }
    let filter = Filter {
        action: q.action,
        actor: q.actor,
        from: q.from,
        to: q.to,
        before: q
            .cursor
            .as_deref()
            .map(servicekit::cursor::decode)
            .transpose()?,
        limit: limit + 1,
    };
    let org = tenant.org_id();
    let mut rows = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move { Ok::<_, ApiError>(audit::list(c, org.0, &filter).await?) })
        })
        .await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last()
            .map(|e| servicekit::cursor::encode(e.created_at, e.id))
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(json!({ "items": rows, "next_cursor": next })))
}

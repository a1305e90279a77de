//! `GET /api/voice/access-log`: the org's PHI access log (admins): who read which transcript,
//! recording URL or message, and when; newest first.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::ApiError;
use servicekit::page::{Page, PageRequest};
use tenancy::{Role, Tenant};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::core::access_log::{self, AccessQuery};
use crate::state::VoiceState;
use crate::store::access_log::AccessRow;

/// One read of PHI.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessView {
    pub id: Uuid,
    /// The user who read it.
    pub user_id: Uuid,
    /// Their role in the org at the time.
    pub role: String,
    /// The session the read came from.
    pub session_id: Option<Uuid>,
    /// `call_transcript`, `call_recording` or `call_message`.
    pub resource_type: String,
    /// The call (transcript, recording) or message read.
    pub resource_id: Uuid,
    /// The call it belongs to, when it has one.
    pub call_id: Option<Uuid>,
    /// Always `read`.
    pub action: String,
    pub accessed_at: DateTime<Utc>,
}

impl From<AccessRow> for AccessView {
    fn from(r: AccessRow) -> Self {
        AccessView {
            id: r.id,
            user_id: r.actor_user_id,
            role: r.actor_role,
            session_id: r.session_id,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            call_id: r.call_id,
            action: r.action,
            accessed_at: r.accessed_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccessLogQuery {
    /// `call_transcript`, `call_recording` or `call_message`.
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    pub call_id: Option<Uuid>,
    /// Only this user's reads.
    pub user_id: Option<Uuid>,
    /// Items per page, 1–200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The PHI access log, newest first (admins).
#[utoipa::path(get, path = "/api/voice/access-log", tag = "access-log", params(AccessLogQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "one page of reads", body = Page<AccessView>),
              (status = 400, description = "an id filter that is not a UUID (`invalid_query`)"),
              (status = 403, description = "admins only (`insufficient_role`)"),
              (status = 422, description = "a bad filter, `limit` or `cursor` (`invalid_query`)")))]
pub async fn list_access_log(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    query: web::Query<AccessLogQuery>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let q = query.into_inner();
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let filter = AccessQuery {
        resource_type: q.resource_type,
        resource_id: q.resource_id,
        call_id: q.call_id,
        user_id: q.user_id,
    };
    let rows = access_log::list(&st, tenant.org_id(), filter, page).await?;
    Ok(HttpResponse::Ok().json(page.page(rows, access_log::key, AccessView::from)))
}

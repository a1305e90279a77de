//! `/api/voice/calls` and `/api/voice/analytics`: the org's calls (newest first, filters, one
//! page policy), one call with its transcript (for staff and above), analytics in the clinic's
//! time zone, and outbound calls through Vapi.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use servicekit::page::{Page, PageRequest};
use servicekit::{ApiError, Json};
use tenancy::{Role, Tenant};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::problem::reader;
use crate::core::calls::{self, CallFilter};
use crate::core::outbound_call::{self, OutboundInput};
use crate::domain::call::{CallDirection, CallStatus};
use crate::state::VoiceState;
use crate::store::calls::CallRow;

#[derive(Debug, Serialize, ToSchema)]
pub struct CallView {
    pub id: Uuid,
    pub vapi_call_id: String,
    pub agent_id: Option<Uuid>,
    pub phone_number_id: Option<Uuid>,
    /// `inbound`, `outbound` or `web`.
    #[schema(value_type = String)]
    pub direction: CallDirection,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    /// Vapi's call status (`queued`, `ringing`, `in-progress`, `ended`, …).
    #[schema(value_type = String)]
    pub status: CallStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i32>,
    pub ended_reason: Option<String>,
    pub cost_usd: Option<f64>,
    pub booked: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&CallRow> for CallView {
    fn from(c: &CallRow) -> Self {
        CallView {
            id: c.id,
            vapi_call_id: c.vapi_call_id.clone(),
            agent_id: c.agent_id,
            phone_number_id: c.phone_number_id,
            direction: c.direction,
            from_number: c.from_number.clone(),
            to_number: c.to_number.clone(),
            status: c.status.clone(),
            started_at: c.started_at,
            ended_at: c.ended_at,
            duration_seconds: c.duration_seconds,
            ended_reason: c.ended_reason.clone(),
            cost_usd: c.cost_usd,
            booked: c.booked,
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListCallsQuery {
    /// Created at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    pub status: Option<String>,
    /// `inbound`, `outbound` or `web`.
    pub direction: Option<String>,
    pub ended_reason: Option<String>,
    /// E.164 number of either party.
    pub phone: Option<String>,
    /// Items per page, 1–200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Calls, newest first.
#[utoipa::path(get, path = "/api/voice/calls", tag = "calls", params(ListCallsQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "one page of calls", body = Page<CallView>),
              (status = 422, description = "a bad filter: `direction` (`invalid_query`), `phone` (`invalid_field`), `limit`/`cursor` (`invalid_query`)")))]
pub async fn list_calls(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    query: web::Query<ListCallsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let filter = CallFilter {
        from: q.from,
        to: q.to,
        status: q.status,
        direction: q.direction,
        ended_reason: q.ended_reason,
        phone: q.phone,
    };
    let rows = calls::list(&st, tenant.org_id(), filter, page).await?;
    Ok(HttpResponse::Ok().json(page.page(rows, |r| (r.created_at, r.id), |r| CallView::from(&r))))
}

/// One call with its summary; its transcript and recording link for staff and above (each such
/// read is recorded in the PHI access log).
#[utoipa::path(get, path = "/api/voice/calls/{id}", tag = "calls",
    params(("id" = Uuid, Path, description = "the call's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "the call; `transcript`, `messages` and `recording_url` for staff and above", body = CallDetailView),
              (status = 404, description = "no such call in this org (`not_found`)")))]
pub async fn get_call(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let with_phi = tenant.role().at_least(Role::Staff);
    let d = calls::get(&st, reader(&tenant), id.into_inner(), with_phi).await?;
    let part = |k: &str| {
        d.transcript
            .as_ref()
            .map(|t| t.get(k).cloned().unwrap_or(Value::Null))
    };
    let (transcript, messages) = (part("transcript"), part("messages"));
    let call = d.call;
    Ok(HttpResponse::Ok().json(CallDetailView {
        call: CallView::from(&call),
        summary: call.summary,
        structured_data: call.structured_data,
        success_evaluation: call.success_evaluation,
        recording_url: d.recording_url,
        transcript,
        messages,
    }))
}

/// A call with its report; the transcript for staff and above.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallDetailView {
    #[serde(flatten)]
    pub call: CallView,
    pub summary: Option<String>,
    pub structured_data: Option<Value>,
    pub success_evaluation: Option<String>,
    /// The recording's link (staff and above; `null` otherwise or when none was reported).
    pub recording_url: Option<String>,
    /// The transcript text (staff and above; `null` when none was reported).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Value>,
    /// The conversation's messages (staff and above; `null` when none were reported).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Value>,
}

/// One day of calls, in the clinic's time zone.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayView {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub calls: i64,
    pub answered: i64,
    pub missed: i64,
    pub average_duration_seconds: Option<f64>,
    pub booked: i64,
    pub cost_usd: f64,
}

/// A period's calls, answered vs missed, tool success rate, booking conversion and cost.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyticsView {
    /// The clinic's IANA time zone the days are in.
    pub timezone: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: Vec<DayView>,
    pub calls: i64,
    pub answered: i64,
    pub tool_calls: i64,
    /// `null` without tool calls.
    pub tool_success_rate: Option<f64>,
    /// `null` without calls.
    pub booking_conversion: Option<f64>,
    pub cost_usd: f64,
}

/// An outbound call just started.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboundStartedView {
    pub id: Uuid,
    /// Vapi's id of the call, as Vapi answered it.
    pub vapi_call_id: Option<Value>,
    /// Always `queued`.
    #[schema(value_type = String)]
    pub status: CallStatus,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// First day (YYYY-MM-DD, clinic time).
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub to: NaiveDate,
}

/// Calls per day, answered vs missed, average duration, tool success rate, booking conversion
/// and cost, for days in the clinic's time zone.
#[utoipa::path(get, path = "/api/voice/analytics", tag = "calls", params(AnalyticsQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "the period's figures", body = AnalyticsView),
              (status = 422, description = "`to` before `from` or more than 366 days later (`invalid_query`)")))]
pub async fn analytics(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    q: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let a = calls::analytics(&st, tenant.org_id(), q.from, q.to).await?;
    let (total, booked) = (a.calls(), a.booked());
    Ok(HttpResponse::Ok().json(AnalyticsView {
        from: q.from,
        to: q.to,
        days: a
            .days
            .iter()
            .map(|d| DayView {
                day: d.day.clone(),
                calls: d.calls,
                answered: d.answered,
                missed: d.calls - d.answered,
                average_duration_seconds: d.avg_duration,
                booked: d.booked,
                cost_usd: d.cost,
            })
            .collect(),
        calls: total,
        answered: a.answered(),
        tool_calls: a.tools.total,
        tool_success_rate: calls::ratio(a.tools.ok, a.tools.total),
        booking_conversion: calls::ratio(booked, total),
        cost_usd: a.cost(),
        timezone: a.timezone,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboundRequest {
    pub agent_id: Uuid,
    /// Our number to call from (must be imported into Vapi).
    pub number_id: Uuid,
    /// Who to call (E.164).
    pub customer_number: String,
    pub customer_name: Option<String>,
}

/// Start an outbound call (staff): Vapi `POST /call`; 429 when the org's concurrent limit is hit.
#[utoipa::path(post, path = "/api/voice/calls", tag = "calls", request_body = OutboundRequest,
    security(("bearer" = [])),
    responses((status = 201, description = "the call is queued at Vapi", body = OutboundStartedView),
              (status = 403, description = "staff and above (`insufficient_role`)"),
              (status = 422, description = "a field breaks its rule, or names no agent/number of this org (`invalid_field`)"),
              (status = 429, description = "too many concurrent outbound calls (`rate_limited`)"),
              (status = 503, description = "Vapi not configured (`vapi_not_configured`) or unavailable (`vapi_unavailable`)")))]
pub async fn start_outbound_call(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    body: Json<OutboundRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let b = body.into_inner();
    let input = OutboundInput {
        agent_id: b.agent_id,
        number_id: b.number_id,
        customer_number: b.customer_number,
        customer_name: b.customer_name,
    };
    let started = outbound_call::start(&st, tenant.org_id(), input).await?;
    Ok(HttpResponse::Created().json(OutboundStartedView {
        id: started.id,
        vapi_call_id: started.vapi_call_id,
        status: started.status,
    }))
}

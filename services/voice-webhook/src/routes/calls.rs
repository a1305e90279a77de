//! `/api/voice/calls` and `/api/voice/analytics`: the org's calls (newest first, filters, cursor
//! pagination), one call with its transcript (decrypted for staff and above), analytics in the
//! clinic's time zone, and outbound calls through Vapi with a per-org concurrency limit.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use servicekit::{ApiError, Json};
use tenancy::{Db, Role, Tenant};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::speak;
use crate::state::VoiceState;
use crate::store::agents;
use crate::store::calls::{self as store, CallRow, ListCalls, NewCall};
use crate::store::numbers;
use crate::webhook::apply::TRANSCRIPT_PURPOSE;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CallView {
    pub id: Uuid,
    pub vapi_call_id: String,
    pub agent_id: Option<Uuid>,
    pub phone_number_id: Option<Uuid>,
    pub direction: String,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub status: String,
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
            direction: c.direction.clone(),
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
    /// 1–100, default 50.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Calls, newest first.
#[utoipa::path(get, path = "/api/voice/calls", tag = "calls", params(ListCallsQuery), responses((status = 200)))]
pub async fn list_calls(
    db: web::Data<Db>,
    tenant: Tenant,
    query: web::Query<ListCallsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("limit"),
            "limit must be between 1 and 100",
        ));
    }
    if let Some(d) = &q.direction
        && !["inbound", "outbound", "web"].contains(&d.as_str())
    {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("direction"),
            "direction must be inbound, outbound or web",
        ));
    }
    let phone = q
        .phone
        .as_deref()
        .map(|p| super::e164("phone", p))
        .transpose()?;
    let list = ListCalls {
        from: q.from,
        to: q.to,
        status: q.status,
        direction: q.direction,
        ended_reason: q.ended_reason,
        phone,
        before: q
            .cursor
            .as_deref()
            .map(servicekit::cursor::decode)
            .transpose()?,
        limit: limit + 1,
    };
    let org = tenant.org_id();
    let mut rows = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::list_calls(tx, org, &list)
                    .await
                    .map_err(ApiError::from)
            })
        })
        .await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last()
            .map(|r| servicekit::cursor::encode(r.created_at, r.id))
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(json!({ "items": rows.iter().map(CallView::from).collect::<Vec<_>>(), "next_cursor": next })))
}

/// One call with its summary and recording link; the transcript for staff and above.
#[utoipa::path(get, path = "/api/voice/calls/{id}", tag = "calls",
    responses((status = 200), (status = 404, description = "no such call in this org")))]
pub async fn get_call(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = (tenant.org_id(), id.into_inner());
    let with_transcript = tenant.role().at_least(Role::Staff);
    let (call, sealed) = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let call = store::find_call(tx, org, id).await?;
                let sealed = if with_transcript && call.is_some() {
                    store::find_transcript(tx, org, id).await?
                } else {
                    None
                };
                Ok::<_, ApiError>((call, sealed))
            })
        })
        .await?;
    let call = call.ok_or_else(|| ApiError::not_found("call"))?;
    let mut view = serde_json::to_value(CallView::from(&call)).map_err(ApiError::internal)?;
    view["summary"] = json!(call.summary);
    view["structured_data"] = json!(call.structured_data);
    view["success_evaluation"] = json!(call.success_evaluation);
    view["recording_url"] = json!(call.recording_url);
    if with_transcript {
        let transcript = match sealed {
            Some(s) => {
                let plain = st
                    .keys
                    .decrypt(org.as_uuid(), TRANSCRIPT_PURPOSE, &s)
                    .map_err(ApiError::internal)?;
                serde_json::from_slice::<Value>(&plain).map_err(ApiError::internal)?
            }
            None => Value::Null,
        };
        view["transcript"] = transcript.get("transcript").cloned().unwrap_or(Value::Null);
        view["messages"] = transcript.get("messages").cloned().unwrap_or(Value::Null);
    }
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsQuery {
    /// First day (YYYY-MM-DD, clinic time).
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub to: NaiveDate,
}

#[derive(diesel::QueryableByName, Debug)]
struct DayRow {
    #[diesel(sql_type = Text)]
    day: String,
    #[diesel(sql_type = BigInt)]
    calls: i64,
    #[diesel(sql_type = BigInt)]
    answered: i64,
    #[diesel(sql_type = Nullable<Double>)]
    avg_duration: Option<f64>,
    #[diesel(sql_type = BigInt)]
    booked: i64,
    #[diesel(sql_type = Double)]
    cost: f64,
}

#[derive(diesel::QueryableByName, Debug)]
struct ToolRow {
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = BigInt)]
    ok: i64,
}

/// Calls per day, answered vs missed, average duration, tool success rate, booking conversion
/// and cost, for days in the clinic's time zone.
#[utoipa::path(get, path = "/api/voice/analytics", tag = "calls", params(AnalyticsQuery),
    responses((status = 200), (status = 422, description = "invalid range")))]
pub async fn analytics(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    q: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    if q.to < q.from || (q.to - q.from).num_days() > 366 {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("to"),
            "to must be on or after from, at most 366 days later",
        ));
    }
    let org = tenant.org_id();
    let (days, tools, tz_name) = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let tz_name = agents::find_profile(tx, org).await?.map(|p| p.timezone).unwrap_or_else(|| "UTC".into());
                let tz = speak::zone(&tz_name);
                let from = speak::start_of_day(q.from, tz);
                let to = speak::start_of_day(q.to.succ_opt().unwrap_or(q.to), tz);
                let days: Vec<DayRow> = diesel::sql_query(
                    "SELECT to_char((created_at AT TIME ZONE $2)::date, 'YYYY-MM-DD') AS day, count(*) AS calls, \
                     count(*) FILTER (WHERE started_at IS NOT NULL) AS answered, avg(duration_seconds)::float8 AS avg_duration, \
                     count(*) FILTER (WHERE booked) AS booked, coalesce(sum(cost_usd), 0)::float8 AS cost \
                     FROM calls WHERE org_id = $1 AND created_at >= $3 AND created_at < $4 GROUP BY 1 ORDER BY 1",
                )
                .bind::<SqlUuid, _>(org.as_uuid())
                .bind::<Text, _>(tz.name())
                .bind::<Timestamptz, _>(from)
                .bind::<Timestamptz, _>(to)
                .load(tx)
                .await?;
                let tools: ToolRow = diesel::sql_query(
                    "SELECT count(*) AS total, count(*) FILTER (WHERE outcome = 'ok') AS ok FROM tool_invocations \
                     WHERE org_id = $1 AND created_at >= $2 AND created_at < $3",
                )
                .bind::<SqlUuid, _>(org.as_uuid())
                .bind::<Timestamptz, _>(from)
                .bind::<Timestamptz, _>(to)
                .get_result(tx)
                .await?;
                Ok::<_, ApiError>((days, tools, tz_name))
            })
        })
        .await?;
    let total: i64 = days.iter().map(|d| d.calls).sum();
    let booked: i64 = days.iter().map(|d| d.booked).sum();
    let ratio = |a: i64, b: i64| {
        if b == 0 {
            None
        } else {
            Some(a as f64 / b as f64)
        }
    };
    Ok(HttpResponse::Ok().json(json!({
        "timezone": tz_name,
        "from": q.from, "to": q.to,
        "days": days.iter().map(|d| json!({
            "day": d.day, "calls": d.calls, "answered": d.answered, "missed": d.calls - d.answered,
            "average_duration_seconds": d.avg_duration, "booked": d.booked, "cost_usd": d.cost,
        })).collect::<Vec<_>>(),
        "calls": total,
        "answered": days.iter().map(|d| d.answered).sum::<i64>(),
        "tool_calls": tools.total,
        "tool_success_rate": ratio(tools.ok, tools.total),
        "booking_conversion": ratio(booked, total),
        "cost_usd": days.iter().map(|d| d.cost).sum::<f64>(),
    })))
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
    responses((status = 201), (status = 429, description = "too many concurrent outbound calls"),
              (status = 503, description = "Vapi not configured or unavailable")))]
pub async fn start_outbound_call(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    body: Json<OutboundRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let b = body.into_inner();
    let customer = super::e164("customer_number", &b.customer_number)?;
    let name = super::text("customer_name", b.customer_name, 200, false)?;
    let Some(vapi) = st.vapi.clone() else {
        return Err(ApiError::Unavailable {
            code: "vapi_not_configured",
            source: None,
        });
    };
    let org = tenant.org_id();
    let limit = i64::from(st.settings.max_outbound_calls);
    let placeholder = format!("pending:{}", Uuid::new_v4());
    let (agent, number, call) = {
        let (placeholder, customer, name) = (placeholder.clone(), customer.clone(), name.clone());
        st.db
            .tenant_tx(org, |tx| {
                Box::pin(async move {
                    // One outbound start per org at a time, so the count below cannot race.
                    diesel::sql_query(
                        "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 6))",
                    )
                    .bind::<SqlUuid, _>(org.as_uuid())
                    .execute(tx)
                    .await?;
                    let agent =
                        agents::find_agent(tx, org, b.agent_id)
                            .await?
                            .ok_or_else(|| {
                                ApiError::invalid(
                                    "invalid_field",
                                    Some("agent_id"),
                                    "no such agent in this org",
                                )
                            })?;
                    let number = numbers::find_number(tx, org, b.number_id)
                        .await?
                        .ok_or_else(|| {
                            ApiError::invalid(
                                "invalid_field",
                                Some("number_id"),
                                "no such number in this org",
                            )
                        })?;
                    if number.vapi_phone_number_id.is_none() {
                        return Err(ApiError::invalid(
                            "invalid_field",
                            Some("number_id"),
                            "this number is not imported into Vapi",
                        ));
                    }
                    if store::active_outbound(tx, org).await? >= limit {
                        return Err(ApiError::TooManyRequests {
                            retry_after_secs: 30,
                        });
                    }
                    let call = store::ensure_call(
                        tx,
                        &NewCall {
                            org_id: org.as_uuid(),
                            vapi_call_id: placeholder,
                            agent_id: Some(agent.id),
                            phone_number_id: Some(number.id),
                            direction: "outbound".into(),
                            from_number: Some(number.number.clone()),
                            to_number: Some(customer),
                            caller_name: Some(name).filter(|n| !n.is_empty()),
                            status: "queued".into(),
                            status_rank: crate::domain::status::rank("queued"),
                        },
                    )
                    .await?;
                    Ok::<_, ApiError>((agent, number, call))
                })
            })
            .await?
    };
    let answer =
        crate::webhook::answer::assistant_answer(&agent, None, Some(&customer), Utc::now());
    let mut body = json!({
        "phoneNumberId": number.vapi_phone_number_id,
        "customer": { "number": customer },
        "metadata": { "orgId": org.as_uuid(), "callId": call.id },
    });
    if !name.is_empty() {
        body["customer"]["name"] = json!(name);
    }
    for k in ["assistantId", "assistant", "assistantOverrides"] {
        if let Some(v) = answer.get(k) {
            body[k] = v.clone();
        }
    }
    let created = vapi.create_call(&body).await;
    let call_id = call.id;
    match created {
        Ok(v) => {
            let vapi_id = v
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            st.db
                .tenant_tx(org, |tx| {
                    Box::pin(async move {
                        use crate::store::schema::calls;
                        use diesel::{ExpressionMethods as _, QueryDsl as _};
                        diesel::update(
                            calls::table
                                .filter(calls::org_id.eq(org.as_uuid()))
                                .filter(calls::id.eq(call_id)),
                        )
                        .set(calls::vapi_call_id.eq(&vapi_id))
                        .execute(tx)
                        .await?;
                        numbers::remember(tx, numbers::ROUTE_CALL, &vapi_id, org, Some(agent.id))
                            .await?;
                        Ok::<_, ApiError>(())
                    })
                })
                .await?;
            Ok(HttpResponse::Created()
                .json(json!({ "id": call_id, "vapi_call_id": v.get("id"), "status": "queued" })))
        }
        Err(e) => {
            st.db
                .tenant_tx(org, |tx| {
                    Box::pin(async move {
                        use crate::store::schema::calls;
                        use diesel::{ExpressionMethods as _, QueryDsl as _};
                        diesel::delete(
                            calls::table
                                .filter(calls::org_id.eq(org.as_uuid()))
                                .filter(calls::id.eq(call_id)),
                        )
                        .execute(tx)
                        .await?;
                        Ok::<_, ApiError>(())
                    })
                })
                .await?;
            Err(ApiError::unavailable("vapi_unavailable", e))
        }
    }
}

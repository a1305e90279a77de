//! `/internal/v1/orgs/{org_id}/…`: the voice agent's API (docs/internal-api.md). Service tokens
//! only (`ServiceCaller`); the org comes from the path. Every answer comes from the database in
//! a transaction or two: no Google call is ever on this path.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use servicekit::{ApiError, Json};
use tenancy::{OrgId, ServiceCaller};
use uuid::Uuid;

use super::appointments::{
    booked_response, check_reason, idempotency_key, is_e164, validate_contact,
};
use super::services::ServiceView;
use crate::app::AppState;
use crate::booking::{self, AppointmentView, BookRequest, effective_settings};
use crate::store::appointments::ListAppointments;
use crate::store::services::{ListServices, list_services};

fn org_of(path: &str) -> Result<OrgId, ApiError> {
    path.parse::<Uuid>()
        .map(OrgId)
        .map_err(|_| ApiError::NotFound {
            code: "invalid_path",
            detail: "org_id is not a UUID".into(),
        })
}

#[derive(Serialize)]
struct ServicesAnswer {
    timezone: String,
    items: Vec<ServiceView>,
}

/// Active services.
#[tracing::instrument(skip_all, fields(org = %org, caller = %caller.name))]
pub async fn services(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    org: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = org_of(&org)?;
    let (tz, rows) = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let q = ListServices {
                    active: Some(true),
                    search: None,
                    after: None,
                    limit: 200,
                };
                let rows = list_services(tx, org, &q).await?;
                let tz = effective_settings(tx, org).await?.timezone;
                Ok::<_, ApiError>((tz, rows))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(ServicesAnswer {
        timezone: tz.name().to_string(),
        items: rows.into_iter().map(ServiceView::from).collect(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityQuery {
    pub service_id: Uuid,
    pub from: DateTime<FixedOffset>,
    pub to: DateTime<FixedOffset>,
}

#[tracing::instrument(skip_all, fields(org = %org, caller = %caller.name))]
pub async fn availability(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    org: web::Path<String>,
    q: web::Query<AvailabilityQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = org_of(&org)?;
    let q = q.into_inner();
    let v = booking::availability(
        &st.db,
        org,
        q.service_id,
        q.from.with_timezone(&Utc),
        q.to.with_timezone(&Utc),
    )
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextSlotsQuery {
    pub service_id: Uuid,
    pub after: Option<DateTime<FixedOffset>>,
    pub count: Option<usize>,
}

#[tracing::instrument(skip_all, fields(org = %org, caller = %caller.name))]
pub async fn next_slots(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    org: web::Path<String>,
    q: web::Query<NextSlotsQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = org_of(&org)?;
    let q = q.into_inner();
    let count = q.count.unwrap_or(3);
    if !(1..=20).contains(&count) {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("count"),
            "count must be between 1 and 20",
        ));
    }
    let after = q
        .after
        .map(|a| a.with_timezone(&Utc))
        .unwrap_or_else(Utc::now);
    let v = booking::next_slots(&st.db, org, q.service_id, after, count).await?;
    Ok(HttpResponse::Ok().json(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    pub service_id: Uuid,
    pub starts_at: DateTime<FixedOffset>,
    pub contact_phone: Option<String>,
}

#[tracing::instrument(skip_all, fields(org = %org, caller = %caller.name))]
pub async fn hold(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    org: web::Path<String>,
    body: Json<HoldRequest>,
) -> Result<HttpResponse, ApiError> {
    let org = org_of(&org)?;
    let b = body.into_inner();
    let c = validate_contact(None, b.contact_phone, None, None)?;
    let v = booking::hold(
        &st.db,
        org,
        b.service_id,
        b.starts_at.with_timezone(&Utc),
        c.phone,
    )
    .await?;
    Ok(HttpResponse::Created().json(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookBody {
    pub service_id: Uuid,
    pub starts_at: DateTime<FixedOffset>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub source: Option<String>,
    pub call_id: Option<Uuid>,
    pub notes: Option<String>,
    pub hold_id: Option<Uuid>,
}

/// Book, idempotent on `Idempotency-Key` (voice sends Vapi's `toolCallId`).
#[tracing::instrument(skip_all, fields(org = %org, caller = %caller.name))]
pub async fn book(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    org: web::Path<String>,
    req: HttpRequest,
    body: Json<BookBody>,
) -> Result<HttpResponse, ApiError> {
    let org = org_of(&org)?;
    let key = idempotency_key(&req)?;
    let b = body.into_inner();
    let source = b.source.unwrap_or_else(|| "voice".into());
    if !matches!(source.as_str(), "voice" | "api") {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("source"),
            "source must be voice or api",
        ));
    }
    let c = validate_contact(b.contact_name, b.contact_phone, b.contact_email, b.notes)?;
    let r = BookRequest {
        service_id: b.service_id,
        starts_at: b.starts_at.with_timezone(&Utc),
        contact_name: c.name,
        contact_phone: c.phone,
        contact_email: c.email,
        source,
        call_id: b.call_id,
        notes: c.notes,
        hold_id: b.hold_id,
    };
    Ok(booked_response(
        booking::book(&st.db, org, r, key, true).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindQuery {
    pub phone: String,
    pub upcoming: Option<bool>,
    pub limit: Option<i64>,
}

#[derive(Serialize)]
struct FindAnswer {
    timezone: String,
    items: Vec<AppointmentView>,
}

/// The caller's appointments by phone (upcoming booked ones by default).
#[tracing::instrument(skip_all, fields(org = %org, caller = %caller.name))]
pub async fn find_appointments(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    org: web::Path<String>,
    q: web::Query<FindQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = org_of(&org)?;
    let q = q.into_inner();
    if !is_e164(&q.phone) {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("phone"),
            "phone must be E.164, e.g. +15550100123",
        ));
    }
    let limit = q.limit.unwrap_or(10);
    if !(1..=20).contains(&limit) {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("limit"),
            "limit must be between 1 and 20",
        ));
    }
    let upcoming = q.upcoming.unwrap_or(true);
    let list = ListAppointments {
        from: upcoming.then(Utc::now),
        statuses: if upcoming {
            vec!["booked".into()]
        } else {
            vec![]
        },
        phone: Some(q.phone),
        limit,
        ..Default::default()
    };
    let (tz, items) = booking::list(&st.db, org, list).await?;
    Ok(HttpResponse::Ok().json(FindAnswer {
        timezone: tz.name().to_string(),
        items,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RescheduleBody {
    pub starts_at: DateTime<FixedOffset>,
}

#[tracing::instrument(skip_all, fields(org = %path.0, caller = %caller.name))]
pub async fn reschedule(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    path: web::Path<(String, Uuid)>,
    body: Json<RescheduleBody>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let org = org_of(&org)?;
    let v = booking::reschedule(
        &st.db,
        org,
        id,
        body.into_inner().starts_at.with_timezone(&Utc),
        true,
    )
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    pub reason: Option<String>,
}

#[tracing::instrument(skip_all, fields(org = %path.0, caller = %caller.name))]
pub async fn cancel(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    path: web::Path<(String, Uuid)>,
    body: Json<CancelBody>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let org = org_of(&org)?;
    let reason = check_reason(body.into_inner().reason)?;
    let v = booking::cancel(&st.db, org, id, reason).await?;
    Ok(HttpResponse::Ok().json(v))
}

//! `/internal/v1/orgs/{org_id}/…`: the voice agent's API (docs/internal-api.md). Service tokens
//! only (`ServiceCaller`); the org comes from the path. Every answer comes from the database in
//! a transaction or two: no Google call is ever on this path.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use servicekit::{ApiError, Json};
use tenancy::{OrgId, ServiceCaller};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::problem::{AppointmentView, ServiceView, SlotsView};
use crate::core::booking::{self, BookRequest, Booked, Zoned};
use crate::core::{availability, catalog};
use crate::domain::appointment::{AppointmentStatus, IdempotencyKey};
use crate::domain::contact::{Contact, cancel_reason, is_e164};
use crate::state::AppState;
use crate::store::appointments::ListAppointments;

/// The bookable services and the clinic's zone.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServicesAnswer {
    timezone: String,
    items: Vec<ServiceView>,
}

/// Active services (at most 200).
#[utoipa::path(get, path = "/internal/v1/orgs/{org_id}/services", tag = "internal",
    params(("org_id" = Uuid, Path, description = "the org")), security(("service" = [])),
    responses((status = 200, body = ServicesAnswer)))]
#[tracing::instrument(skip_all, fields(org = %org, caller = %caller.name))]
pub async fn services(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    org: web::Path<OrgId>,
) -> Result<HttpResponse, ApiError> {
    let (tz, rows) = catalog::bookable(&st.db, org.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ServicesAnswer {
        timezone: tz.name().to_string(),
        items: rows.into_iter().map(ServiceView::from).collect(),
    }))
}

/// A provider as the voice agent needs it: the name it matches what the caller says against.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderBrief {
    id: Uuid,
    name: String,
    /// null: every service.
    service_ids: Option<Vec<Uuid>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProvidersAnswer {
    items: Vec<ProviderBrief>,
}

/// Active providers (at most 200).
#[utoipa::path(get, path = "/internal/v1/orgs/{org_id}/providers", tag = "internal",
    params(("org_id" = Uuid, Path, description = "the org")), security(("service" = [])),
    responses((status = 200, body = ProvidersAnswer)))]
#[tracing::instrument(skip_all, fields(org = %org, caller = %caller.name))]
pub async fn providers(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    org: web::Path<OrgId>,
) -> Result<HttpResponse, ApiError> {
    let rows = crate::core::providers::active(&st.db, org.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ProvidersAnswer {
        items: rows
            .into_iter()
            .map(|p| ProviderBrief {
                service_ids: p.service_ids(),
                id: p.id,
                name: p.name,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    pub service_id: Uuid,
    /// Only this provider; omitted: any provider of the service.
    pub provider_id: Option<Uuid>,
    pub from: DateTime<FixedOffset>,
    pub to: DateTime<FixedOffset>,
}

/// Open slots of a service in a range (at most 62 days).
#[utoipa::path(get, path = "/internal/v1/orgs/{org_id}/availability", tag = "internal",
    params(("org_id" = Uuid, Path, description = "the org"), AvailabilityQuery), security(("service" = [])),
    responses((status = 200, body = SlotsView), (status = 404, description = "no such service or provider"),
        (status = 422, description = "invalid_query (the range), service_inactive, provider_not_eligible or no_provider")))]
#[tracing::instrument(skip_all, fields(org = %org, caller = %caller.name))]
pub async fn availability(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    org: web::Path<OrgId>,
    q: web::Query<AvailabilityQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let slots = availability::availability(
        &st.db,
        org.into_inner(),
        q.service_id,
        q.provider_id,
        q.from.with_timezone(&Utc),
        q.to.with_timezone(&Utc),
    )
    .await?;
    Ok(HttpResponse::Ok().json(SlotsView::from(slots)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NextSlotsQuery {
    pub service_id: Uuid,
    /// Only this provider; omitted: any provider of the service.
    pub provider_id: Option<Uuid>,
    /// Default: now.
    pub after: Option<DateTime<FixedOffset>>,
    /// 1–20, default 3.
    pub count: Option<usize>,
}

/// The next open slots of a service, up to the end of the booking window.
#[utoipa::path(get, path = "/internal/v1/orgs/{org_id}/next-slots", tag = "internal",
    params(("org_id" = Uuid, Path, description = "the org"), NextSlotsQuery), security(("service" = [])),
    responses((status = 200, body = SlotsView), (status = 404, description = "no such service or provider"),
        (status = 422, description = "invalid_query (count), service_inactive, provider_not_eligible or no_provider")))]
#[tracing::instrument(skip_all, fields(org = %org, caller = %caller.name))]
pub async fn next_slots(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    org: web::Path<OrgId>,
    q: web::Query<NextSlotsQuery>,
) -> Result<HttpResponse, ApiError> {
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
    let slots = availability::next_slots(
        &st.db,
        org.into_inner(),
        q.service_id,
        q.provider_id,
        after,
        count,
    )
    .await?;
    Ok(HttpResponse::Ok().json(SlotsView::from(slots)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    pub service_id: Uuid,
    /// Omitted: the least-loaded free provider.
    pub provider_id: Option<Uuid>,
    pub starts_at: DateTime<FixedOffset>,
    pub contact_phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HoldView {
    hold_id: Uuid,
    provider_id: Uuid,
    provider_name: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// Hold a slot for the clinic's hold time (book it with `hold_id`).
#[utoipa::path(post, path = "/internal/v1/orgs/{org_id}/holds", tag = "internal", request_body = HoldRequest,
    params(("org_id" = Uuid, Path, description = "the org")), security(("service" = [])),
    responses((status = 201, body = HoldView), (status = 404, description = "no such service or provider"),
        (status = 409, description = "slot_unavailable, with `alternatives` (next open slots) and `timezone`"),
        (status = 422, description = "invalid_field, starts_at_in_past, slot_not_offered, service_inactive, provider_not_eligible or no_provider")))]
#[tracing::instrument(skip_all, fields(org = %org, caller = %caller.name))]
pub async fn hold(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    org: web::Path<OrgId>,
    body: Json<HoldRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let c = Contact::validate(None, b.contact_phone, None, None)?;
    let row = booking::hold(
        &st.db,
        org.into_inner(),
        b.service_id,
        b.provider_id,
        b.starts_at.with_timezone(&Utc),
        c.phone,
    )
    .await?;
    Ok(HttpResponse::Created().json(HoldView {
        hold_id: row.id,
        provider_id: row.provider_id,
        provider_name: row.provider_name,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        expires_at: row.hold_expires_at.unwrap_or(row.ends_at),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookBody {
    pub service_id: Uuid,
    /// Omitted: the least-loaded free provider (ADR 0021).
    pub provider_id: Option<Uuid>,
    pub starts_at: DateTime<FixedOffset>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub source: Option<String>,
    pub call_id: Option<Uuid>,
    pub notes: Option<String>,
    pub hold_id: Option<Uuid>,
}

/// Book, idempotent on `Idempotency-Key` (voice sends Vapi's `toolCallId`): `201` with the new
/// appointment, `200` with the earlier one on a replay.
#[utoipa::path(post, path = "/internal/v1/orgs/{org_id}/appointments", tag = "internal", request_body = BookBody,
    params(("org_id" = Uuid, Path, description = "the org"),
        ("Idempotency-Key" = Option<String>, Header, description = "the same key and body return the same appointment")),
    security(("service" = [])),
    responses((status = 201, body = AppointmentView), (status = 200, description = "replay of the same key and body", body = AppointmentView),
        (status = 404, description = "no such service or provider"),
        (status = 409, description = "appointment_overlap, with `alternatives` (next open slots) and `timezone`"),
        (status = 422, description = "invalid_field, invalid_header, idempotency_key_reused, starts_at_in_past, slot_not_offered, service_inactive, provider_not_eligible or no_provider")))]
#[tracing::instrument(skip_all, fields(org = %org, caller = %caller.name))]
pub async fn book(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    org: web::Path<OrgId>,
    req: HttpRequest,
    body: Json<BookBody>,
) -> Result<HttpResponse, ApiError> {
    let key = req
        .headers()
        .get("idempotency-key")
        .map(|v| IdempotencyKey::parse(v.as_bytes()))
        .transpose()?;
    let b = body.into_inner();
    let source = b.source.unwrap_or_else(|| "voice".into());
    if !matches!(source.as_str(), "voice" | "api") {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("source"),
            "source must be voice or api",
        ));
    }
    let c = Contact::validate(b.contact_name, b.contact_phone, b.contact_email, b.notes)?;
    let r = BookRequest {
        service_id: b.service_id,
        provider_id: b.provider_id,
        starts_at: b.starts_at.with_timezone(&Utc),
        contact_name: c.name,
        contact_phone: c.phone,
        contact_email: c.email,
        source,
        call_id: b.call_id,
        notes: c.notes,
        hold_id: b.hold_id,
    };
    Ok(
        match booking::book(&st.db, org.into_inner(), r, key, true).await? {
            Booked::Created(z) => HttpResponse::Created().json(AppointmentView::from(z)),
            Booked::Replayed(z) => HttpResponse::Ok().json(AppointmentView::from(z)),
        },
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FindQuery {
    pub phone: String,
    pub upcoming: Option<bool>,
    pub limit: Option<i64>,
}

/// A caller's appointments and the clinic's zone.
#[derive(Debug, Serialize, ToSchema)]
pub struct FindAnswer {
    timezone: String,
    items: Vec<AppointmentView>,
}

/// The caller's appointments by phone (upcoming booked ones by default; at most 20, no cursor).
#[utoipa::path(get, path = "/internal/v1/orgs/{org_id}/appointments", tag = "internal",
    params(("org_id" = Uuid, Path, description = "the org"), FindQuery), security(("service" = [])),
    responses((status = 200, body = FindAnswer), (status = 422, description = "invalid_query: phone or limit")))]
#[tracing::instrument(skip_all, fields(org = %org, caller = %caller.name))]
pub async fn find_appointments(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    org: web::Path<OrgId>,
    q: web::Query<FindQuery>,
) -> Result<HttpResponse, ApiError> {
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
            vec![AppointmentStatus::Booked, AppointmentStatus::Confirmed]
        } else {
            vec![]
        },
        phone: Some(q.phone),
        limit,
        ..Default::default()
    };
    let (timezone, rows) = booking::list(&st.db, org.into_inner(), list).await?;
    Ok(HttpResponse::Ok().json(FindAnswer {
        timezone: timezone.name().to_string(),
        items: rows
            .into_iter()
            .map(|appointment| {
                AppointmentView::from(Zoned {
                    appointment,
                    timezone,
                })
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleBody {
    pub starts_at: DateTime<FixedOffset>,
}

/// Move an appointment (same id) to a time the clinic offers.
#[utoipa::path(post, path = "/internal/v1/orgs/{org_id}/appointments/{id}/reschedule", tag = "internal",
    request_body = RescheduleBody,
    params(("org_id" = Uuid, Path, description = "the org"), ("id" = Uuid, Path, description = "the appointment")),
    security(("service" = [])),
    responses((status = 200, body = AppointmentView), (status = 404, description = "no such appointment (or service)"),
        (status = 409, description = "appointment_overlap (with `alternatives` and `timezone`) or invalid_transition"),
        (status = 422, description = "invalid_field, starts_at_in_past, slot_not_offered, service_inactive, provider_not_eligible or no_provider")))]
#[tracing::instrument(skip_all, fields(org = %path.0, caller = %caller.name))]
pub async fn reschedule(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    path: web::Path<(OrgId, Uuid)>,
    body: Json<RescheduleBody>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let starts_at = body.into_inner().starts_at.with_timezone(&Utc);
    let z = booking::reschedule(&st.db, org, id, starts_at, true).await?;
    Ok(HttpResponse::Ok().json(AppointmentView::from(z)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    pub reason: Option<String>,
}

/// Cancel (the row stays, with its reason); cancelling twice is a no-op.
#[utoipa::path(post, path = "/internal/v1/orgs/{org_id}/appointments/{id}/cancel", tag = "internal",
    request_body = CancelBody,
    params(("org_id" = Uuid, Path, description = "the org"), ("id" = Uuid, Path, description = "the appointment")),
    security(("service" = [])),
    responses((status = 200, body = AppointmentView), (status = 404, description = "no such appointment"),
        (status = 409, description = "invalid_transition"), (status = 422, description = "invalid_field")))]
#[tracing::instrument(skip_all, fields(org = %path.0, caller = %caller.name))]
pub async fn cancel(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    path: web::Path<(OrgId, Uuid)>,
    body: Json<CancelBody>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let reason = cancel_reason(body.into_inner().reason)?;
    let z = booking::cancel(&st.db, org, id, reason).await?;
    Ok(HttpResponse::Ok().json(AppointmentView::from(z)))
}

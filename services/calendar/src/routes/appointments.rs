//! `/api/calendar/appointments`: book (idempotent with `Idempotency-Key`), read, list, move,
//! cancel and record the outcome. Staff and above change appointments; any role reads them.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use servicekit::page::PageRequest;
use servicekit::{ApiError, Json};
use tenancy::{Role, Tenant};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::problem::AppointmentView;
use crate::core::booking::{self, BookRequest, Booked, Zoned};
use crate::domain::appointment::{AppointmentStatus, IdempotencyKey, Transition, VISIBLE};
use crate::domain::contact::{Contact, cancel_reason, is_e164};
use crate::state::AppState;
use crate::store::appointments::ListAppointments;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppointmentRequest {
    pub service_id: Uuid,
    /// Omitted: the least-loaded free provider of the service (ADR 0021).
    pub provider_id: Option<Uuid>,
    /// RFC 3339 instant with an offset.
    #[schema(value_type = String)]
    pub starts_at: DateTime<FixedOffset>,
    pub contact_name: Option<String>,
    /// E.164, e.g. `+15550100123`.
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub notes: Option<String>,
    /// `dashboard` (default) or `api`.
    pub source: Option<String>,
    pub hold_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    #[schema(value_type = String)]
    pub starts_at: DateTime<FixedOffset>,
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    pub reason: Option<String>,
}

/// A page of appointments, and the clinic's zone their `local_start`s are in.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AppointmentPage {
    pub timezone: String,
    pub items: Vec<AppointmentView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAppointmentsQuery {
    /// Appointments starting at or after this instant.
    pub from: Option<DateTime<FixedOffset>>,
    /// … and before this one.
    pub to: Option<DateTime<FixedOffset>>,
    /// `booked`, `confirmed`, `cancelled`, `completed` or `no_show`; comma-separated for several.
    pub status: Option<String>,
    pub service_id: Option<Uuid>,
    pub provider_id: Option<Uuid>,
    /// E.164.
    pub phone: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `201` with the new appointment, or `200` with the earlier one on a replay.
fn booked_response(b: Booked) -> HttpResponse {
    match b {
        Booked::Created(v) => HttpResponse::Created().json(AppointmentView::from(v)),
        Booked::Replayed(v) => HttpResponse::Ok().json(AppointmentView::from(v)),
    }
}

fn ok(z: Zoned) -> HttpResponse {
    HttpResponse::Ok().json(AppointmentView::from(z))
}

/// Book an appointment (staff). Overlaps are refused by the database: 409 `appointment_overlap`
/// with the next open slots in `alternatives`.
#[utoipa::path(post, path = "/api/calendar/appointments", tag = "appointments", request_body = CreateAppointmentRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key and body return the same appointment")),
    security(("bearer" = [])),
    responses((status = 201, body = AppointmentView), (status = 200, description = "replay of the same key and body", body = AppointmentView),
        (status = 404, description = "no such service or provider"),
        (status = 409, description = "appointment_overlap, with `alternatives` (next open slots) and `timezone`"),
        (status = 422, description = "invalid_field, invalid_header, idempotency_key_reused, starts_at_in_past, slot_not_offered, service_inactive, provider_not_eligible or no_provider")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn create_appointment(
    st: web::Data<AppState>,
    tenant: Tenant,
    req: HttpRequest,
    body: Json<CreateAppointmentRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let key = req
        .headers()
        .get("idempotency-key")
        .map(|v| IdempotencyKey::parse(v.as_bytes()))
        .transpose()?;
    let b = body.into_inner();
    let source = b.source.unwrap_or_else(|| "dashboard".into());
    if !matches!(source.as_str(), "dashboard" | "api") {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("source"),
            "source must be dashboard or api",
        ));
    }
    let c = Contact::validate(b.contact_name, b.contact_phone, b.contact_email, b.notes)?;
    let enforce = source != "dashboard";
    let r = BookRequest {
        service_id: b.service_id,
        provider_id: b.provider_id,
        starts_at: b.starts_at.with_timezone(&Utc),
        contact_name: c.name,
        contact_phone: c.phone,
        contact_email: c.email,
        source,
        call_id: None,
        notes: c.notes,
        hold_id: b.hold_id,
    };
    Ok(booked_response(
        booking::book(&st.db, tenant.org_id(), r, key, enforce).await?,
    ))
}

/// One appointment.
#[utoipa::path(get, path = "/api/calendar/appointments/{id}", tag = "appointments",
    params(("id" = Uuid, Path, description = "the appointment")), security(("bearer" = [])),
    responses((status = 200, body = AppointmentView), (status = 404, description = "no such appointment in this org")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn get_appointment(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(ok(
        booking::get(&st.db, tenant.org_id(), id.into_inner()).await?
    ))
}

/// List appointments by start time, with filters and cursor pagination.
#[utoipa::path(get, path = "/api/calendar/appointments", tag = "appointments", params(ListAppointmentsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = AppointmentPage), (status = 422, description = "invalid_query: limit, cursor, status or phone")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn list_appointments(
    st: web::Data<AppState>,
    tenant: Tenant,
    q: web::Query<ListAppointmentsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut statuses = Vec::new();
    for s in q.status.as_deref().unwrap_or("").split(',').map(str::trim) {
        if s.is_empty() {
            continue;
        }
        match s.parse::<AppointmentStatus>() {
            Ok(st) if VISIBLE.contains(&st) => statuses.push(st),
            _ => {
                return Err(ApiError::invalid(
                    "invalid_query",
                    Some("status"),
                    "status must be booked, confirmed, cancelled, completed or no_show",
                ));
            }
        }
    }
    if q.phone.as_deref().is_some_and(|p| !is_e164(p)) {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("phone"),
            "phone must be E.164, e.g. +15550100123",
        ));
    }
    let list = ListAppointments {
        from: q.from.map(|d| d.with_timezone(&Utc)),
        to: q.to.map(|d| d.with_timezone(&Utc)),
        statuses,
        service_id: q.service_id,
        provider_id: q.provider_id,
        phone: q.phone,
        after: page.after,
        limit: page.fetch_limit(),
    };
    let (timezone, rows) = booking::list(&st.db, tenant.org_id(), list).await?;
    let page = page.page(
        rows,
        |r| (r.starts_at, r.id),
        |appointment| {
            AppointmentView::from(Zoned {
                appointment,
                timezone,
            })
        },
    );
    Ok(HttpResponse::Ok().json(AppointmentPage {
        timezone: timezone.name().to_string(),
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Move an appointment (same id); 409 `appointment_overlap` with alternatives.
#[utoipa::path(post, path = "/api/calendar/appointments/{id}/reschedule", tag = "appointments", request_body = RescheduleRequest,
    params(("id" = Uuid, Path, description = "the appointment")), security(("bearer" = [])),
    responses((status = 200, body = AppointmentView), (status = 404, description = "no such appointment in this org"),
        (status = 409, description = "appointment_overlap (with `alternatives` and `timezone`) or invalid_transition"),
        (status = 422, description = "invalid_field or starts_at_in_past")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn reschedule_appointment(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
    body: Json<RescheduleRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let z = booking::reschedule(
        &st.db,
        tenant.org_id(),
        id.into_inner(),
        body.into_inner().starts_at.with_timezone(&Utc),
        false,
    )
    .await?;
    Ok(ok(z))
}

/// Cancel (the row stays, with its reason); cancelling twice is a no-op.
#[utoipa::path(post, path = "/api/calendar/appointments/{id}/cancel", tag = "appointments", request_body = CancelRequest,
    params(("id" = Uuid, Path, description = "the appointment")), security(("bearer" = [])),
    responses((status = 200, body = AppointmentView), (status = 404, description = "no such appointment in this org"),
        (status = 409, description = "invalid_transition"), (status = 422, description = "invalid_field")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn cancel_appointment(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
    body: Json<CancelRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let reason = cancel_reason(body.into_inner().reason)?;
    Ok(ok(booking::cancel(
        &st.db,
        tenant.org_id(),
        id.into_inner(),
        reason,
    )
    .await?))
}

/// Mark a booked appointment completed.
#[utoipa::path(post, path = "/api/calendar/appointments/{id}/complete", tag = "appointments",
    params(("id" = Uuid, Path, description = "the appointment")), security(("bearer" = [])),
    responses((status = 200, body = AppointmentView), (status = 404, description = "no such appointment in this org"),
        (status = 409, description = "invalid_transition")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn complete_appointment(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let z = booking::set_outcome(
        &st.db,
        tenant.org_id(),
        id.into_inner(),
        Transition::Complete,
    )
    .await?;
    Ok(ok(z))
}

/// Mark a booked appointment as a no-show.
#[utoipa::path(post, path = "/api/calendar/appointments/{id}/no-show", tag = "appointments",
    params(("id" = Uuid, Path, description = "the appointment")), security(("bearer" = [])),
    responses((status = 200, body = AppointmentView), (status = 404, description = "no such appointment in this org"),
        (status = 409, description = "invalid_transition")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn no_show_appointment(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let z =
        booking::set_outcome(&st.db, tenant.org_id(), id.into_inner(), Transition::NoShow).await?;
    Ok(ok(z))
}

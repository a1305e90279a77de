//! `/api/calendar/appointments`: book (idempotent with `Idempotency-Key`), read, list, move,
//! cancel and record the outcome. Staff and above change appointments; any role reads them.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use servicekit::{ApiError, Json};
use tenancy::{Role, Tenant};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::AppState;
use crate::booking::{self, AppointmentView, BookRequest, Booked};
use crate::store::appointments::ListAppointments;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppointmentRequest {
    pub service_id: Uuid,
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AppointmentPage {
    pub timezone: String,
    pub items: Vec<AppointmentView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListAppointmentsQuery {
    /// Appointments starting at or after this instant.
    pub from: Option<DateTime<FixedOffset>>,
    /// … and before this one.
    pub to: Option<DateTime<FixedOffset>>,
    /// `booked`, `cancelled`, `completed` or `no_show`; comma-separated for several.
    pub status: Option<String>,
    pub service_id: Option<Uuid>,
    /// E.164.
    pub phone: Option<String>,
    /// 1–100, default 50.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Contact fields as the API takes them, checked.
pub struct Contact {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub notes: Option<String>,
}

fn trimmed(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

pub fn is_e164(p: &str) -> bool {
    let digits = p.strip_prefix('+').unwrap_or("");
    (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

pub fn validate_contact(
    name: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    notes: Option<String>,
) -> Result<Contact, ApiError> {
    let (name, phone, email, notes) = (
        trimmed(name),
        trimmed(phone),
        trimmed(email),
        trimmed(notes),
    );
    if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("contact_name"),
            "contact_name must be at most 200 characters",
        ));
    }
    if phone.as_deref().is_some_and(|p| !is_e164(p)) {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("contact_phone"),
            "contact_phone must be E.164, e.g. +15550100123",
        ));
    }
    if email.as_deref().is_some_and(|e| {
        e.len() > 320 || !e.contains('@') || e.starts_with('@') || e.ends_with('@')
    }) {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("contact_email"),
            "contact_email is not an email address",
        ));
    }
    if notes.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("notes"),
            "notes must be at most 2000 characters",
        ));
    }
    Ok(Contact {
        name,
        phone,
        email,
        notes,
    })
}

/// The `Idempotency-Key` header, when sent (1–255 visible ASCII characters).
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(v) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::invalid(
            "invalid_header",
            Some("Idempotency-Key"),
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )
    };
    let s = v.to_str().map_err(|_| bad())?.trim();
    if s.is_empty() || s.len() > 255 || !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(s.to_string()))
}

/// `201` with the new appointment, or `200` with the earlier one on a replay.
pub fn booked_response(b: Booked) -> HttpResponse {
    match b {
        Booked::Created(v) => HttpResponse::Created().json(v),
        Booked::Replayed(v) => HttpResponse::Ok().json(v),
    }
}

/// Book an appointment (staff). Overlaps are refused by the database: 409 `appointment_overlap`
/// with the next open slots in `alternatives`.
#[utoipa::path(post, path = "/api/calendar/appointments", tag = "appointments", request_body = CreateAppointmentRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key and body return the same appointment")),
    responses((status = 201, body = AppointmentView), (status = 200, description = "replay of the same key and body", body = AppointmentView),
        (status = 409, description = "appointment_overlap, with alternatives"), (status = 422, description = "invalid field, or idempotency_key_reused")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn create_appointment(
    st: web::Data<AppState>,
    tenant: Tenant,
    req: HttpRequest,
    body: Json<CreateAppointmentRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let key = idempotency_key(&req)?;
    let b = body.into_inner();
    let source = b.source.unwrap_or_else(|| "dashboard".into());
    if !matches!(source.as_str(), "dashboard" | "api") {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("source"),
            "source must be dashboard or api",
        ));
    }
    let c = validate_contact(b.contact_name, b.contact_phone, b.contact_email, b.notes)?;
    let enforce = source != "dashboard";
    let r = BookRequest {
        service_id: b.service_id,
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
    responses((status = 200, body = AppointmentView), (status = 404, description = "no such appointment in this org")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn get_appointment(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let v = booking::get(&st.db, tenant.org_id(), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// List appointments by start time, with filters and cursor pagination.
#[utoipa::path(get, path = "/api/calendar/appointments", tag = "appointments", params(ListAppointmentsQuery),
    responses((status = 200, body = AppointmentPage)))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn list_appointments(
    st: web::Data<AppState>,
    tenant: Tenant,
    q: web::Query<ListAppointmentsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("limit"),
            "limit must be between 1 and 100",
        ));
    }
    let mut statuses = Vec::new();
    for s in q.status.as_deref().unwrap_or("").split(',').map(str::trim) {
        if s.is_empty() {
            continue;
        }
        if !crate::domain::appointment::VISIBLE.contains(&s) {
            return Err(ApiError::invalid(
                "invalid_query",
                Some("status"),
                "status must be booked, cancelled, completed or no_show",
            ));
        }
        statuses.push(s.to_string());
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
        phone: q.phone,
        after: q
            .cursor
            .as_deref()
            .map(servicekit::cursor::decode)
            .transpose()?,
        limit: limit + 1,
    };
    let (tz, mut items) = booking::list(&st.db, tenant.org_id(), list).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items
            .last()
            .map(|a| servicekit::cursor::encode(a.starts_at, a.id))
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(AppointmentPage {
        timezone: tz.name().to_string(),
        items,
        next_cursor,
    }))
}

/// Move an appointment (same id); 409 `appointment_overlap` with alternatives.
#[utoipa::path(post, path = "/api/calendar/appointments/{id}/reschedule", tag = "appointments", request_body = RescheduleRequest,
    responses((status = 200, body = AppointmentView), (status = 409, description = "appointment_overlap or invalid_transition")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn reschedule_appointment(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
    body: Json<RescheduleRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let v = booking::reschedule(
        &st.db,
        tenant.org_id(),
        id.into_inner(),
        body.into_inner().starts_at.with_timezone(&Utc),
        false,
    )
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

pub fn check_reason(reason: Option<String>) -> Result<Option<String>, ApiError> {
    let reason = trimmed(reason);
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("reason"),
            "reason must be at most 500 characters",
        ));
    }
    Ok(reason)
}

/// Cancel (the row stays, with its reason); cancelling twice is a no-op.
#[utoipa::path(post, path = "/api/calendar/appointments/{id}/cancel", tag = "appointments", request_body = CancelRequest,
    responses((status = 200, body = AppointmentView), (status = 404, description = "no such appointment in this org")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn cancel_appointment(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
    body: Json<CancelRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let reason = check_reason(body.into_inner().reason)?;
    let v = booking::cancel(&st.db, tenant.org_id(), id.into_inner(), reason).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Mark a booked appointment completed.
#[utoipa::path(post, path = "/api/calendar/appointments/{id}/complete", tag = "appointments",
    responses((status = 200, body = AppointmentView), (status = 409, description = "invalid_transition")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn complete_appointment(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let v = booking::set_outcome(&st.db, tenant.org_id(), id.into_inner(), "completed").await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Mark a booked appointment as a no-show.
#[utoipa::path(post, path = "/api/calendar/appointments/{id}/no-show", tag = "appointments",
    responses((status = 200, body = AppointmentView), (status = 409, description = "invalid_transition")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn no_show_appointment(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let v = booking::set_outcome(&st.db, tenant.org_id(), id.into_inner(), "no_show").await?;
    Ok(HttpResponse::Ok().json(v))
}

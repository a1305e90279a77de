//! The booking core shared by the public and the internal routes: availability, holds, booking
//! (idempotent), reschedule, cancel, outcomes. Each operation is one tenant transaction; the
//! change, its outbox event and its Google sync job commit together.

use chrono::{DateTime, Duration, Utc};
use events::{
    AppointmentBookedV1, AppointmentCancelledV1, AppointmentDetails, AppointmentRescheduledV1,
    BookingSource,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use servicekit::ApiError;
use tenancy::{Db, OrgId};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::appointment::fingerprint;
use crate::domain::availability::{Busy, Interval, Slot, SlotRules, available_slots, is_offered};
use crate::domain::settings::ClinicSettings;
use crate::store::appointments::{self as appts, AppointmentRow, NewAppointment};
use crate::store::services::{ServiceRow, find_service};
use crate::store::{google as gstore, settings as sstore};

/// The longest range one availability request may ask for.
pub const MAX_RANGE_DAYS: i64 = 62;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SlotView {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The start in the clinic's zone, with its offset.
    pub local_start: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SlotsView {
    pub timezone: String,
    pub service_id: Uuid,
    pub slots: Vec<SlotView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AppointmentView {
    pub id: Uuid,
    pub service_id: Uuid,
    pub service_name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub local_start: String,
    pub timezone: String,
    /// `booked`, `cancelled`, `completed` or `no_show`.
    pub status: String,
    pub source: String,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub call_id: Option<Uuid>,
    pub notes: Option<String>,
    pub cancel_reason: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AppointmentView {
    pub fn new(r: AppointmentRow, tz: chrono_tz::Tz) -> Self {
        AppointmentView {
            local_start: r.starts_at.with_timezone(&tz).to_rfc3339(),
            timezone: tz.name().to_string(),
            id: r.id,
            service_id: r.service_id,
            service_name: r.service_name,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            status: r.status,
            source: r.source,
            contact_name: r.contact_name,
            contact_phone: r.contact_phone,
            contact_email: r.contact_email,
            call_id: r.call_id,
            notes: r.notes,
            cancel_reason: r.cancel_reason,
            cancelled_at: r.cancelled_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn slot_view(s: &Slot, tz: chrono_tz::Tz) -> SlotView {
    SlotView {
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        local_start: s.starts_at.with_timezone(&tz).to_rfc3339(),
    }
}

/// The org's stored settings, or the defaults (UTC) before any are stored.
pub async fn effective_settings(
    conn: &mut diesel_async::AsyncPgConnection,
    org: OrgId,
) -> diesel::QueryResult<ClinicSettings> {
    Ok(sstore::find_settings(conn, org)
        .await?
        .unwrap_or_else(|| ClinicSettings::defaults(chrono_tz::UTC)))
}

fn rules(settings: &ClinicSettings, service: &ServiceRow) -> SlotRules {
    let duration = Duration::minutes(i64::from(service.duration_minutes));
    SlotRules {
        duration,
        step: settings
            .slot_interval_minutes
            .map(|m| Duration::minutes(i64::from(m)))
            .unwrap_or(duration),
        buffer_before: Duration::minutes(i64::from(service.buffer_before_minutes)),
        buffer_after: Duration::minutes(i64::from(service.buffer_after_minutes)),
        min_notice: Duration::minutes(i64::from(settings.min_notice_minutes)),
        window_days: settings.booking_window_days as u32,
    }
}

async fn active_service(
    conn: &mut diesel_async::AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> Result<ServiceRow, ApiError> {
    check_active(find_service(conn, org, id).await?)
}

fn check_active(found: Option<ServiceRow>) -> Result<ServiceRow, ApiError> {
    match found {
        Some(s) if s.active => Ok(s),
        Some(_) => Err(ApiError::invalid(
            "service_inactive",
            Some("service_id"),
            "this service is not bookable",
        )),
        None => Err(ApiError::not_found("service")),
    }
}

/// Slots of `service` starting in `[from, to)`, minus appointments, live holds and Google busy
/// time (`except` leaves one appointment out: the one being moved).
async fn slots_in_tx(
    conn: &mut diesel_async::AsyncPgConnection,
    org: OrgId,
    service_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    except: Option<Uuid>,
) -> Result<(ClinicSettings, Vec<Slot>), ApiError> {
    // Four independent reads, pipelined on the one connection. Busy time matters as far as a
    // buffer (≤ 240 min) and an appointment (≤ 1440 min) reach past the range.
    let reach = Duration::minutes(240 + 1440);
    let c: &diesel_async::AsyncPgConnection = conn;
    let (service, stored, blocks, external) = futures_util::try_join!(
        find_service(c, org, service_id),
        sstore::find_settings(c, org),
        appts::blocks_between(c, org, from - reach, to + reach, except),
        appts::external_busy_between(c, org, from - reach, to + reach),
    )?;
    let service = check_active(service)?;
    let settings = stored.unwrap_or_else(|| ClinicSettings::defaults(chrono_tz::UTC));
    let rules = rules(&settings, &service);
    let busy = Busy { blocks, external };
    let slots = available_slots(&settings.schedule(), &rules, from, to, Utc::now(), &busy);
    Ok((settings, slots))
}

pub fn check_range(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), ApiError> {
    if to <= from {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("to"),
            "to must be after from",
        ));
    }
    if to - from > Duration::days(MAX_RANGE_DAYS) {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("to"),
            format!("a range may span at most {MAX_RANGE_DAYS} days"),
        ));
    }
    Ok(())
}

pub async fn availability(
    db: &Db,
    org: OrgId,
    service_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<SlotsView, ApiError> {
    check_range(from, to)?;
    let (settings, slots) = db
        .tenant_tx(org, |tx| {
            Box::pin(async move { slots_in_tx(tx, org, service_id, from, to, None).await })
        })
        .await?;
    let tz = settings.timezone;
    Ok(SlotsView {
        timezone: tz.name().to_string(),
        service_id,
        slots: slots.iter().map(|s| slot_view(s, tz)).collect(),
    })
}

/// The first `count` open slots starting at or after `after`, looking week by week up to the
/// end of the booking window.
async fn next_slots_in_tx(
    conn: &mut diesel_async::AsyncPgConnection,
    org: OrgId,
    service_id: Uuid,
    after: DateTime<Utc>,
    count: usize,
    except: Option<Uuid>,
) -> Result<(ClinicSettings, Vec<Slot>), ApiError> {
    let mut out = Vec::new();
    let mut from = after;
    let mut settings = None;
    for _ in 0..106 {
        let to = from + Duration::days(7);
        let (s, slots) = slots_in_tx(conn, org, service_id, from, to, except).await?;
        out.extend(slots.into_iter().take(count - out.len()));
        let window_end = Utc::now() + Duration::days(i64::from(s.booking_window_days) + 1);
        settings = Some(s);
        if out.len() >= count || to > window_end {
            break;
        }
        from = to;
    }
    let settings = match settings {
        Some(s) => s,
        None => effective_settings(conn, org).await?,
    };
    Ok((settings, out))
}

pub async fn next_slots(
    db: &Db,
    org: OrgId,
    service_id: Uuid,
    after: DateTime<Utc>,
    count: usize,
) -> Result<SlotsView, ApiError> {
    let (settings, slots) = db
        .tenant_tx(org, |tx| {
            Box::pin(async move { next_slots_in_tx(tx, org, service_id, after, count, None).await })
        })
        .await?;
    let tz = settings.timezone;
    Ok(SlotsView {
        timezone: tz.name().to_string(),
        service_id,
        slots: slots.iter().map(|s| slot_view(s, tz)).collect(),
    })
}

/// A 409 whose body carries the next open slots (`alternatives`) and the clinic's zone.
async fn conflict_with_alternatives(
    db: &Db,
    org: OrgId,
    code: &'static str,
    detail: &str,
    service_id: Uuid,
    after: DateTime<Utc>,
    except: Option<Uuid>,
) -> ApiError {
    let alternatives = db
        .tenant_tx(org, |tx| {
            Box::pin(async move { next_slots_in_tx(tx, org, service_id, after, 3, except).await })
        })
        .await;
    let (tz, alternatives) = match alternatives {
        Ok((s, slots)) => (
            s.timezone,
            slots.iter().map(|x| slot_view(x, s.timezone)).collect(),
        ),
        Err(_) => (chrono_tz::UTC, Vec::new()),
    };
    let mut extra = serde_json::Map::new();
    extra.insert("alternatives".into(), json!(alternatives));
    extra.insert("timezone".into(), json!(tz.name()));
    ApiError::Conflict {
        code,
        detail: detail.into(),
        extra: Some(extra),
    }
}

fn overlap_marker() -> ApiError {
    ApiError::Conflict {
        code: "appointment_overlap",
        detail: "that time was just taken".into(),
        extra: None,
    }
}

fn details(r: &AppointmentRow, tz: chrono_tz::Tz) -> AppointmentDetails {
    AppointmentDetails {
        appointment_id: r.id,
        service_id: r.service_id,
        service_name: r.service_name.clone(),
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        timezone: tz.name().to_string(),
        contact_name: r.contact_name.clone(),
        contact_phone: r.contact_phone.clone(),
        source: match r.source.as_str() {
            "voice" => BookingSource::Voice,
            "dashboard" => BookingSource::Dashboard,
            "google" => BookingSource::Google,
            _ => BookingSource::Api,
        },
        call_id: r.call_id,
    }
}

fn block_of(start: DateTime<Utc>, end: DateTime<Utc>, before: i32, after: i32) -> Interval {
    Interval {
        start: start - Duration::minutes(i64::from(before)),
        end: end + Duration::minutes(i64::from(after)),
    }
}

fn not_in_past(starts_at: DateTime<Utc>) -> Result<(), ApiError> {
    if starts_at <= Utc::now() {
        return Err(ApiError::invalid(
            "starts_at_in_past",
            Some("starts_at"),
            "starts_at is in the past",
        ));
    }
    Ok(())
}

fn offered(
    settings: &ClinicSettings,
    service: &ServiceRow,
    starts_at: DateTime<Utc>,
) -> Result<(), ApiError> {
    if is_offered(
        &settings.schedule(),
        &rules(settings, service),
        starts_at,
        Utc::now(),
    ) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "slot_not_offered",
            Some("starts_at"),
            "the clinic does not offer this start time (hours, notice, window or grid)",
        ))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HoldView {
    pub hold_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Holds a slot for the clinic's hold time; the hold blocks the slot in the same constraint.
pub async fn hold(
    db: &Db,
    org: OrgId,
    service_id: Uuid,
    starts_at: DateTime<Utc>,
    contact_phone: Option<String>,
) -> Result<HoldView, ApiError> {
    not_in_past(starts_at)?;
    let r = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let service = active_service(tx, org, service_id).await?;
                let settings = effective_settings(tx, org).await?;
                offered(&settings, &service, starts_at)?;
                let ends_at = starts_at + Duration::minutes(i64::from(service.duration_minutes));
                let block = block_of(
                    starts_at,
                    ends_at,
                    service.buffer_before_minutes,
                    service.buffer_after_minutes,
                );
                appts::expire_stale_holds(tx, org, block).await?;
                let new = NewAppointment {
                    org_id: org.as_uuid(),
                    service_id,
                    service_name: service.name.clone(),
                    starts_at,
                    ends_at,
                    block_start: block.start,
                    block_end: block.end,
                    buffer_before_minutes: service.buffer_before_minutes,
                    buffer_after_minutes: service.buffer_after_minutes,
                    status: "held".into(),
                    hold_expires_at: Some(
                        Utc::now() + Duration::minutes(i64::from(settings.hold_minutes)),
                    ),
                    source: "voice".into(),
                    contact_name: None,
                    contact_phone,
                    contact_email: None,
                    call_id: None,
                    notes: None,
                    idempotency_key: None,
                    request_hash: None,
                };
                appts::insert_appointment(tx, &new).await.map_err(|e| {
                    if appts::is_overlap(&e) {
                        overlap_marker()
                    } else {
                        e.into()
                    }
                })
            })
        })
        .await;
    match r {
        Ok(row) => Ok(HoldView {
            hold_id: row.id,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            expires_at: row.hold_expires_at.unwrap_or(row.ends_at),
        }),
        Err(e) if e.code() == "appointment_overlap" => Err(conflict_with_alternatives(
            db,
            org,
            "slot_unavailable",
            "that time is not available",
            service_id,
            starts_at,
            None,
        )
        .await),
        Err(e) => Err(e),
    }
}

/// What a booking asks for.
#[derive(Debug, Clone, Serialize)]
pub struct BookRequest {
    pub service_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub source: String,
    pub call_id: Option<Uuid>,
    pub notes: Option<String>,
    pub hold_id: Option<Uuid>,
}

pub enum Booked {
    Created(AppointmentView),
    /// The same idempotency key and body came before: the appointment it made.
    Replayed(AppointmentView),
}

fn key_reused() -> ApiError {
    ApiError::invalid(
        "idempotency_key_reused",
        None,
        "this Idempotency-Key was used with a different request body",
    )
}

async fn replay(
    db: &Db,
    org: OrgId,
    key: String,
    hash: String,
) -> Result<Option<AppointmentView>, ApiError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            let Some(row) = appts::find_by_idempotency_key(tx, org, &key).await? else {
                return Ok(None);
            };
            if row.request_hash.as_deref() != Some(hash.as_str()) {
                return Err(key_reused());
            }
            let tz = effective_settings(tx, org).await?.timezone;
            Ok(Some(AppointmentView::new(row, tz)))
        })
    })
    .await
}

/// Books `req` (idempotent on `key`). `enforce_schedule`: refuse a start the clinic's hours,
/// notice, window or grid do not offer (the voice agent and API clients); staff may book outside.
pub async fn book(
    db: &Db,
    org: OrgId,
    req: BookRequest,
    key: Option<String>,
    enforce_schedule: bool,
) -> Result<Booked, ApiError> {
    let hash = fingerprint(&serde_json::to_vec(&req).map_err(ApiError::internal)?);
    let (service_id, starts_at) = (req.service_id, req.starts_at);
    let r = {
        let (key, hash) = (key.clone(), hash.clone());
        db.tenant_tx::<_, ApiError, _>(org, |tx| {
            Box::pin(async move {
                // The replay lookup, the service and the settings: independent reads, pipelined;
                // a replay is answered from this same transaction.
                let c: &diesel_async::AsyncPgConnection = tx;
                let key_ref = key.as_deref();
                let (existing, service, stored) = futures_util::try_join!(
                    async move {
                        match key_ref {
                            Some(k) => appts::find_by_idempotency_key(c, org, k).await,
                            None => Ok(None),
                        }
                    },
                    find_service(c, org, req.service_id),
                    sstore::find_settings(c, org),
                )?;
                let settings = stored.unwrap_or_else(|| ClinicSettings::defaults(chrono_tz::UTC));
                if let Some(row) = existing {
                    if row.request_hash.as_deref() != Some(hash.as_str()) {
                        return Err(key_reused());
                    }
                    return Ok(Booked::Replayed(AppointmentView::new(
                        row,
                        settings.timezone,
                    )));
                }
                not_in_past(req.starts_at)?;
                let service = check_active(service)?;
                if enforce_schedule {
                    offered(&settings, &service, req.starts_at)?;
                }
                let ends_at =
                    req.starts_at + Duration::minutes(i64::from(service.duration_minutes));
                let block = block_of(
                    req.starts_at,
                    ends_at,
                    service.buffer_before_minutes,
                    service.buffer_after_minutes,
                );
                appts::expire_stale_holds(tx, org, block).await?;
                let new = NewAppointment {
                    org_id: org.as_uuid(),
                    service_id: req.service_id,
                    service_name: service.name.clone(),
                    starts_at: req.starts_at,
                    ends_at,
                    block_start: block.start,
                    block_end: block.end,
                    buffer_before_minutes: service.buffer_before_minutes,
                    buffer_after_minutes: service.buffer_after_minutes,
                    status: "booked".into(),
                    hold_expires_at: None,
                    source: req.source.clone(),
                    contact_name: req.contact_name.clone(),
                    contact_phone: req.contact_phone.clone(),
                    contact_email: req.contact_email.clone(),
                    call_id: req.call_id,
                    notes: req.notes.clone(),
                    idempotency_key: key,
                    request_hash: Some(hash),
                };
                let confirmed = match req.hold_id {
                    Some(h) => appts::confirm_hold(tx, org, h, &new).await?,
                    None => None,
                };
                let row = match confirmed {
                    Some(row) => row,
                    None => appts::insert_appointment(tx, &new).await.map_err(|e| {
                        if appts::is_overlap(&e) {
                            overlap_marker()
                        } else if appts::is_key_race(&e) {
                            ApiError::Conflict {
                                code: "idempotency_race",
                                detail: String::new(),
                                extra: None,
                            }
                        } else {
                            e.into()
                        }
                    })?,
                };
                bus::enqueue(
                    tx,
                    org,
                    &AppointmentBookedV1 {
                        appointment: details(&row, settings.timezone),
                    },
                )
                .await?;
                gstore::enqueue_sync_if_connected(tx, org, row.id).await?;
                Ok(Booked::Created(AppointmentView::new(
                    row,
                    settings.timezone,
                )))
            })
        })
        .await
    };
    match r {
        Ok(b) => Ok(b),
        Err(e) if e.code() == "appointment_overlap" => Err(conflict_with_alternatives(
            db,
            org,
            "appointment_overlap",
            "that time was just taken",
            service_id,
            starts_at,
            None,
        )
        .await),
        Err(e) if e.code() == "idempotency_race" => match key {
            Some(k) => replay(db, org, k, hash)
                .await?
                .map(Booked::Replayed)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("idempotency key vanished"))),
            None => Err(ApiError::internal(anyhow::anyhow!(
                "key race without a key"
            ))),
        },
        Err(e) => Err(e),
    }
}

fn invalid_transition(status: &str, action: &str) -> ApiError {
    ApiError::Conflict {
        code: "invalid_transition",
        detail: format!("an appointment that is {status} cannot be {action}"),
        extra: None,
    }
}

/// Moves a booked appointment to `starts_at` in place (same id, same Google event).
pub async fn reschedule(
    db: &Db,
    org: OrgId,
    id: Uuid,
    starts_at: DateTime<Utc>,
    enforce_schedule: bool,
) -> Result<AppointmentView, ApiError> {
    not_in_past(starts_at)?;
    let r = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let Some(old) = appts::lock_appointment(tx, org, id).await? else {
                    return Err(ApiError::not_found("appointment"));
                };
                if old.status != "booked" {
                    return Err(invalid_transition(&old.status, "rescheduled"));
                }
                let settings = effective_settings(tx, org).await?;
                if old.starts_at == starts_at {
                    return Ok(AppointmentView::new(old, settings.timezone));
                }
                if enforce_schedule {
                    let service = active_service(tx, org, old.service_id).await?;
                    offered(&settings, &service, starts_at)?;
                }
                let ends_at = starts_at + (old.ends_at - old.starts_at);
                let block = block_of(
                    starts_at,
                    ends_at,
                    old.buffer_before_minutes,
                    old.buffer_after_minutes,
                );
                appts::expire_stale_holds(tx, org, block).await?;
                let row = appts::update_times(tx, org, id, starts_at, ends_at, block)
                    .await
                    .map_err(|e| {
                        if appts::is_overlap(&e) {
                            overlap_marker()
                        } else {
                            e.into()
                        }
                    })?;
                bus::enqueue(
                    tx,
                    org,
                    &AppointmentRescheduledV1 {
                        appointment: details(&row, settings.timezone),
                        previous_starts_at: old.starts_at,
                        previous_ends_at: old.ends_at,
                    },
                )
                .await?;
                gstore::enqueue_sync_if_connected(tx, org, row.id).await?;
                Ok(AppointmentView::new(row, settings.timezone))
            })
        })
        .await;
    match r {
        Ok(v) => Ok(v),
        Err(e) if e.code() == "appointment_overlap" => {
            // The service is needed for alternatives; read it outside the failed transaction.
            let service_id = db
                .tenant_tx(org, |tx| {
                    Box::pin(async move {
                        Ok::<_, ApiError>(
                            appts::find_appointment(tx, org, id)
                                .await?
                                .map(|a| a.service_id),
                        )
                    })
                })
                .await?
                .ok_or_else(|| ApiError::not_found("appointment"))?;
            Err(conflict_with_alternatives(
                db,
                org,
                "appointment_overlap",
                "that time is taken",
                service_id,
                starts_at,
                Some(id),
            )
            .await)
        }
        Err(e) => Err(e),
    }
}

/// Cancels (the row stays, with its reason); cancelling twice changes nothing.
pub async fn cancel(
    db: &Db,
    org: OrgId,
    id: Uuid,
    reason: Option<String>,
) -> Result<AppointmentView, ApiError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            let Some(old) = appts::lock_appointment(tx, org, id).await? else {
                return Err(ApiError::not_found("appointment"));
            };
            let settings = effective_settings(tx, org).await?;
            match old.status.as_str() {
                "cancelled" => return Ok(AppointmentView::new(old, settings.timezone)),
                "booked" => {}
                "held" | "expired" => return Err(ApiError::not_found("appointment")),
                other => return Err(invalid_transition(other, "cancelled")),
            }
            let row = appts::set_status(tx, org, id, "cancelled", reason.as_deref()).await?;
            bus::enqueue(
                tx,
                org,
                &AppointmentCancelledV1 {
                    appointment: details(&row, settings.timezone),
                    reason: reason.clone(),
                    cancelled_at: row.cancelled_at.unwrap_or_else(Utc::now),
                },
            )
            .await?;
            gstore::enqueue_sync_if_connected(tx, org, row.id).await?;
            Ok(AppointmentView::new(row, settings.timezone))
        })
    })
    .await
}

/// Marks a booked appointment `completed` or `no_show`.
pub async fn set_outcome(
    db: &Db,
    org: OrgId,
    id: Uuid,
    outcome: &'static str,
) -> Result<AppointmentView, ApiError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            let Some(old) = appts::lock_appointment(tx, org, id).await? else {
                return Err(ApiError::not_found("appointment"));
            };
            let tz = effective_settings(tx, org).await?.timezone;
            if old.status == outcome {
                return Ok(AppointmentView::new(old, tz));
            }
            match old.status.as_str() {
                "booked" => {}
                "held" | "expired" => return Err(ApiError::not_found("appointment")),
                other => {
                    return Err(invalid_transition(
                        other,
                        if outcome == "completed" {
                            "completed"
                        } else {
                            "marked no-show"
                        },
                    ));
                }
            }
            let row = appts::set_status(tx, org, id, outcome, None).await?;
            Ok(AppointmentView::new(row, tz))
        })
    })
    .await
}

/// One appointment (holds are not appointments).
pub async fn get(db: &Db, org: OrgId, id: Uuid) -> Result<AppointmentView, ApiError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            let row = appts::find_appointment(tx, org, id)
                .await?
                .filter(|r| r.status != "held" && r.status != "expired")
                .ok_or_else(|| ApiError::not_found("appointment"))?;
            let tz = effective_settings(tx, org).await?.timezone;
            Ok(AppointmentView::new(row, tz))
        })
    })
    .await
}

/// A page of appointments and the clinic's zone.
pub async fn list(
    db: &Db,
    org: OrgId,
    q: appts::ListAppointments,
) -> Result<(chrono_tz::Tz, Vec<AppointmentView>), ApiError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            let rows = appts::list_appointments(tx, org, &q).await?;
            let tz = effective_settings(tx, org).await?.timezone;
            Ok((
                tz,
                rows.into_iter()
                    .map(|r| AppointmentView::new(r, tz))
                    .collect(),
            ))
        })
    })
    .await
}

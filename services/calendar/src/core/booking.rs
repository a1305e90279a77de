//! Holds, bookings (idempotent), reschedules, cancellations and outcomes, and reading
//! appointments back. Each change is one tenant transaction: the row, its outbox event and its
//! Google sync job commit together. Overlap is refused by the database, never by a read here.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use diesel_async::AsyncPgConnection;
use serde::Serialize;
use servicekit::db::PoolUnavailable;
use tenancy::{Db, OrgId};
use uuid::Uuid;

use crate::core::availability::{
    AvailabilityError, active_service, buffers, check_active, eligible, next_slots_in_tx,
    not_offered, offered_by,
};
use crate::core::settings::effective_settings;
use crate::domain::appointment::{
    AppointmentStatus, IdempotencyKey, Refusal, Step, Transition, fingerprint,
};
use crate::domain::availability::{Interval, NotOffered, Slot};
use crate::domain::provider::{Candidate, least_loaded};
use crate::domain::settings::ClinicSettings;
use crate::events::publish;
use crate::store::appointments::{self as appts, AppointmentRow, ListAppointments, NewAppointment};
use crate::store::google as gstore;
use crate::store::providers::{self as pstore, ProviderRow};
use crate::store::services::{ServiceRow, find_service};
use crate::store::settings as sstore;

/// The next open slots offered when a time is refused, in the clinic's zone.
#[derive(Debug, Clone)]
pub struct Alternatives {
    pub timezone: Tz,
    pub slots: Vec<Slot>,
}

#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error("appointment not found")]
    NotFound,
    #[error("starts_at is in the past")]
    StartsInPast,
    /// The clinic does not offer this start: outside its hours, inside the notice, past the
    /// window or off the grid (one code, `slot_not_offered`; the detail says which).
    #[error("the clinic does not offer this start time: {0}")]
    NotOffered(NotOffered),
    #[error("this Idempotency-Key was used with a different request body")]
    IdempotencyConflict,
    /// A booking lost the time to another one.
    #[error("that time was just taken")]
    Overlap { alternatives: Alternatives },
    /// A reschedule's new time is taken.
    #[error("that time is taken")]
    MoveOverlap { alternatives: Alternatives },
    /// A hold's time is taken (or held).
    #[error("that time is not available")]
    SlotUnavailable { alternatives: Alternatives },
    #[error("an appointment that is {from} cannot be {to}")]
    InvalidTransition {
        from: AppointmentStatus,
        to: Transition,
    },
    /// The service is unknown or not bookable.
    #[error(transparent)]
    Service(#[from] AvailabilityError),
    #[error(transparent)]
    Store(#[from] diesel::result::Error),
    #[error(transparent)]
    Pool(#[from] PoolUnavailable),
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl From<Refusal> for BookingError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::NotAnAppointment => BookingError::NotFound,
            Refusal::Invalid { from, to } => BookingError::InvalidTransition { from, to },
        }
    }
}

/// How a change's transaction ended: done, refused, or lost a race the database decided (rolled
/// back, then answered outside the failed transaction).
#[derive(Debug)]
enum Attempt {
    Refused(BookingError),
    Overlap,
    /// Every provider that could take the time is busy (by a read, before any insert).
    AllTaken,
    KeyRace,
}

macro_rules! refused_from {
    ($($e:ty),*) => {$(
        impl From<$e> for Attempt {
            fn from(e: $e) -> Self {
                Attempt::Refused(e.into())
            }
        }
    )*};
}
refused_from!(
    BookingError,
    AvailabilityError,
    Refusal,
    diesel::result::Error,
    PoolUnavailable
);

/// An appointment row and the clinic's zone it is shown in.
#[derive(Debug, Clone)]
pub struct Zoned {
    pub appointment: AppointmentRow,
    pub timezone: Tz,
}

pub enum Booked {
    Created(Zoned),
    /// The same idempotency key and body came before: the appointment it made.
    Replayed(Zoned),
}

/// What a booking asks for (its serialisation is the idempotency fingerprint).
#[derive(Debug, Clone, Serialize)]
pub struct BookRequest {
    pub service_id: Uuid,
    /// `None`: the least-loaded free provider. Left out of the fingerprint when absent, so a
    /// request replayed from before providers existed still matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Uuid>,
    pub starts_at: DateTime<Utc>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub source: String,
    pub call_id: Option<Uuid>,
    pub notes: Option<String>,
    pub hold_id: Option<Uuid>,
}

fn block_of(start: DateTime<Utc>, end: DateTime<Utc>, before: i32, after: i32) -> Interval {
    Interval {
        start: start - Duration::minutes(i64::from(before)),
        end: end + Duration::minutes(i64::from(after)),
    }
}

fn not_in_past(starts_at: DateTime<Utc>) -> Result<(), BookingError> {
    if starts_at <= Utc::now() {
        return Err(BookingError::StartsInPast);
    }
    Ok(())
}

/// The next three open slots after `after` (none, in UTC, when they cannot be read), with
/// `provider` only when one was asked for.
async fn alternatives(
    db: &Db,
    org: OrgId,
    service_id: Uuid,
    provider: Option<Uuid>,
    after: DateTime<Utc>,
    except: Option<Uuid>,
) -> Alternatives {
    let found = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                next_slots_in_tx(tx, org, service_id, provider, after, 3, except).await
            })
        })
        .await;
    match found {
        Ok((s, slots)) => Alternatives {
            timezone: s.timezone,
            slots,
        },
        Err(_) => Alternatives {
            timezone: chrono_tz::UTC,
            slots: Vec::new(),
        },
    }
}

/// The providers that may take `service` at `starts_at`: the one asked for, or every active
/// provider that provides it; when the schedule is enforced, only those whose hours offer the
/// start.
async fn offering(
    tx: &AsyncPgConnection,
    org: OrgId,
    settings: &ClinicSettings,
    service: &ServiceRow,
    requested: Option<Uuid>,
    starts_at: DateTime<Utc>,
    enforce_schedule: bool,
) -> Result<Vec<ProviderRow>, BookingError> {
    let all = pstore::all_providers(tx, org).await?;
    let eligible = eligible(all, service.id, requested)?;
    if eligible.is_empty() {
        return Err(AvailabilityError::NoProvider.into());
    }
    if !enforce_schedule {
        return Ok(eligible);
    }
    offered_by(settings, service, eligible, starts_at).map_err(BookingError::NotOffered)
}

/// The provider a booking goes to. Asked for: that one (the constraint decides). Else the
/// least-loaded rule among those free for `block` by a read (ADR 0021): fewest appointments on
/// that local date, then the provider added first, then the smaller id. `None`: every one is
/// busy.
async fn choose(
    tx: &AsyncPgConnection,
    org: OrgId,
    tz: Tz,
    offering: Vec<ProviderRow>,
    requested: Option<Uuid>,
    starts_at: DateTime<Utc>,
    block: Interval,
) -> diesel::QueryResult<Option<ProviderRow>> {
    if requested.is_some() {
        return Ok(offering.into_iter().next());
    }
    let day = starts_at.with_timezone(&tz).date_naive();
    let schedule = crate::domain::availability::Schedule {
        tz,
        weekly: Default::default(),
        overrides: Default::default(),
    };
    let (day_start, day_end) = (
        schedule.start_of_day(day),
        schedule.start_of_day(day.succ_opt().unwrap_or(day)),
    );
    let (busy, loads) = futures_util::try_join!(
        appts::blocks_between(tx, org, block.start, block.end, None),
        pstore::load_between(tx, org, day_start, day_end),
    )?;
    let candidates = offering
        .iter()
        .filter(|p| !busy.iter().any(|(b, _)| *b == p.id))
        .map(|p| Candidate {
            id: p.id,
            load: loads
                .iter()
                .find(|(id, _)| *id == p.id)
                .map(|(_, n)| *n)
                .unwrap_or(0),
            created_at: p.created_at,
        })
        .collect();
    let first = least_loaded(candidates).into_iter().next();
    Ok(first.and_then(|c| offering.into_iter().find(|p| p.id == c.id)))
}

/// Holds a slot for the clinic's hold time; the hold blocks the slot in the same constraint.
pub async fn hold(
    db: &Db,
    org: OrgId,
    service_id: Uuid,
    provider: Option<Uuid>,
    starts_at: DateTime<Utc>,
    contact_phone: Option<String>,
) -> Result<AppointmentRow, BookingError> {
    not_in_past(starts_at)?;
    let mut tries = 0;
    loop {
        let phone = contact_phone.clone();
        let r = db
            .tenant_tx(org, |tx| {
                Box::pin(async move {
                    let service = active_service(tx, org, service_id).await?;
                    let settings = effective_settings(tx, org).await?;
                    let ends_at =
                        starts_at + Duration::minutes(i64::from(service.duration_minutes));
                    let (before, after) = buffers(&settings, &service);
                    let block = block_of(starts_at, ends_at, before, after);
                    let offering =
                        offering(tx, org, &settings, &service, provider, starts_at, true).await?;
                    appts::expire_stale_holds(tx, org, block).await?;
                    let Some(chosen) = choose(
                        tx,
                        org,
                        settings.timezone,
                        offering,
                        provider,
                        starts_at,
                        block,
                    )
                    .await?
                    else {
                        return Err(Attempt::AllTaken);
                    };
                    let new = NewAppointment {
                        service_id,
                        service_name: service.name.clone(),
                        starts_at,
                        ends_at,
                        block_start: block.start,
                        block_end: block.end,
                        buffer_before_minutes: before,
                        buffer_after_minutes: after,
                        status: AppointmentStatus::Held,
                        hold_expires_at: Some(
                            Utc::now() + Duration::minutes(i64::from(settings.hold_minutes)),
                        ),
                        source: "voice".into(),
                        contact_name: None,
                        contact_phone: phone,
                        contact_email: None,
                        call_id: None,
                        notes: None,
                        idempotency_key: None,
                        request_hash: None,
                        provider_id: chosen.id,
                        provider_name: chosen.name.clone(),
                    };
                    appts::insert_appointment(tx, org, &new).await.map_err(|e| {
                        if appts::is_overlap(&e) {
                            Attempt::Overlap
                        } else {
                            e.into()
                        }
                    })
                })
            })
            .await;
        match r {
            Ok(row) => return Ok(row),
            // Another request took the provider chosen for us: choose again (the read now sees
            // its row), until every provider is taken.
            Err(Attempt::Overlap) if provider.is_none() && tries < MAX_REASSIGN => tries += 1,
            Err(Attempt::Overlap | Attempt::AllTaken | Attempt::KeyRace) => {
                return Err(BookingError::SlotUnavailable {
                    alternatives: alternatives(db, org, service_id, provider, starts_at, None)
                        .await,
                });
            }
            Err(Attempt::Refused(e)) => return Err(e),
        }
    }
}

/// How many times a booking without a requested provider is reassigned after losing its
/// provider to a concurrent booking (each retry sees the winner, so it ends when all are taken).
const MAX_REASSIGN: usize = 16;

/// The appointment an earlier request with `key` made, when its body was the same.
async fn replay(
    db: &Db,
    org: OrgId,
    key: String,
    hash: String,
) -> Result<Option<Zoned>, BookingError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            let Some(row) = appts::find_by_idempotency_key(tx, org, &key).await? else {
                return Ok(None);
            };
            if row.request_hash.as_deref() != Some(hash.as_str()) {
                return Err(BookingError::IdempotencyConflict);
            }
            let timezone = effective_settings(tx, org).await?.timezone;
            Ok(Some(Zoned {
                appointment: row,
                timezone,
            }))
        })
    })
    .await
}

/// One booking transaction (see [`book`]).
async fn book_once(
    tx: &mut AsyncPgConnection,
    org: OrgId,
    req: BookRequest,
    key: Option<String>,
    hash: String,
    enforce_schedule: bool,
) -> Result<Booked, Attempt> {
    // The replay lookup, the service and the settings: independent reads, pipelined; a replay
    // is answered from this same transaction.
    let c: &AsyncPgConnection = tx;
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
            return Err(BookingError::IdempotencyConflict.into());
        }
        return Ok(Booked::Replayed(Zoned {
            appointment: row,
            timezone: settings.timezone,
        }));
    }
    not_in_past(req.starts_at)?;
    let service = check_active(service)?;
    let offering = offering(
        tx,
        org,
        &settings,
        &service,
        req.provider_id,
        req.starts_at,
        enforce_schedule,
    )
    .await?;
    let ends_at = req.starts_at + Duration::minutes(i64::from(service.duration_minutes));
    let (before, after) = buffers(&settings, &service);
    let block = block_of(req.starts_at, ends_at, before, after);
    appts::expire_stale_holds(tx, org, block).await?;
    let mut new = NewAppointment {
        service_id: req.service_id,
        service_name: service.name.clone(),
        starts_at: req.starts_at,
        ends_at,
        block_start: block.start,
        block_end: block.end,
        buffer_before_minutes: before,
        buffer_after_minutes: after,
        status: AppointmentStatus::Booked,
        hold_expires_at: None,
        source: req.source.clone(),
        contact_name: req.contact_name.clone(),
        contact_phone: req.contact_phone.clone(),
        contact_email: req.contact_email.clone(),
        call_id: req.call_id,
        notes: req.notes.clone(),
        idempotency_key: key,
        request_hash: Some(hash),
        // Set below, once chosen (a confirmed hold keeps its own).
        provider_id: Uuid::nil(),
        provider_name: String::new(),
    };
    let confirmed = match req.hold_id {
        Some(h) => appts::confirm_hold(tx, org, h, req.provider_id, &new).await?,
        None => None,
    };
    let row = match confirmed {
        Some(row) => row,
        None => {
            let Some(chosen) = choose(
                tx,
                org,
                settings.timezone,
                offering,
                req.provider_id,
                req.starts_at,
                block,
            )
            .await?
            else {
                return Err(Attempt::AllTaken);
            };
            new.provider_id = chosen.id;
            new.provider_name = chosen.name;
            appts::insert_appointment(tx, org, &new)
                .await
                .map_err(|e| {
                    if appts::is_overlap(&e) {
                        Attempt::Overlap
                    } else if appts::is_key_race(&e) {
                        Attempt::KeyRace
                    } else {
                        e.into()
                    }
                })?
        }
    };
    bus::enqueue(tx, org, &publish::booked(&row, settings.timezone)).await?;
    gstore::enqueue_sync_if_connected(tx, org, row.id).await?;
    Ok(Booked::Created(Zoned {
        appointment: row,
        timezone: settings.timezone,
    }))
}

/// Books `req` (idempotent on `key`). `enforce_schedule`: refuse a start the provider's hours,
/// the notice, window or grid do not offer (the voice agent and API clients); staff may book
/// outside. Without `req.provider_id` the booking goes to the least-loaded free provider, and
/// is reassigned when a concurrent booking takes that one first.
pub async fn book(
    db: &Db,
    org: OrgId,
    req: BookRequest,
    key: Option<IdempotencyKey>,
    enforce_schedule: bool,
) -> Result<Booked, BookingError> {
    let body = serde_json::to_vec(&req).map_err(|e| BookingError::Internal(e.into()))?;
    let hash = fingerprint(&body);
    let key = key.map(IdempotencyKey::into_string);
    let (service_id, starts_at, provider) = (req.service_id, req.starts_at, req.provider_id);
    let mut tries = 0;
    let r = loop {
        let (req, key, hash) = (req.clone(), key.clone(), hash.clone());
        let r = db
            .tenant_tx::<_, Attempt, _>(org, |tx| {
                Box::pin(book_once(tx, org, req, key, hash, enforce_schedule))
            })
            .await;
        match r {
            Err(Attempt::Overlap) if provider.is_none() && tries < MAX_REASSIGN => tries += 1,
            other => break other,
        }
    };
    match r {
        Ok(b) => Ok(b),
        // A concurrent request with the same key may have committed first, and its row overlaps
        // ours: the exclusion constraint is checked before the key's unique index, so a lost key
        // race usually arrives as an overlap. Answer what that request made when it was this one.
        Err(Attempt::Overlap | Attempt::AllTaken) => match &key {
            Some(k) => match replay(db, org, k.clone(), hash).await? {
                Some(z) => Ok(Booked::Replayed(z)),
                None => Err(BookingError::Overlap {
                    alternatives: alternatives(db, org, service_id, provider, starts_at, None)
                        .await,
                }),
            },
            None => Err(BookingError::Overlap {
                alternatives: alternatives(db, org, service_id, provider, starts_at, None).await,
            }),
        },
        // A concurrent request with the same key committed first: answer what it made.
        Err(Attempt::KeyRace) => match key {
            Some(k) => replay(db, org, k, hash)
                .await?
                .map(Booked::Replayed)
                .ok_or_else(|| BookingError::Internal(anyhow::anyhow!("idempotency key vanished"))),
            None => Err(BookingError::Internal(anyhow::anyhow!(
                "key race without a key"
            ))),
        },
        Err(Attempt::Refused(e)) => Err(e),
    }
}

/// Moves a booked appointment to `starts_at` in place (same id, same Google event, same
/// provider: the provider's hours decide what is offered).
pub async fn reschedule(
    db: &Db,
    org: OrgId,
    id: Uuid,
    starts_at: DateTime<Utc>,
    enforce_schedule: bool,
) -> Result<Zoned, BookingError> {
    not_in_past(starts_at)?;
    let r = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let Some(old) = appts::lock_appointment(tx, org, id).await? else {
                    return Err(BookingError::NotFound.into());
                };
                Transition::Reschedule.from_status(old.status)?;
                let settings = effective_settings(tx, org).await?;
                if old.starts_at == starts_at {
                    return Ok(Zoned {
                        appointment: old,
                        timezone: settings.timezone,
                    });
                }
                if enforce_schedule {
                    let service = active_service(tx, org, old.service_id).await?;
                    let hours = pstore::find_provider(tx, org, old.provider_id)
                        .await?
                        .map(|p| p.hours())
                        .unwrap_or_default();
                    if let Some(why) = not_offered(&settings, &service, &hours, starts_at) {
                        return Err(BookingError::NotOffered(why).into());
                    }
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
                            Attempt::Overlap
                        } else {
                            e.into()
                        }
                    })?;
                let event =
                    publish::rescheduled(&row, settings.timezone, (old.starts_at, old.ends_at));
                bus::enqueue(tx, org, &event).await?;
                gstore::enqueue_sync_if_connected(tx, org, row.id).await?;
                Ok(Zoned {
                    appointment: row,
                    timezone: settings.timezone,
                })
            })
        })
        .await;
    match r {
        Ok(v) => Ok(v),
        Err(Attempt::Overlap | Attempt::AllTaken | Attempt::KeyRace) => {
            // The service and provider are needed for alternatives; read them outside the
            // failed transaction.
            let (service_id, provider_id) = db
                .tenant_tx(org, |tx| {
                    Box::pin(async move {
                        Ok::<_, BookingError>(
                            appts::find_appointment(tx, org, id)
                                .await?
                                .map(|a| (a.service_id, a.provider_id)),
                        )
                    })
                })
                .await?
                .ok_or(BookingError::NotFound)?;
            Err(BookingError::MoveOverlap {
                alternatives: alternatives(
                    db,
                    org,
                    service_id,
                    Some(provider_id),
                    starts_at,
                    Some(id),
                )
                .await,
            })
        }
        Err(Attempt::Refused(e)) => Err(e),
    }
}

/// Cancels (the row stays, with its reason); cancelling twice changes nothing.
pub async fn cancel(
    db: &Db,
    org: OrgId,
    id: Uuid,
    reason: Option<String>,
) -> Result<Zoned, BookingError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            let Some(old) = appts::lock_appointment(tx, org, id).await? else {
                return Err(BookingError::NotFound);
            };
            let timezone = effective_settings(tx, org).await?.timezone;
            if Transition::Cancel.from_status(old.status)? == Step::AlreadyDone {
                return Ok(Zoned {
                    appointment: old,
                    timezone,
                });
            }
            let row =
                appts::set_status(tx, org, id, AppointmentStatus::Cancelled, reason.as_deref())
                    .await?;
            bus::enqueue(tx, org, &publish::cancelled(&row, timezone, reason.clone())).await?;
            gstore::enqueue_sync_if_connected(tx, org, row.id).await?;
            Ok(Zoned {
                appointment: row,
                timezone,
            })
        })
    })
    .await
}

/// Records what happened to a booked appointment: `Complete` or `NoShow`.
pub async fn set_outcome(
    db: &Db,
    org: OrgId,
    id: Uuid,
    outcome: Transition,
) -> Result<Zoned, BookingError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            let Some(old) = appts::lock_appointment(tx, org, id).await? else {
                return Err(BookingError::NotFound);
            };
            let timezone = effective_settings(tx, org).await?.timezone;
            if outcome.from_status(old.status)? == Step::AlreadyDone {
                return Ok(Zoned {
                    appointment: old,
                    timezone,
                });
            }
            let row = appts::set_status(tx, org, id, outcome.target(), None).await?;
            // lead-scoring counts kept appointments and no-shows from these (issue 13).
            match row.status {
                AppointmentStatus::Completed => {
                    bus::enqueue(tx, org, &publish::completed(&row, timezone)).await?;
                }
                AppointmentStatus::NoShow => {
                    bus::enqueue(tx, org, &publish::missed(&row, timezone)).await?;
                }
                _ => {}
            }
            Ok(Zoned {
                appointment: row,
                timezone,
            })
        })
    })
    .await
}

/// One appointment (holds are not appointments).
pub async fn get(db: &Db, org: OrgId, id: Uuid) -> Result<Zoned, BookingError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            let row = appts::find_appointment(tx, org, id)
                .await?
                .filter(|r| r.status.is_visible())
                .ok_or(BookingError::NotFound)?;
            let timezone = effective_settings(tx, org).await?.timezone;
            Ok(Zoned {
                appointment: row,
                timezone,
            })
        })
    })
    .await
}

/// Appointments matching `q` (at most `q.limit`) and the clinic's zone.
pub async fn list(
    db: &Db,
    org: OrgId,
    q: ListAppointments,
) -> Result<(Tz, Vec<AppointmentRow>), BookingError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            let rows = appts::list_appointments(tx, org, &q).await?;
            let tz = effective_settings(tx, org).await?.timezone;
            Ok((tz, rows))
        })
    })
    .await
}

/// A patient's reply `C` (messaging's `appointment.reply_confirmed.v1`), inside the consumer's
/// transaction: a booked appointment that has not started becomes `confirmed`; anything else
/// (unknown, moved on, cancelled, past, already confirmed) is left as it is. Returns whether it
/// changed.
pub async fn confirm_by_reply(
    tx: &mut diesel_async::AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> diesel::QueryResult<bool> {
    let Some(row) = appts::lock_appointment(tx, org, id).await? else {
        return Ok(false);
    };
    if row.status != AppointmentStatus::Booked || row.starts_at <= Utc::now() {
        return Ok(false);
    }
    appts::set_status(tx, org, id, AppointmentStatus::Confirmed, None).await?;
    Ok(true)
}

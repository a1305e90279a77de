//! Open slots of a service: in a range (the dashboard, the voice agent) or the next few (the
//! voice agent, and the alternatives a refused booking offers). Reads only: appointments, live
//! holds and Google busy time, with the clinic's hours and rules.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use diesel_async::AsyncPgConnection;
use servicekit::db::PoolUnavailable;
use tenancy::{Db, OrgId};
use uuid::Uuid;

use crate::core::settings::effective_settings;
use crate::domain::availability::{
    Busy, Interval, NotOffered, Slot, SlotRules, available_slots, why_not_offered,
};
use crate::domain::provider::ProviderHours;
use crate::domain::settings::ClinicSettings;
use crate::store::appointments as appts;
use crate::store::providers::{ProviderRow, all_providers};
use crate::store::services::{ServiceRow, find_service};
use crate::store::settings as sstore;

/// The longest range one availability request may ask for.
pub const MAX_RANGE_DAYS: i64 = 62;

#[derive(Debug, thiserror::Error)]
pub enum AvailabilityError {
    #[error("to must be after from")]
    RangeInverted,
    #[error("a range may span at most {MAX_RANGE_DAYS} days")]
    RangeTooLong,
    #[error("service not found")]
    ServiceNotFound,
    #[error("this service is not bookable (inactive or archived)")]
    ServiceInactive,
    #[error("provider not found")]
    ProviderNotFound,
    #[error("this provider does not provide this service, or is inactive")]
    ProviderNotEligible,
    #[error("no active provider provides this service")]
    NoProvider,
    #[error(transparent)]
    Store(#[from] diesel::result::Error),
    #[error(transparent)]
    Pool(#[from] PoolUnavailable),
}

/// Open slots of one service, and the zone they are shown in.
#[derive(Debug, Clone)]
pub struct Slots {
    pub timezone: Tz,
    pub service_id: Uuid,
    pub slots: Vec<Slot>,
}

/// How the service's slots are cut under the clinic's rules.
pub fn rules(settings: &ClinicSettings, service: &ServiceRow) -> SlotRules {
    let buffers = buffers(settings, service);
    let duration = Duration::minutes(i64::from(service.duration_minutes));
    SlotRules {
        duration,
        step: settings
            .slot_interval_minutes
            .map(|m| Duration::minutes(i64::from(m)))
            .unwrap_or(duration),
        buffer_before: Duration::minutes(i64::from(buffers.0)),
        buffer_after: Duration::minutes(i64::from(buffers.1)),
        min_notice: Duration::minutes(i64::from(settings.min_notice_minutes)),
        // Validated to 1..=730 when stored.
        window_days: u32::try_from(settings.booking_window_days).unwrap_or(0),
    }
}

/// The (before, after) buffers of `service` in minutes: its own, else the clinic's defaults.
/// Availability and the booking's blocked range (the exclusion constraint) both use these.
pub fn buffers(settings: &ClinicSettings, service: &ServiceRow) -> (i32, i32) {
    (
        service
            .buffer_before_minutes
            .unwrap_or(settings.default_buffer_before_minutes),
        service
            .buffer_after_minutes
            .unwrap_or(settings.default_buffer_after_minutes),
    )
}

/// `None` when the provider with `hours` offers `starts_at` for `service`, else why not
/// (notice, window, hours or grid).
pub fn not_offered(
    settings: &ClinicSettings,
    service: &ServiceRow,
    hours: &ProviderHours,
    starts_at: DateTime<Utc>,
) -> Option<NotOffered> {
    why_not_offered(
        &hours.schedule(settings),
        &rules(settings, service),
        starts_at,
        Utc::now(),
    )
}

/// The providers among `eligible` that offer `starts_at`, or, when none does, the reason to
/// give (a start on some provider's hours but off its grid is `OffGrid`, not `OutsideHours`).
pub fn offered_by(
    settings: &ClinicSettings,
    service: &ServiceRow,
    eligible: Vec<ProviderRow>,
    starts_at: DateTime<Utc>,
) -> Result<Vec<ProviderRow>, NotOffered> {
    let mut reasons = Vec::new();
    let mut offered = Vec::new();
    for p in eligible {
        match not_offered(settings, service, &p.hours(), starts_at) {
            None => offered.push(p),
            Some(why) => reasons.push(why),
        }
    }
    if !offered.is_empty() {
        return Ok(offered);
    }
    Err(if reasons.contains(&NotOffered::OffGrid) {
        NotOffered::OffGrid
    } else {
        reasons.first().copied().unwrap_or(NotOffered::OutsideHours)
    })
}

/// Who may take `service`: the provider asked for (it must exist, be active and provide the
/// service), else every active provider that provides it (possibly none).
pub fn eligible(
    all: Vec<ProviderRow>,
    service_id: Uuid,
    only: Option<Uuid>,
) -> Result<Vec<ProviderRow>, AvailabilityError> {
    match only {
        Some(id) => {
            let p = all
                .into_iter()
                .find(|p| p.id == id)
                .ok_or(AvailabilityError::ProviderNotFound)?;
            if !p.active || !p.provides(service_id) {
                return Err(AvailabilityError::ProviderNotEligible);
            }
            Ok(vec![p])
        }
        None => Ok(all
            .into_iter()
            .filter(|p| p.active && p.provides(service_id))
            .collect()),
    }
}

/// Slots of one provider: its schedule, its own appointments, the clinic's Google busy time.
pub fn provider_slots(
    settings: &ClinicSettings,
    rules: &SlotRules,
    provider: &ProviderRow,
    blocks: &[(Uuid, Interval)],
    external: &[Interval],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Slot> {
    let busy = Busy {
        blocks: blocks
            .iter()
            .filter(|(p, _)| *p == provider.id)
            .map(|(_, b)| *b)
            .collect(),
        external: external.to_vec(),
    };
    available_slots(
        &provider.hours().schedule(settings),
        rules,
        from,
        to,
        Utc::now(),
        &busy,
    )
}

/// The service when it exists and is bookable (active and not archived).
pub fn check_active(found: Option<ServiceRow>) -> Result<ServiceRow, AvailabilityError> {
    match found {
        Some(s) if s.is_bookable() => Ok(s),
        Some(_) => Err(AvailabilityError::ServiceInactive),
        None => Err(AvailabilityError::ServiceNotFound),
    }
}

pub async fn active_service(
    conn: &AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> Result<ServiceRow, AvailabilityError> {
    check_active(find_service(conn, org, id).await?)
}

pub fn check_range(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), AvailabilityError> {
    if to <= from {
        return Err(AvailabilityError::RangeInverted);
    }
    if to - from > Duration::days(MAX_RANGE_DAYS) {
        return Err(AvailabilityError::RangeTooLong);
    }
    Ok(())
}

/// Slots of `service` starting in `[from, to)` with any eligible provider (or with `provider`
/// only), minus appointments, live holds and Google busy time (`except` leaves one appointment
/// out: the one being moved). A slot is offered when at least one provider is free for it.
async fn slots_in_tx(
    conn: &AsyncPgConnection,
    org: OrgId,
    service_id: Uuid,
    provider: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    except: Option<Uuid>,
) -> Result<(ClinicSettings, Vec<Slot>), AvailabilityError> {
    // Five independent reads, pipelined on the one connection. Busy time matters as far as a
    // buffer (≤ 240 min) and an appointment (≤ 1440 min) reach past the range.
    let reach = Duration::minutes(240 + 1440);
    let (service, stored, providers, blocks, external) = futures_util::try_join!(
        find_service(conn, org, service_id),
        sstore::find_settings(conn, org),
        all_providers(conn, org),
        appts::blocks_between(conn, org, from - reach, to + reach, except),
        appts::external_busy_between(conn, org, from - reach, to + reach),
    )?;
    let service = check_active(service)?;
    let settings = stored.unwrap_or_else(|| ClinicSettings::defaults(chrono_tz::UTC));
    let rules = rules(&settings, &service);
    let mut slots: Vec<Slot> = eligible(providers, service_id, provider)?
        .iter()
        .flat_map(|p| provider_slots(&settings, &rules, p, &blocks, &external, from, to))
        .collect();
    slots.sort_by_key(|s| s.starts_at);
    slots.dedup_by_key(|s| s.starts_at);
    Ok((settings, slots))
}

pub async fn availability(
    db: &Db,
    org: OrgId,
    service_id: Uuid,
    provider: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Slots, AvailabilityError> {
    check_range(from, to)?;
    let (settings, slots) = db
        .tenant_tx(org, |tx| {
            Box::pin(
                async move { slots_in_tx(tx, org, service_id, provider, from, to, None).await },
            )
        })
        .await?;
    Ok(Slots {
        timezone: settings.timezone,
        service_id,
        slots,
    })
}

/// The first `count` open slots starting at or after `after`, looking week by week up to the
/// end of the booking window.
pub async fn next_slots_in_tx(
    conn: &AsyncPgConnection,
    org: OrgId,
    service_id: Uuid,
    provider: Option<Uuid>,
    after: DateTime<Utc>,
    count: usize,
    except: Option<Uuid>,
) -> Result<(ClinicSettings, Vec<Slot>), AvailabilityError> {
    let mut out = Vec::new();
    let mut from = after;
    let mut settings = None;
    for _ in 0..106 {
        let to = from + Duration::days(7);
        let (s, slots) = slots_in_tx(conn, org, service_id, provider, from, to, except).await?;
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
    provider: Option<Uuid>,
    after: DateTime<Utc>,
    count: usize,
) -> Result<Slots, AvailabilityError> {
    let (settings, slots) = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                next_slots_in_tx(tx, org, service_id, provider, after, count, None).await
            })
        })
        .await?;
    Ok(Slots {
        timezone: settings.timezone,
        service_id,
        slots,
    })
}

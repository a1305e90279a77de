//! The Google sync worker: mirrors calendar's own changes to Google from the `google_sync_jobs`
//! outbox and refreshes Google busy time (freeBusy) into `external_busy`. A Google outage delays
//! the mirror; it never blocks or loses a booking.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ring::rand::{SecureRandom, SystemRandom};
use tenancy::{Db, OrgId};

use crate::clients::google::{EventBody, Google, GoogleError};
use crate::core::settings::effective_settings;
use crate::domain::appointment::google_event_id;
use crate::store::appointments::{self as appts, AppointmentRow};
use crate::store::google::{self as gstore, Job};

type WorkError = anyhow::Error;

/// Runs the worker until the task is dropped.
pub fn spawn_worker(google: Arc<Google>, db: Db) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let busy = match tick(&google, &db).await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "google worker tick failed");
                    false
                }
            };
            if !busy {
                tokio::time::sleep(google.client.settings.poll_interval).await;
            }
        }
    })
}

/// One pass: due sync jobs, then due busy-time refreshes. Returns how much work it found.
pub async fn tick(google: &Google, db: &Db) -> Result<usize, WorkError> {
    let lease = chrono::Duration::seconds(120);
    let jobs = db
        .system_tx(|tx| {
            Box::pin(async move {
                gstore::claim_jobs(tx, 16, lease)
                    .await
                    .map_err(WorkError::from)
            })
        })
        .await?;
    let mut done = jobs.len();
    for job in jobs {
        settle(google, db, &job, sync_one(google, db, &job).await).await?;
    }
    let next = Utc::now()
        + chrono::Duration::from_std(google.client.settings.busy_refresh)
            .unwrap_or(chrono::Duration::minutes(5));
    let orgs = db
        .system_tx(|tx| {
            Box::pin(async move {
                gstore::claim_busy_refreshes(tx, 8, next)
                    .await
                    .map_err(WorkError::from)
            })
        })
        .await?;
    done += orgs.len();
    for org in orgs {
        match refresh_busy(google, db, org).await {
            Ok(()) => {}
            Err(GoogleError::InvalidGrant) => disconnect(google, db, org).await?,
            Err(e) => {
                tracing::warn!(org = %org, error = %e, "google busy refresh failed");
                let msg = e.to_string();
                db.tenant_tx(org, |tx| {
                    Box::pin(async move {
                        gstore::set_last_error(tx, org, Some(&msg))
                            .await
                            .map_err(WorkError::from)
                    })
                })
                .await?;
            }
        }
    }
    Ok(done)
}

async fn disconnect(google: &Google, db: &Db, org: OrgId) -> Result<(), WorkError> {
    tracing::warn!(org = %org, "google refused the refresh token (invalid_grant); org disconnected");
    google.forget_token(org).await;
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            gstore::mark_disconnected(tx, org, Some("invalid_grant"))
                .await
                .map_err(WorkError::from)
        })
    })
    .await
}

/// Exponential backoff with full jitter, capped at ten minutes.
fn backoff(base: Duration, attempts: i32) -> Duration {
    let cap = Duration::from_secs(600);
    let shift = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    let exp = base.saturating_mul(1u32 << shift).min(cap);
    let mut r = [0u8; 8];
    let _ = SystemRandom::new().fill(&mut r);
    let micros = u32::try_from(u64::from_le_bytes(r) % 1_000_000).unwrap_or(0);
    let frac = f64::from(micros) / 1_000_000.0;
    exp.mul_f64(frac).max(base / 2)
}

async fn settle(
    google: &Google,
    db: &Db,
    job: &Job,
    outcome: Result<(), GoogleError>,
) -> Result<(), WorkError> {
    let org = job.org_id;
    let id = job.id;
    match outcome {
        Ok(()) => {
            db.system_tx(|tx| {
                Box::pin(async move { gstore::finish_job(tx, id).await.map_err(WorkError::from) })
            })
            .await
        }
        Err(GoogleError::InvalidGrant) => disconnect(google, db, org).await,
        Err(e) if e.is_transient() && job.attempts + 1 < google.client.settings.max_attempts => {
            if matches!(e, GoogleError::Unauthorized) {
                google.forget_token(org).await;
            }
            let delay = backoff(google.client.settings.retry_base, job.attempts);
            tracing::info!(org = %org, attempt = job.attempts + 1, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), error = %e, "google write will be retried");
            let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            let msg = e.to_string();
            db.system_tx(|tx| {
                Box::pin(async move {
                    gstore::retry_job(tx, id, at, &msg)
                        .await
                        .map_err(WorkError::from)
                })
            })
            .await
        }
        Err(e) => {
            // Never dropped silently: the job stays, failed, counted in the integration status
            // until a reconnect retries it.
            tracing::warn!(org = %org, attempts = job.attempts + 1, error = %e, "google write failed; kept as failed");
            let msg = e.to_string();
            let job_msg = msg.clone();
            db.system_tx(|tx| {
                Box::pin(async move {
                    gstore::fail_job(tx, id, &job_msg)
                        .await
                        .map_err(WorkError::from)
                })
            })
            .await?;
            db.tenant_tx(org, |tx| {
                Box::pin(async move {
                    gstore::set_last_error(tx, org, Some(&msg))
                        .await
                        .map_err(WorkError::from)
                })
            })
            .await
        }
    }
}

fn event_body(a: &AppointmentRow, tz: &str) -> EventBody {
    let who = a.contact_name.as_deref().unwrap_or("patient");
    EventBody {
        id: google_event_id(a.id),
        summary: format!("{} – {}", a.service_name, who),
        description: format!("Booked with Voxanne ({}). Appointment {}.", a.source, a.id),
        start: a.starts_at,
        end: a.ends_at,
        time_zone: tz.to_string(),
        appointment_id: a.id.to_string(),
    }
}

/// Brings Google in line with the appointment's current state (insert, patch or delete).
async fn sync_one(google: &Google, db: &Db, job: &Job) -> Result<(), GoogleError> {
    let org = job.org_id;
    let appointment = job.appointment_id;
    let loaded = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let conn = gstore::find_connection(tx, org).await?;
                let appt = appts::find_appointment(tx, org, appointment).await?;
                let tz = effective_settings(tx, org).await?.timezone;
                // A provider with its own Google calendar gets its appointments there.
                let provider_cal = match &appt {
                    Some(a) => crate::store::providers::find_provider(tx, org, a.provider_id)
                        .await?
                        .and_then(|p| p.google_calendar_id),
                    None => None,
                };
                Ok::<_, WorkError>((conn, appt, tz, provider_cal))
            })
        })
        .await
        .map_err(|e| GoogleError::Transient(format!("database: {e:#}")))?;
    let (Some(conn), Some(appt), tz, provider_cal) = loaded else {
        return Ok(()); // disconnected or purged since: nothing to mirror
    };
    if conn.status != "connected" {
        return Ok(());
    }
    let access = google.access_token(org, conn.sealed_token()).await?;
    let ev = event_body(&appt, tz.name());
    let cal = provider_cal.as_deref().unwrap_or(conn.calendar_id.as_str());
    match appt.status.as_str() {
        "cancelled" => google.client.delete_event(&access, cal, &ev.id).await?,
        "booked" | "confirmed" | "completed" | "no_show" => {
            if appt.google_synced_at.is_none() {
                match google.client.insert_event(&access, cal, &ev).await {
                    // Our deterministic id exists already (an earlier attempt landed): patch.
                    Err(GoogleError::Duplicate) => {
                        google.client.patch_event(&access, cal, &ev).await?
                    }
                    other => other?,
                }
            } else {
                match google.client.patch_event(&access, cal, &ev).await {
                    Err(GoogleError::NotFound) => {
                        google.client.insert_event(&access, cal, &ev).await?
                    }
                    other => other?,
                }
            }
        }
        _ => return Ok(()),
    }
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            appts::mark_google_synced(tx, org, appointment, Some(Utc::now()))
                .await
                .map_err(WorkError::from)
        })
    })
    .await
    .map_err(|e| GoogleError::Transient(format!("database: {e:#}")))
}

/// Google's freeBusy refuses a range longer than 90 days ("The requested time range is too long").
pub const FREE_BUSY_MAX_SPAN: chrono::Duration = chrono::Duration::days(90);

/// `[min, max)` cut into consecutive spans of at most `FREE_BUSY_MAX_SPAN`.
pub fn free_busy_spans(
    min: chrono::DateTime<Utc>,
    max: chrono::DateTime<Utc>,
) -> Vec<(chrono::DateTime<Utc>, chrono::DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut from = min;
    while from < max {
        let to = (from + FREE_BUSY_MAX_SPAN).min(max);
        out.push((from, to));
        from = to;
    }
    out
}

/// Re-reads the org's busy time for the whole booking window, in ≤ 90-day freeBusy queries.
pub async fn refresh_busy(google: &Google, db: &Db, org: OrgId) -> Result<(), GoogleError> {
    let loaded = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let conn = gstore::find_connection(tx, org).await?;
                let s = effective_settings(tx, org).await?;
                Ok::<_, WorkError>((conn, s))
            })
        })
        .await
        .map_err(|e| GoogleError::Transient(format!("database: {e:#}")))?;
    let (Some(conn), settings) = loaded else {
        return Ok(());
    };
    if conn.status != "connected" {
        return Ok(());
    }
    let access = google.access_token(org, conn.sealed_token()).await?;
    // The whole booking window (up to 730 days), asked in spans Google accepts (≤ 90 days).
    let min = Utc::now() - chrono::Duration::hours(1);
    let days = i64::from(settings.booking_window_days.max(1)) + 1;
    let max = Utc::now() + chrono::Duration::days(days);
    let mut busy = Vec::new();
    for (from, to) in free_busy_spans(min, max) {
        busy.extend(
            google
                .client
                .free_busy(&access, &conn.calendar_id, from, to)
                .await?,
        );
    }
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            gstore::replace_busy(tx, org, &busy)
                .await
                .map_err(WorkError::from)
        })
    })
    .await
    .map_err(|e| GoogleError::Transient(format!("database: {e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_busy_spans_cover_the_range_in_90_day_pieces() {
        let min = Utc::now();
        for days in [1i64, 89, 90, 91, 120, 731] {
            let max = min + chrono::Duration::days(days);
            let spans = free_busy_spans(min, max);
            assert_eq!(spans.first().unwrap().0, min);
            assert_eq!(spans.last().unwrap().1, max);
            for w in spans.windows(2) {
                assert_eq!(w[0].1, w[1].0, "no gap, no overlap");
            }
            assert!(
                spans
                    .iter()
                    .all(|(a, b)| b > a && *b - *a <= FREE_BUSY_MAX_SPAN)
            );
            assert_eq!(i64::try_from(spans.len()).unwrap(), (days + 89) / 90);
        }
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let base = Duration::from_millis(100);
        for attempt in 0..30 {
            let d = backoff(base, attempt);
            assert!(d >= base / 2, "{d:?}");
            assert!(d <= Duration::from_secs(600), "{d:?}");
        }
        let late: Duration = (0..50).map(|_| backoff(base, 8)).max().unwrap();
        assert!(late > base * 4, "{late:?}");
    }
}

//! Google Calendar: the OAuth connection (connect URL, code exchange, sealed refresh token,
//! revoke), and the worker that mirrors calendar's own changes to Google from the
//! `google_sync_jobs` outbox and refreshes Google busy time (freeBusy) into `external_busy`.
//! A Google outage delays the mirror; it never blocks or loses a booking.

pub mod client;
pub mod oauth;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ring::rand::{SecureRandom, SystemRandom};
use servicekit::crypto::{KeyRing, Sealed};
use tenancy::{Db, OrgId};
use tokio::sync::Mutex;

use crate::booking::effective_settings;
use crate::domain::appointment::google_event_id;
use crate::store::appointments::{self as appts, AppointmentRow};
use crate::store::google::{self as gstore, ConnectionRow, Job};
pub use client::{EventBody, GoogleClient, GoogleError};

/// The associated-data label of a sealed refresh token.
pub const TOKEN_PURPOSE: &str = "calendar.google_refresh_token";

/// Shared by the routes and the worker.
pub struct Google {
    pub client: GoogleClient,
    pub keys: KeyRing,
    tokens: Mutex<HashMap<OrgId, (String, Instant)>>,
}

type WorkError = anyhow::Error;

impl Google {
    pub fn new(client: GoogleClient, keys: KeyRing) -> Self {
        Google {
            client,
            keys,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    pub fn seal_refresh_token(&self, org: OrgId, token: &str) -> anyhow::Result<Sealed> {
        Ok(self
            .keys
            .encrypt(org.as_uuid(), TOKEN_PURPOSE, token.as_bytes())?)
    }

    pub fn open_refresh_token(&self, org: OrgId, conn: &ConnectionRow) -> anyhow::Result<String> {
        let (Some(key_id), Some(ciphertext)) = (
            conn.refresh_token_key_id.clone(),
            conn.refresh_token_sealed.clone(),
        ) else {
            anyhow::bail!("no refresh token stored");
        };
        let plain =
            self.keys
                .decrypt(org.as_uuid(), TOKEN_PURPOSE, &Sealed { key_id, ciphertext })?;
        Ok(String::from_utf8(plain)?)
    }

    pub async fn forget_token(&self, org: OrgId) {
        self.tokens.lock().await.remove(&org);
    }

    /// A live access token for the org: cached until a minute before expiry, else refreshed.
    async fn access_token(&self, org: OrgId, conn: &ConnectionRow) -> Result<String, GoogleError> {
        let mut cache = self.tokens.lock().await;
        if let Some((t, until)) = cache.get(&org)
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let refresh = self
            .open_refresh_token(org, conn)
            .map_err(|e| GoogleError::Permanent(format!("refresh token unreadable: {e}")))?;
        let t = self.client.refresh(&refresh).await?;
        let ttl = t.expires_in.unwrap_or(3600).clamp(60, 86_400) as u64 - 59;
        cache.insert(
            org,
            (
                t.access_token.clone(),
                Instant::now() + Duration::from_secs(ttl),
            ),
        );
        Ok(t.access_token)
    }
}

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
        let org = OrgId(org);
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
    let exp = base
        .saturating_mul(1u32 << attempts.clamp(0, 16) as u32)
        .min(cap);
    let mut r = [0u8; 8];
    let _ = SystemRandom::new().fill(&mut r);
    let frac = (u64::from_le_bytes(r) % 1_000_000) as f64 / 1_000_000.0;
    exp.mul_f64(frac).max(base / 2)
}

async fn settle(
    google: &Google,
    db: &Db,
    job: &Job,
    outcome: Result<(), GoogleError>,
) -> Result<(), WorkError> {
    let org = OrgId(job.org_id);
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
            tracing::info!(org = %org, attempt = job.attempts + 1, retry_in_ms = delay.as_millis() as u64, error = %e, "google write will be retried");
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
            tracing::warn!(org = %org, error = %e, "google write given up");
            let msg = e.to_string();
            db.system_tx(|tx| {
                Box::pin(async move { gstore::finish_job(tx, id).await.map_err(WorkError::from) })
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
    let org = OrgId(job.org_id);
    let appointment = job.appointment_id;
    let loaded = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let conn = gstore::find_connection(tx, org).await?;
                let appt = appts::find_appointment(tx, org, appointment).await?;
                let tz = effective_settings(tx, org).await?.timezone;
                Ok::<_, WorkError>((conn, appt, tz))
            })
        })
        .await
        .map_err(|e| GoogleError::Transient(format!("database: {e:#}")))?;
    let (Some(conn), Some(appt), tz) = loaded else {
        return Ok(()); // disconnected or purged since: nothing to mirror
    };
    if conn.status != "connected" {
        return Ok(());
    }
    let access = google.access_token(org, &conn).await?;
    let ev = event_body(&appt, tz.name());
    let cal = conn.calendar_id.as_str();
    match appt.status.as_str() {
        "cancelled" => google.client.delete_event(&access, cal, &ev.id).await?,
        "booked" | "completed" | "no_show" => {
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

/// Re-reads the org's busy time for the booking window (≤ 90 days, Google's freeBusy limit).
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
    let access = google.access_token(org, &conn).await?;
    let min = Utc::now() - chrono::Duration::hours(1);
    let days = i64::from(settings.booking_window_days.clamp(1, 89)) + 1;
    let max = min + chrono::Duration::days(days);
    let busy = google
        .client
        .free_busy(&access, &conn.calendar_id, min, max)
        .await?;
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

//! The clinic's time zone and opening hours, asked of calendar (their one owner) whenever a call
//! needs them; calendar's last answer is kept as the fallback for when it cannot be reached
//! (ADR 0014). With no answer ever, the zone is org.created.v1's and the hours are unknown: the
//! clinic is then never *claimed* closed.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tenancy::OrgId;

use crate::clients::calendar::Clinic;
use crate::domain::hours::ClinicHours;
use crate::domain::speak;
use crate::state::VoiceState;
use crate::store::agents::{self, Profile};
use crate::store::error::StoreError;

/// Where the zone and hours a call speaks with came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Calendar answered just now.
    Calendar,
    /// Calendar did not answer: its last answer.
    LastKnown,
    /// Calendar never answered: org.created.v1's zone, no hours.
    Unknown,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Calendar => "calendar",
            Source::LastKnown => "last_known",
            Source::Unknown => "unknown",
        }
    }
}

/// The clinic as a call sees it.
#[derive(Debug, Clone)]
pub struct ClinicNow {
    pub timezone: String,
    /// `None` when calendar never answered.
    pub hours: Option<ClinicHours>,
    pub source: Source,
}

impl ClinicNow {
    pub fn tz(&self) -> Tz {
        speak::zone(&self.timezone)
    }

    /// Whether the clinic is closed at `now` by its hours; `false` when they are unknown (a
    /// caller is never turned away on a guess).
    pub fn closed_at(&self, now: DateTime<Utc>) -> bool {
        self.hours
            .as_ref()
            .is_some_and(|h| !h.is_open(now.with_timezone(&self.tz()).naive_local()))
    }
}

/// Calendar's answer, else the last one kept in `profile`, else org.created.v1's zone.
pub fn resolve(answer: Option<&Clinic>, profile: Option<&Profile>) -> ClinicNow {
    if let Some(a) = answer {
        return ClinicNow {
            timezone: a.timezone.clone(),
            hours: Some(a.hours.clone()),
            source: Source::Calendar,
        };
    }
    let Some(p) = profile else {
        return ClinicNow {
            timezone: "UTC".into(),
            hours: None,
            source: Source::Unknown,
        };
    };
    let kept = p.clinic_synced_at.and_then(|_| {
        Some(ClinicHours {
            weekly_hours: serde_json::from_value(p.weekly_hours.clone()?).ok()?,
            date_overrides: serde_json::from_value(p.date_overrides.clone()?).ok()?,
        })
    });
    ClinicNow {
        timezone: p.timezone.clone(),
        source: if kept.is_some() {
            Source::LastKnown
        } else {
            Source::Unknown
        },
        hours: kept,
    }
}

/// Calendar's answer within `VOICE_CLINIC_LOOKUP_TIMEOUT_MS`, or `None` (logged and counted).
pub async fn ask_calendar(st: &VoiceState, org: OrgId) -> Option<Clinic> {
    let asked = tokio::time::timeout(st.settings.clinic_lookup_timeout, st.calendar.clinic(org));
    let failure = match asked.await {
        Ok(Ok(c)) if c.timezone.parse::<Tz>().is_ok() => return Some(c),
        Ok(Ok(_)) => "bad_timezone",
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the clinic lookup at calendar failed; using the last known hours");
            "error"
        }
        Err(_) => "timeout",
    };
    metrics::counter!("voice_clinic_lookup_failures_total", "reason" => failure).increment(1);
    None
}

/// Keeps calendar's answer as the last known one when it differs from what `profile` holds.
pub async fn remember(
    st: &VoiceState,
    org: OrgId,
    answer: &Clinic,
    profile: Option<&Profile>,
) -> Result<(), StoreError> {
    let weekly = serde_json::to_value(&answer.hours.weekly_hours).unwrap_or_default();
    let overrides = serde_json::to_value(&answer.hours.date_overrides).unwrap_or_default();
    let unchanged = profile.is_some_and(|p| {
        p.clinic_synced_at.is_some()
            && p.timezone == answer.timezone
            && p.weekly_hours.as_ref() == Some(&weekly)
            && p.date_overrides.as_ref() == Some(&overrides)
    });
    if unchanged || profile.is_none() {
        return Ok(());
    }
    let tz = answer.timezone.clone();
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                agents::remember_clinic(tx, org, &tz, &weekly, &overrides)
                    .await
                    .map_err(StoreError::from)
            })
        })
        .await
}

/// The clinic now, for a caller without the profile in hand (transfers, analytics): asks
/// calendar and falls back as [`resolve`] says.
pub async fn current(st: &VoiceState, org: OrgId) -> Result<ClinicNow, StoreError> {
    let (answer, profile) = tokio::join!(ask_calendar(st, org), profile(st, org));
    let profile = profile?;
    if let Some(a) = &answer
        && let Err(e) = remember(st, org, a, profile.as_ref()).await
    {
        tracing::warn!(error = %e, "keeping calendar's clinic answer failed");
    }
    Ok(resolve(answer.as_ref(), profile.as_ref()))
}

async fn profile(st: &VoiceState, org: OrgId) -> Result<Option<Profile>, StoreError> {
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                agents::find_profile(tx, org)
                    .await
                    .map_err(StoreError::from)
            })
        })
        .await
}

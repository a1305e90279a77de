//! The pipeline: new → contacted → qualified → booked → won / lost. The automatic stage is a
//! function of the contact's history and tier (so it too is order-independent). A manual move
//! (API) wins over automatic ones until an appointment event that occurred *after* it — a
//! booking, a reschedule or a kept visit — clearly supersedes it (ADR 0017); calls, messages and
//! score changes never undo a person's decision.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::features::Features;
use super::history::{AppointmentState, History};
use super::model::Tier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    New,
    Contacted,
    Qualified,
    Booked,
    Won,
    Lost,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::New => "new",
            Stage::Contacted => "contacted",
            Stage::Qualified => "qualified",
            Stage::Booked => "booked",
            Stage::Won => "won",
            Stage::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Some(match s {
            "new" => Stage::New,
            "contacted" => Stage::Contacted,
            "qualified" => Stage::Qualified,
            "booked" => Stage::Booked,
            "won" => Stage::Won,
            "lost" => Stage::Lost,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StageSource {
    Automatic,
    Manual,
}

impl StageSource {
    pub fn as_str(self) -> &'static str {
        match self {
            StageSource::Automatic => "automatic",
            StageSource::Manual => "manual",
        }
    }
}

/// The stage the events alone put a contact in, and why.
pub fn automatic(h: &History, f: &Features, tier: Tier) -> (Stage, String) {
    if f.appointments_kept > 0 {
        return (
            Stage::Won,
            format!("kept {} appointment(s)", f.appointments_kept),
        );
    }
    if f.appointments_active > 0 {
        return (Stage::Booked, format!("{} booked", f.appointment_service));
    }
    if f.wrong_number {
        return (Stage::Lost, "a wrong number".into());
    }
    if tier >= Tier::Warm && f.calls > 0 && !f.voicemail {
        return (Stage::Qualified, format!("scored {}", tier.as_str()));
    }
    let spoke = h.calls.iter().any(|c| {
        c.duration_seconds > 0
            && !c
                .ended_reason
                .as_deref()
                .unwrap_or("")
                .contains("voicemail")
    });
    if spoke || !h.appointments.is_empty() {
        return (Stage::Contacted, "spoke with the clinic".into());
    }
    (Stage::New, "first heard of".into())
}

/// Whether the automatic stage replaces the stored one: always when the stored one was set
/// automatically; over a manual move only when an appointment was booked, moved or kept after it.
pub fn automatic_applies(
    source: StageSource,
    manual_at: DateTime<Utc>,
    auto: Stage,
    h: &History,
) -> bool {
    match source {
        StageSource::Automatic => true,
        StageSource::Manual => {
            matches!(auto, Stage::Booked | Stage::Won)
                && h.appointments.iter().any(|a| {
                    matches!(a.state, AppointmentState::Booked | AppointmentState::Kept)
                        && a.changed_at > manual_at
                })
        }
    }
}

//! A contact's history: the fold of every event stored for it. The fold sorts the events by
//! `(occurred_at, event_id)` first and merges calls by call id and appointments by id (the
//! highest appointment `version` wins), so the same set of events gives the same history
//! whatever order, or how many times, they arrived in.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use events::{
    AppointmentBookedV1, AppointmentCancelledV1, AppointmentCompletedV1, AppointmentDetails,
    AppointmentMissedV1, AppointmentRescheduledV1, CallAnalysisV1, CallEndedV1, CallStartedV1,
    ContactOptedOutV1, Event, MessageDeliveredV1, MessageFailedV1, VoiceMessageTakenV1,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One stored event about a contact (its payload as received).
#[derive(Debug, Clone, PartialEq)]
pub struct LeadEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Call {
    pub call_id: Uuid,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: u32,
    pub ended_reason: Option<String>,
    pub booked: bool,
    pub analysis: Option<CallAnalysisV1>,
}

impl Call {
    /// When the call happened: its start, or its end when the start is unknown.
    pub fn at(&self) -> Option<DateTime<Utc>> {
        self.started_at.or(self.ended_at)
    }

    pub fn ended(&self) -> bool {
        self.ended_at.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentState {
    Booked,
    Cancelled,
    Kept,
    NoShow,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Appointment {
    pub appointment_id: Uuid,
    pub version: i64,
    pub state: AppointmentState,
    pub service_name: String,
    pub starts_at: DateTime<Utc>,
    pub timezone: String,
    pub call_id: Option<Uuid>,
    /// When the event that set this state occurred.
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// By start time (then id).
    pub calls: Vec<Call>,
    pub appointments: Vec<Appointment>,
    pub messages_delivered: u32,
    pub messages_failed: u32,
    /// Messages the voice agent took for the staff.
    pub messages_left: u32,
    pub opted_out_at: Option<DateTime<Utc>>,
    pub opt_out_keyword: Option<String>,
    pub name: Option<String>,
    pub first_contact_at: Option<DateTime<Utc>>,
    pub last_contact_at: Option<DateTime<Utc>>,
    /// Events that could not be read (logged by the caller; never fatal).
    pub unreadable: u32,
}

impl History {
    pub fn active_appointments(&self) -> impl Iterator<Item = &Appointment> {
        self.appointments
            .iter()
            .filter(|a| a.state == AppointmentState::Booked)
    }

    pub fn count(&self, state: AppointmentState) -> u32 {
        u32::try_from(
            self.appointments
                .iter()
                .filter(|a| a.state == state)
                .count(),
        )
        .unwrap_or(u32::MAX)
    }
}

fn decode<E: Event>(e: &LeadEvent) -> Option<E> {
    serde_json::from_value(e.payload.clone()).ok()
}

/// Same-version tie-break (only for events from before versions existed, all `version` 0):
/// the state further along wins, so the result does not depend on arrival order.
fn rank(s: AppointmentState) -> u8 {
    match s {
        AppointmentState::Booked => 0,
        AppointmentState::Cancelled => 1,
        AppointmentState::NoShow => 2,
        AppointmentState::Kept => 3,
    }
}

fn apply_appointment(
    map: &mut BTreeMap<Uuid, Appointment>,
    d: &AppointmentDetails,
    state: AppointmentState,
    at: DateTime<Utc>,
) {
    let next = Appointment {
        appointment_id: d.appointment_id,
        version: d.version,
        state,
        service_name: d.service_name.clone(),
        starts_at: d.starts_at,
        timezone: d.timezone.clone(),
        call_id: d.call_id,
        changed_at: at,
    };
    match map.get(&d.appointment_id) {
        Some(cur)
            if (cur.version, rank(cur.state), cur.changed_at)
                >= (next.version, rank(next.state), next.changed_at) => {}
        _ => {
            map.insert(d.appointment_id, next);
        }
    }
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Folds a contact's events (any order, duplicates allowed) into its history.
pub fn fold(events: &[LeadEvent]) -> History {
    let mut sorted: Vec<&LeadEvent> = events.iter().collect();
    sorted.sort_by_key(|e| (e.occurred_at, e.event_id));
    sorted.dedup_by(|a, b| a.event_id == b.event_id);

    let mut h = History::default();
    let mut calls: BTreeMap<Uuid, Call> = BTreeMap::new();
    let mut appts: BTreeMap<Uuid, Appointment> = BTreeMap::new();
    let mut delivered: BTreeMap<Uuid, ()> = BTreeMap::new();
    let mut failed: BTreeMap<Uuid, ()> = BTreeMap::new();
    let mut left: BTreeMap<Uuid, ()> = BTreeMap::new();
    for e in sorted {
        h.first_contact_at = Some(
            h.first_contact_at
                .map_or(e.occurred_at, |f| f.min(e.occurred_at)),
        );
        h.last_contact_at = Some(
            h.last_contact_at
                .map_or(e.occurred_at, |l| l.max(e.occurred_at)),
        );
        let ok = match e.event_type.as_str() {
            CallStartedV1::TYPE => decode::<CallStartedV1>(e).map(|p| {
                let c = calls.entry(p.call_id).or_default();
                c.call_id = p.call_id;
                c.started_at = c.started_at.or(Some(p.started_at));
            }),
            CallEndedV1::TYPE => decode::<CallEndedV1>(e).map(|p| {
                let c = calls.entry(p.call_id).or_default();
                c.call_id = p.call_id;
                // The end-of-call report's start is authoritative when it has one.
                c.started_at = p.started_at.or(c.started_at);
                c.ended_at = Some(p.ended_at);
                c.duration_seconds = p.duration_seconds;
                c.ended_reason = Some(p.ended_reason);
                c.booked = p.booked;
                c.analysis = p.analysis;
                if let Some(n) = non_empty(&p.caller_name) {
                    h.name = Some(n);
                }
            }),
            AppointmentBookedV1::TYPE => decode::<AppointmentBookedV1>(e).map(|p| {
                apply_appointment(
                    &mut appts,
                    &p.appointment,
                    AppointmentState::Booked,
                    e.occurred_at,
                );
                if let Some(n) = non_empty(&p.appointment.contact_name) {
                    h.name = Some(n);
                }
            }),
            AppointmentRescheduledV1::TYPE => decode::<AppointmentRescheduledV1>(e).map(|p| {
                apply_appointment(
                    &mut appts,
                    &p.appointment,
                    AppointmentState::Booked,
                    e.occurred_at,
                )
            }),
            AppointmentCancelledV1::TYPE => decode::<AppointmentCancelledV1>(e).map(|p| {
                apply_appointment(
                    &mut appts,
                    &p.appointment,
                    AppointmentState::Cancelled,
                    e.occurred_at,
                )
            }),
            AppointmentCompletedV1::TYPE => decode::<AppointmentCompletedV1>(e).map(|p| {
                apply_appointment(
                    &mut appts,
                    &p.appointment,
                    AppointmentState::Kept,
                    e.occurred_at,
                )
            }),
            AppointmentMissedV1::TYPE => decode::<AppointmentMissedV1>(e).map(|p| {
                apply_appointment(
                    &mut appts,
                    &p.appointment,
                    AppointmentState::NoShow,
                    e.occurred_at,
                )
            }),
            MessageDeliveredV1::TYPE => decode::<MessageDeliveredV1>(e).map(|p| {
                delivered.insert(p.message_id, ());
            }),
            MessageFailedV1::TYPE => decode::<MessageFailedV1>(e).map(|p| {
                failed.insert(p.message_id, ());
            }),
            VoiceMessageTakenV1::TYPE => decode::<VoiceMessageTakenV1>(e).map(|p| {
                left.insert(p.message_id, ());
                if let Some(n) = non_empty(&p.caller_name) {
                    h.name = Some(n);
                }
            }),
            ContactOptedOutV1::TYPE => decode::<ContactOptedOutV1>(e).map(|p| {
                // The first opt-out counts; a later STOP does not move the date.
                if h.opted_out_at.is_none() {
                    h.opted_out_at = Some(p.opted_out_at);
                    h.opt_out_keyword = p.keyword;
                }
            }),
            _ => None,
        };
        if ok.is_none() {
            h.unreadable = h.unreadable.saturating_add(1);
        }
    }
    // A message that failed after being reported delivered (or the reverse) counts once, failed.
    for id in failed.keys() {
        delivered.remove(id);
    }
    h.messages_delivered = u32::try_from(delivered.len()).unwrap_or(u32::MAX);
    h.messages_failed = u32::try_from(failed.len()).unwrap_or(u32::MAX);
    h.messages_left = u32::try_from(left.len()).unwrap_or(u32::MAX);
    h.calls = calls.into_values().collect();
    h.calls.sort_by_key(|c| (c.at(), c.call_id));
    h.appointments = appts.into_values().collect();
    h.appointments
        .sort_by_key(|a| (a.starts_at, a.appointment_id));
    h
}

//! The scripted calls of `tests/data/scenarios.json` turned into event envelopes. A script step
//! is one kind of happening (`call` is a call.started.v1 + call.ended.v1 pair; `booked`,
//! `rescheduled`, `cancelled`, `completed`, `missed`, `delivered`, `failed`, `message_left`,
//! `opted_out`); ids
//! named in the script (`appointment`, `call`) become stable uuids per scenario.

use chrono::{DateTime, Duration, Utc};
use events::*;
use serde::Deserialize;
use serde_json::Value;
use tenancy::OrgId;
use uuid::Uuid;

use crate::helpers::envelope;

#[derive(Debug, Deserialize)]
pub struct Script {
    pub timezone: String,
    pub scenarios: Vec<Scenario>,
}

#[derive(Debug, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub phone: String,
    pub steps: Vec<Step>,
    pub expect: Expect,
}

#[derive(Debug, Deserialize)]
pub struct Expect {
    pub tier: String,
    pub stage: String,
    pub action: String,
    /// reason code → fragments its text must contain (its evidence).
    #[serde(default)]
    pub reasons: std::collections::BTreeMap<String, Vec<String>>,
    /// reason codes that must not appear.
    #[serde(default)]
    pub not_reasons: Vec<String>,
    #[serde(default)]
    pub min_score: Option<u8>,
    #[serde(default)]
    pub max_score: Option<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Step {
    pub kind: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub call: Option<String>,
    #[serde(default)]
    pub duration: Option<u32>,
    #[serde(default)]
    pub ended_reason: Option<String>,
    #[serde(default)]
    pub booked: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub analysis: Option<CallAnalysisV1>,
    #[serde(default)]
    pub appointment: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// Only the call.ended.v1 half of a call (its call.started.v1 never arrived).
    #[serde(default)]
    pub no_start: Option<bool>,
}

pub fn load() -> Script {
    let text = include_str!("../data/scenarios.json");
    serde_json::from_str(text).unwrap()
}

fn stable(scenario: &str, key: &str) -> Uuid {
    // FNV-1a, twice with different offsets: stable across runs (std's hasher is not).
    let fnv = |seed: u64| {
        format!("{scenario}/{key}").bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let (hi, lo) = (fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4));
    Uuid::from_u128((u128::from(hi) << 64) | u128::from(lo))
}

/// The envelopes of one scenario for `org`, in script order.
pub fn envelopes(org: OrgId, tz: &str, s: &Scenario) -> Vec<Envelope> {
    let mut out = Vec::new();
    for (i, st) in s.steps.iter().enumerate() {
        let call_id = stable(&s.name, st.call.as_deref().unwrap_or(&format!("call{i}")));
        let appt_id = stable(&s.name, st.appointment.as_deref().unwrap_or("a"));
        let details = |version: i64, call: Option<Uuid>| AppointmentDetails {
            appointment_id: appt_id,
            service_id: stable(&s.name, "service"),
            service_name: st.service.clone().unwrap_or_else(|| "Cleaning".into()),
            starts_at: st.starts_at.unwrap_or(st.at + Duration::days(3)),
            ends_at: st.starts_at.unwrap_or(st.at + Duration::days(3)) + Duration::minutes(30),
            timezone: tz.to_string(),
            contact_name: st.name.clone(),
            contact_phone: Some(s.phone.clone()),
            source: BookingSource::Voice,
            call_id: call,
            version,
            provider_id: None,
            provider_name: None,
        };
        match st.kind.as_str() {
            "call" => {
                let d = st.duration.unwrap_or(60);
                if st.no_start != Some(true) {
                    out.push(envelope(
                        org,
                        &CallStartedV1 {
                            call_id,
                            vapi_call_id: format!("vapi-{call_id}"),
                            agent_id: None,
                            direction: CallDirection::Inbound,
                            caller_number: Some(s.phone.clone()),
                            started_at: st.at,
                        },
                        st.at,
                    ));
                }
                let ended = st.at + Duration::seconds(i64::from(d));
                out.push(envelope(
                    org,
                    &CallEndedV1 {
                        call_id,
                        vapi_call_id: format!("vapi-{call_id}"),
                        agent_id: None,
                        direction: CallDirection::Inbound,
                        caller_number: Some(s.phone.clone()),
                        caller_name: st.name.clone(),
                        started_at: Some(st.at),
                        ended_at: ended,
                        duration_seconds: d,
                        ended_reason: st
                            .ended_reason
                            .clone()
                            .unwrap_or_else(|| "customer-ended-call".into()),
                        booked: st.booked.unwrap_or(false),
                        success_evaluation: None,
                        analysis: st.analysis.clone(),
                    },
                    ended,
                ));
            }
            "booked" => {
                let call = st.call.as_ref().map(|c| stable(&s.name, c));
                out.push(envelope(
                    org,
                    &AppointmentBookedV1 {
                        appointment: details(st.version.unwrap_or(1), call),
                    },
                    st.at,
                ));
            }
            "rescheduled" => out.push(envelope(
                org,
                &AppointmentRescheduledV1 {
                    appointment: details(st.version.unwrap_or(2), None),
                    previous_starts_at: st.at,
                    previous_ends_at: st.at,
                },
                st.at,
            )),
            "cancelled" => out.push(envelope(
                org,
                &AppointmentCancelledV1 {
                    appointment: details(st.version.unwrap_or(2), None),
                    reason: Some("patient request".into()),
                    cancelled_at: st.at,
                },
                st.at,
            )),
            "completed" => out.push(envelope(
                org,
                &AppointmentCompletedV1 {
                    appointment: details(st.version.unwrap_or(2), None),
                    recorded_at: st.at,
                },
                st.at,
            )),
            "missed" => out.push(envelope(
                org,
                &AppointmentMissedV1 {
                    appointment: details(st.version.unwrap_or(2), None),
                    recorded_at: st.at,
                },
                st.at,
            )),
            "delivered" | "failed" => {
                let message_id = stable(&s.name, &format!("msg{i}"));
                if st.kind == "delivered" {
                    out.push(envelope(
                        org,
                        &MessageDeliveredV1 {
                            message_id,
                            to_number: s.phone.clone(),
                            channel: Channel::Sms,
                            template_key: Some("appointment_confirmation".into()),
                            delivered_at: st.at,
                        },
                        st.at,
                    ));
                } else {
                    out.push(envelope(
                        org,
                        &MessageFailedV1 {
                            message_id,
                            to_number: s.phone.clone(),
                            channel: Channel::Sms,
                            template_key: Some("appointment_reminder".into()),
                            error_code: Some("30003".into()),
                            failed_at: st.at,
                        },
                        st.at,
                    ));
                }
            }
            "message_left" => out.push(envelope(
                org,
                &VoiceMessageTakenV1 {
                    message_id: stable(&s.name, &format!("left{i}")),
                    call_id: st.call.as_ref().map(|c| stable(&s.name, c)),
                    callback_number: Some(s.phone.clone()),
                    caller_name: st.name.clone(),
                    taken_at: st.at,
                },
                st.at,
            )),
            "opted_out" => out.push(envelope(
                org,
                &ContactOptedOutV1 {
                    phone: s.phone.clone(),
                    channel: Channel::Sms,
                    keyword: Some("STOP".into()),
                    opted_out_at: st.at,
                },
                st.at,
            )),
            other => panic!("{}: unknown step kind {other}", s.name),
        }
    }
    out
}

/// The same scenario's events with fresh ids (a second org must not reuse the first's ids:
/// the inbox is keyed by event id).
pub fn with_fresh_ids(envs: &[Envelope], org: OrgId) -> Vec<Envelope> {
    envs.iter()
        .map(|e| Envelope {
            id: Uuid::new_v4(),
            org_id: org.as_uuid(),
            ..e.clone()
        })
        .collect()
}

pub fn ids(envs: &[Envelope]) -> Vec<Uuid> {
    envs.iter().map(|e| e.id).collect()
}

#[allow(dead_code)]
pub fn reason<'a>(detail: &'a Value, code: &str) -> Option<&'a Value> {
    detail["reasons"]
        .as_array()?
        .iter()
        .find(|r| r["code"] == code)
}

//! `tool-calls`: each call in `toolCallList` runs against calendar's internal API (or voice's own
//! tables for `take_message`) within the tool timeout, and its answer is stored by `toolCallId`,
//! so a retried delivery gets the stored answer without the work being done again.

use std::time::Instant;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};
use servicekit::ApiError;
use tenancy::OrgId;
use uuid::Uuid;

use crate::clients::calendar::{BookRequest, CalendarError, Service, Slot};
use crate::domain::message::{self, ToolCall};
use crate::domain::speak;
use crate::state::VoiceState;
use crate::store::agents;
use crate::store::calls;
use crate::store::numbers::Route;
use crate::webhook::apply::{self, ApplyError};

pub const TOOLS: &[&str] = &[
    "check_availability",
    "book_appointment",
    "reschedule_appointment",
    "cancel_appointment",
    "find_my_appointments",
    "take_message",
];

const UNAVAILABLE: &str = "I'm sorry, I can't reach the booking system right now. I can take a message and the clinic will call you back.";
const MESSAGE_PURPOSE: &str = "voice.call_message";

/// What one tool answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Final: said to the caller and returned again for a retried `toolCallId`.
    Result { text: String, booked: bool },
    /// Not final (bad arguments, calendar down): a retry runs the tool again.
    Error(String),
}

/// Everything a tool needs about the call it runs in.
pub struct Ctx<'a> {
    pub st: &'a VoiceState,
    pub org: OrgId,
    pub tz: Tz,
    pub call_id: Option<Uuid>,
    pub caller: Option<String>,
    pub tool_call_id: String,
}

pub async fn tool_calls(
    st: &VoiceState,
    route: Option<&Route>,
    msg: &Value,
) -> Result<Value, ApiError> {
    let list = message::tool_calls(msg);
    let Some(route) = route else {
        let results: Vec<Value> = list
            .iter()
            .map(|c| json!({ "toolCallId": c.id, "name": c.name, "error": UNAVAILABLE }))
            .collect();
        return Ok(json!({ "results": results }));
    };
    let org = super::org_of(route);
    let (r, m) = (route.clone(), msg.clone());
    let ids: Vec<String> = list.iter().map(|c| c.id.clone()).collect();
    // One transaction before the work: the call, the clinic, and answers already given.
    let (call, profile, stored, enabled) = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let call = apply::ensure_call(tx, org, Some(&r), &m).await?;
                let profile = agents::find_profile(tx, org).await?;
                let stored = calls::find_invocations(tx, org, &ids).await?;
                // The tools the call's agent has switched on (all of them without an agent).
                let enabled = match call.as_ref().and_then(|c| c.agent_id) {
                    Some(agent) => agents::find_agent(tx, org, agent)
                        .await?
                        .map(|a| a.enabled_tools),
                    None => None,
                };
                Ok::<_, ApplyError>((call, profile, stored, enabled))
            })
        })
        .await?;
    let tz = speak::zone(
        profile
            .as_ref()
            .map(|p| p.timezone.as_str())
            .unwrap_or("UTC"),
    );
    let caller = call
        .as_ref()
        .and_then(|c| {
            if c.direction == "outbound" {
                c.to_number.clone()
            } else {
                c.from_number.clone()
            }
        })
        .or_else(|| message::customer_number(msg).map(str::to_string));
    let call_id = call.map(|c| c.id);
    // The tools run concurrently, each within the tool timeout; final answers are replayed.
    let runs = list.iter().map(|tc| {
        let ctx = Ctx { st, org, tz, call_id, caller: caller.clone(), tool_call_id: tc.id.clone() };
        let done = stored.iter().find(|i| i.tool_call_id == tc.id && i.outcome == "ok").cloned();
        let allowed = enabled.as_ref().is_none_or(|e| e.contains(&tc.name));
        async move {
            if !allowed {
                let off = Outcome::Error("I'm sorry, I can't do that on this line; I can take a message for the team.".into());
                return (tc, Some((off, 0)), None);
            }
            if let Some(inv) = done {
                metrics::counter!("voice_tool_calls_total", "tool" => tool_label(&tc.name), "outcome" => "replayed").increment(1);
                return (tc, None, Some(inv));
            }
            let started = Instant::now();
            let outcome = match tokio::time::timeout(ctx.st.settings.tool_timeout, execute(&ctx, tc)).await {
                Ok(o) => o,
                Err(_) => {
                    tracing::warn!(tool = %tc.name, "tool timed out; answered with the fallback");
                    Outcome::Error(UNAVAILABLE.into())
                }
            };
            let ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
            (tc, Some((outcome, ms)), None)
        }
    });
    let ran = futures_util::future::join_all(runs).await;
    // One transaction after: every new answer stored (a racing final answer wins), bookings marked.
    let fresh: Vec<(String, String, &'static str, String, i32, bool)> = ran
        .iter()
        .filter_map(|(tc, out, _)| {
            let (outcome, ms) = out.as_ref()?;
            let (kind, text, booked) = match outcome {
                Outcome::Result { text, booked } => ("ok", speak::one_line(text), *booked),
                Outcome::Error(text) => ("error", speak::one_line(text), false),
            };
            metrics::counter!("voice_tool_calls_total", "tool" => tool_label(&tc.name), "outcome" => kind).increment(1);
            Some((tc.id.clone(), tc.name.clone(), kind, text, *ms, booked))
        })
        .collect();
    let recorded = if fresh.is_empty() {
        Vec::new()
    } else {
        st.db
            .tenant_tx(org, |tx| {
                Box::pin(async move {
                    let mut out = Vec::with_capacity(fresh.len());
                    for (id, name, kind, text, ms, booked) in &fresh {
                        let inv = calls::record_invocation(
                            tx,
                            org,
                            &calls::NewInvocation {
                                call_id,
                                tool_call_id: id,
                                name,
                                outcome: kind,
                                result: text,
                                duration_ms: *ms,
                            },
                        )
                        .await?;
                        if *booked && let Some(c) = call_id {
                            calls::mark_booked(tx, org, c).await?;
                        }
                        out.push(inv);
                    }
                    Ok::<_, ApiError>(out)
                })
            })
            .await?
    };
    let results: Vec<Value> = ran
        .iter()
        .map(|(tc, _, replayed)| {
            let inv = replayed
                .as_ref()
                .or_else(|| recorded.iter().find(|i| i.tool_call_id == tc.id));
            match inv {
                Some(inv) => {
                    let field = if inv.outcome == "ok" {
                        "result"
                    } else {
                        "error"
                    };
                    json!({ "toolCallId": tc.id, "name": tc.name, field: inv.result })
                }
                None => json!({ "toolCallId": tc.id, "name": tc.name, "error": UNAVAILABLE }),
            }
        })
        .collect();
    Ok(json!({ "results": results }))
}

fn tool_label(name: &str) -> &'static str {
    TOOLS
        .iter()
        .find(|t| **t == name)
        .copied()
        .unwrap_or("unknown")
}

async fn execute(ctx: &Ctx<'_>, tc: &ToolCall) -> Outcome {
    let args = &tc.args;
    let r = match tc.name.as_str() {
        "check_availability" => check_availability(ctx, args).await,
        "book_appointment" => book_appointment(ctx, args).await,
        "reschedule_appointment" => reschedule_appointment(ctx, args).await,
        "cancel_appointment" => cancel_appointment(ctx, args).await,
        "find_my_appointments" => find_my_appointments(ctx, args).await,
        "take_message" => take_message(ctx, args).await,
        other => Err(Outcome::Error(format!(
            "I can't do that on this line ({other} is not a tool I know)."
        ))),
    };
    r.unwrap_or_else(|o| o)
}

type ToolResult = Result<Outcome, Outcome>;

fn said(text: impl Into<String>) -> ToolResult {
    Ok(Outcome::Result {
        text: text.into(),
        booked: false,
    })
}

fn calendar_failed(e: CalendarError) -> Outcome {
    tracing::warn!(error = %e, "calendar call failed during a tool call");
    match e.code() {
        Some("not_found") => {
            Outcome::Error("I couldn't find that in the clinic's calendar.".into())
        }
        _ => Outcome::Error(UNAVAILABLE.into()),
    }
}

fn arg<'a>(args: &'a Value, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| args.get(*n).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A time the model gave: RFC 3339 with an offset, or a local wall time in the clinic's zone.
pub fn parse_time(raw: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
    .and_then(|n| tz.from_local_datetime(&n).earliest())
    .map(|t| t.with_timezone(&Utc))
}

/// The service the caller means: by id, by name (exact, then partial), or the only one there is.
async fn service(ctx: &Ctx<'_>, args: &Value) -> Result<Service, Outcome> {
    let listed = ctx
        .st
        .calendar
        .services(ctx.org.as_uuid())
        .await
        .map_err(calendar_failed)?;
    let wanted = arg(args, &["service_id", "service", "service_name"]);
    let items = listed.items;
    let found = match wanted {
        Some(w) => {
            let lw = w.to_lowercase();
            items
                .iter()
                .find(|s| s.id.to_string() == w || s.name.to_lowercase() == lw)
                .or_else(|| {
                    items.iter().find(|s| {
                        s.name.to_lowercase().contains(&lw) || lw.contains(&s.name.to_lowercase())
                    })
                })
                .cloned()
        }
        None if items.len() == 1 => items.first().cloned(),
        None => None,
    };
    found.ok_or_else(|| {
        let names: Vec<String> = items.iter().map(|s| s.name.clone()).collect();
        if names.is_empty() {
            Outcome::Error("The clinic has no services open for booking by phone.".into())
        } else {
            Outcome::Error(format!(
                "Which service would you like: {}?",
                speak::or_list(&names)
            ))
        }
    })
}

fn spoken_slots(slots: &[Slot], tz: Tz) -> String {
    let days: Vec<_> = slots
        .iter()
        .map(|s| s.starts_at.with_timezone(&tz).date_naive())
        .collect();
    if let Some(first) = days.first()
        && days.iter().all(|d| d == first)
    {
        let times: Vec<String> = slots
            .iter()
            .map(|s| speak::time_of_day(s.starts_at, tz))
            .collect();
        return format!("on {} at {}", speak::day(*first), speak::or_list(&times));
    }
    let whens: Vec<String> = slots.iter().map(|s| speak::when(s.starts_at, tz)).collect();
    format!("on {}", speak::or_list(&whens))
}

async fn check_availability(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    let svc = service(ctx, args).await?;
    let org = ctx.org.as_uuid();
    let day = arg(args, &["date", "day"])
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let slots = match day {
        Some(d) => {
            let from = speak::start_of_day(d, ctx.tz).max(Utc::now());
            let to = speak::start_of_day(d.succ_opt().unwrap_or(d), ctx.tz);
            if to <= from {
                return said(format!(
                    "{} has already passed; which day would suit you?",
                    speak::day(d)
                ));
            }
            let mut s = ctx
                .st
                .calendar
                .availability(org, svc.id, from, to)
                .await
                .map_err(calendar_failed)?
                .slots;
            s.truncate(5);
            if s.is_empty() {
                let next = ctx
                    .st
                    .calendar
                    .next_slots(org, svc.id, to, 3)
                    .await
                    .map_err(calendar_failed)?
                    .slots;
                if next.is_empty() {
                    return said(format!(
                        "There are no openings for {} on {}.",
                        svc.name,
                        speak::day(d)
                    ));
                }
                return said(format!(
                    "There are no openings for {} on {}; the next ones are {}.",
                    svc.name,
                    speak::day(d),
                    spoken_slots(&next, ctx.tz)
                ));
            }
            s
        }
        None => {
            let after = arg(args, &["after", "from", "start"])
                .and_then(|t| parse_time(t, ctx.tz))
                .unwrap_or_else(Utc::now);
            ctx.st
                .calendar
                .next_slots(org, svc.id, after, 3)
                .await
                .map_err(calendar_failed)?
                .slots
        }
    };
    if slots.is_empty() {
        return said(format!(
            "There are no openings for {} in the coming weeks.",
            svc.name
        ));
    }
    said(format!(
        "{} is available {}.",
        svc.name,
        spoken_slots(&slots, ctx.tz)
    ))
}

async fn book_appointment(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    let Some(start) =
        arg(args, &["start", "starts_at", "time", "datetime"]).and_then(|t| parse_time(t, ctx.tz))
    else {
        return Err(Outcome::Error(
            "What day and time would you like the appointment?".into(),
        ));
    };
    let svc = service(ctx, args).await?;
    let name = arg(
        args,
        &["patient_name", "name", "contact_name", "caller_name"],
    );
    let phone = arg(args, &["phone", "contact_phone", "phone_number"])
        .map(str::to_string)
        .or_else(|| ctx.caller.clone());
    let req = BookRequest {
        service_id: svc.id,
        starts_at: start,
        contact_name: name,
        contact_phone: phone.as_deref(),
        contact_email: arg(args, &["email", "contact_email"]),
        source: "voice",
        call_id: ctx.call_id,
        notes: arg(args, &["notes", "reason"]),
    };
    match ctx
        .st
        .calendar
        .book(ctx.org.as_uuid(), &ctx.tool_call_id, &req)
        .await
    {
        Ok(a) => {
            let tz = speak::zone(&a.timezone);
            let who = name.map(|n| format!(" for {n}")).unwrap_or_default();
            Ok(Outcome::Result {
                text: format!(
                    "Booked {}{who} on {}.",
                    if a.service_name.is_empty() {
                        &svc.name
                    } else {
                        &a.service_name
                    },
                    speak::when(a.starts_at, tz)
                ),
                booked: true,
            })
        }
        Err(e) if matches!(e.code(), Some("appointment_overlap" | "slot_unavailable")) => {
            let alts = e.alternatives();
            if alts.is_empty() {
                said(format!(
                    "Sorry, {} is no longer available.",
                    speak::when(start, ctx.tz)
                ))
            } else {
                said(format!(
                    "Sorry, {} is no longer available; I can offer {}.",
                    speak::when(start, ctx.tz),
                    spoken_slots(&alts[..alts.len().min(3)], ctx.tz)
                ))
            }
        }
        Err(e) => Err(calendar_failed(e)),
    }
}

/// The appointment a reschedule or cancel is about: the given id, else the caller's next one.
async fn target(ctx: &Ctx<'_>, args: &Value) -> Result<Uuid, Outcome> {
    if let Some(id) = arg(args, &["appointment_id", "id"]).and_then(|s| s.parse().ok()) {
        return Ok(id);
    }
    let Some(phone) = arg(args, &["phone"])
        .map(str::to_string)
        .or_else(|| ctx.caller.clone())
    else {
        return Err(Outcome::Error("Which appointment do you mean?".into()));
    };
    let found = ctx
        .st
        .calendar
        .find_by_phone(ctx.org.as_uuid(), &phone)
        .await
        .map_err(calendar_failed)?;
    found
        .items
        .iter()
        .find(|a| a.status == "booked")
        .map(|a| a.id)
        .ok_or_else(|| {
            Outcome::Error("I can't find an upcoming appointment for this number.".into())
        })
}

async fn reschedule_appointment(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    let Some(start) =
        arg(args, &["start", "new_start", "starts_at", "time"]).and_then(|t| parse_time(t, ctx.tz))
    else {
        return Err(Outcome::Error(
            "What new day and time would you like?".into(),
        ));
    };
    let id = target(ctx, args).await?;
    match ctx
        .st
        .calendar
        .reschedule(ctx.org.as_uuid(), id, start)
        .await
    {
        Ok(a) => said(format!(
            "Your {} is moved to {}.",
            a.service_name,
            speak::when(a.starts_at, speak::zone(&a.timezone))
        )),
        Err(e) if matches!(e.code(), Some("appointment_overlap" | "slot_unavailable")) => {
            let alts = e.alternatives();
            said(if alts.is_empty() {
                format!("Sorry, {} is not available.", speak::when(start, ctx.tz))
            } else {
                format!(
                    "Sorry, {} is not available; I can offer {}.",
                    speak::when(start, ctx.tz),
                    spoken_slots(&alts[..alts.len().min(3)], ctx.tz)
                )
            })
        }
        Err(e) => Err(calendar_failed(e)),
    }
}

async fn cancel_appointment(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    let id = target(ctx, args).await?;
    let a = ctx
        .st
        .calendar
        .cancel(ctx.org.as_uuid(), id, arg(args, &["reason"]))
        .await
        .map_err(calendar_failed)?;
    said(format!(
        "Your {} on {} is cancelled.",
        a.service_name,
        speak::when(a.starts_at, speak::zone(&a.timezone))
    ))
}

async fn find_my_appointments(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    let Some(phone) = arg(args, &["phone"])
        .map(str::to_string)
        .or_else(|| ctx.caller.clone())
    else {
        return Err(Outcome::Error(
            "Which phone number is the appointment under?".into(),
        ));
    };
    let found = ctx
        .st
        .calendar
        .find_by_phone(ctx.org.as_uuid(), &phone)
        .await
        .map_err(calendar_failed)?;
    let tz = speak::zone(&found.timezone);
    let items: Vec<String> = found
        .items
        .iter()
        .filter(|a| a.status == "booked")
        .map(|a| format!("{} on {}", a.service_name, speak::when(a.starts_at, tz)))
        .collect();
    if items.is_empty() {
        return said("I can't find any upcoming appointments for this number.");
    }
    said(format!("You have {}.", items.join(", and ")))
}

async fn take_message(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    let Some(text) = arg(args, &["message", "text", "content"]) else {
        return Err(Outcome::Error(
            "What message would you like me to pass on?".into(),
        ));
    };
    let callback = arg(args, &["callback_number", "phone"])
        .map(str::to_string)
        .or_else(|| ctx.caller.clone());
    let plain = json!({ "message": text, "name": arg(args, &["name", "caller_name"]) }).to_string();
    let org = ctx.org;
    let sealed = ctx
        .st
        .keys
        .encrypt(org.as_uuid(), MESSAGE_PURPOSE, plain.as_bytes())
        .map_err(|_| Outcome::Error(UNAVAILABLE.into()))?;
    let call_id = ctx.call_id;
    let cb = callback.clone();
    ctx.st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                calls::insert_message(tx, org, call_id, cb.as_deref(), &sealed)
                    .await
                    .map_err(ApiError::from)
            })
        })
        .await
        .map_err(|_| Outcome::Error(UNAVAILABLE.into()))?;
    said(if callback.is_some() {
        "I've passed your message to the team; they will call you back."
    } else {
        "I've passed your message to the team."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_offsets_or_local_wall_times() {
        let tz = speak::zone("America/New_York");
        assert_eq!(
            parse_time("2026-03-12T15:00:00-04:00", tz)
                .unwrap()
                .to_rfc3339(),
            "2026-03-12T19:00:00+00:00"
        );
        assert_eq!(
            parse_time("2026-03-12T15:00", tz).unwrap().to_rfc3339(),
            "2026-03-12T19:00:00+00:00"
        );
        assert_eq!(
            parse_time("2026-03-05 15:00", tz).unwrap().to_rfc3339(),
            "2026-03-05T20:00:00+00:00"
        );
        assert!(parse_time("tomorrow", tz).is_none());
    }

    #[test]
    fn slots_on_one_day_are_said_once() {
        let tz = speak::zone("America/New_York");
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let slots = vec![
            Slot {
                starts_at: at("2026-03-12T13:00:00Z"),
                ends_at: at("2026-03-12T13:30:00Z"),
            },
            Slot {
                starts_at: at("2026-03-12T13:30:00Z"),
                ends_at: at("2026-03-12T14:00:00Z"),
            },
        ];
        assert_eq!(
            spoken_slots(&slots, tz),
            "on Thursday 12 March at 9:00 AM or 9:30 AM"
        );
    }
}

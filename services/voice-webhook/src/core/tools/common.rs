//! What every tool shares: the call it runs in, its answer type, reading the model's
//! arguments, times, the service the caller means, the appointment they mean, and slots said
//! aloud.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use tenancy::OrgId;
use uuid::Uuid;

use crate::clients::calendar::{Appointment, CalendarError, Service, Slot};
use crate::domain::speak;
use crate::state::VoiceState;

pub const UNAVAILABLE: &str = "I'm sorry, I can't reach the booking system right now. I can take a message and the clinic will call you back.";

/// What one tool answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Final: said to the caller and returned again for a retried `toolCallId`.
    Result { text: String, booked: bool },
    /// Not final (bad arguments, calendar down): a retry runs the tool again.
    Error(String),
}

/// A tool's answer; `Err` short-cuts with what to say (`?` on a helper).
pub type ToolResult = Result<Outcome, Outcome>;

/// Everything a tool needs about the call it runs in.
pub struct Ctx<'a> {
    pub st: &'a VoiceState,
    pub org: OrgId,
    pub tz: Tz,
    pub call_id: Option<Uuid>,
    pub caller: Option<String>,
    pub tool_call_id: String,
}

/// A final answer that booked nothing.
pub fn said(text: impl Into<String>) -> ToolResult {
    Ok(Outcome::Result {
        text: text.into(),
        booked: false,
    })
}

/// A final answer for a calendar refusal: said as what calendar refused, never as "I can't
/// reach the booking system" (that is only for transport failures and 5xx answers).
fn refusal(text: &str) -> Outcome {
    Outcome::Result {
        text: text.into(),
        booked: false,
    }
}

/// What the caller hears when calendar failed or refused (tools speak slot refusals in more
/// detail themselves: [`not_offered`], the alternatives of a taken slot).
pub fn calendar_failed(e: CalendarError) -> Outcome {
    if e.is_unavailable() {
        tracing::warn!(error = %e, "calendar unavailable during a tool call");
        return Outcome::Error(UNAVAILABLE.into());
    }
    tracing::info!(error = %e, "calendar refused a tool call");
    match e {
        CalendarError::NotFound { .. } => refusal("I couldn't find that in the clinic's calendar."),
        CalendarError::SlotTaken { .. } => refusal("Sorry, that time is already taken."),
        CalendarError::NotOffered => refusal("Sorry, the clinic doesn't offer that time."),
        CalendarError::InPast => {
            refusal("That time has already passed; which other time would suit you?")
        }
        CalendarError::ServiceInactive => {
            refusal("Sorry, that service can't be booked by phone at the moment.")
        }
        CalendarError::InvalidTransition => refusal(
            "That appointment can't be changed any more; I can take a message for the team.",
        ),
        _ => refusal(
            "The clinic's calendar did not accept that request. I can take a message and the clinic will call you back.",
        ),
    }
}

/// What a caller whose number is withheld hears from the tools that read or change
/// appointments (they act only for the number Vapi reports).
pub const WITHHELD: &str = "I'm sorry, I can only look up or change appointments for the number you're calling from, and that number is withheld. Please call again from the number the appointment was booked with, or I can take a message for the team.";

/// What a caller hears when the appointment the model named is not one of theirs.
pub const NOT_YOURS: &str = "I can't find that appointment under the number you're calling from.";

/// The caller's number as Vapi reported it, when it is a real E.164 number (withheld callers
/// arrive without one, or as `anonymous`, `Restricted`, …).
pub fn caller_number(raw: Option<&str>) -> Option<String> {
    let n = raw?.trim();
    let digits = n.strip_prefix('+')?;
    (digits.len() >= 7 && digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| n.to_string())
}

/// Why `start` is not bookable, said as what it is: the clinic has no openings that day
/// (closed, or full), the time is outside the times it offers that day, or it is between the
/// start times offered (with the nearest ones); with `provider`, that provider's times only.
/// Falls back to a plain sentence when calendar cannot be asked.
pub async fn not_offered(
    ctx: &Ctx<'_>,
    service_id: Uuid,
    provider: Option<Uuid>,
    start: DateTime<Utc>,
) -> Outcome {
    let tz = ctx.tz;
    let d = start.with_timezone(&tz).date_naive();
    let next_day = d.succ_opt().unwrap_or(d);
    let when = speak::when(start, tz);
    let fallback = || refusal(&format!("Sorry, the clinic doesn't offer {when}."));
    let from = speak::start_of_day(d, tz).max(Utc::now());
    let to = speak::start_of_day(next_day, tz);
    let day_slots = if from < to {
        match ctx
            .st
            .calendar
            .availability(ctx.org, service_id, provider, from, to)
            .await
        {
            Ok(s) => s.slots,
            Err(_) => return fallback(),
        }
    } else {
        Vec::new()
    };
    let (Some(first), Some(last)) = (day_slots.first(), day_slots.last()) else {
        let next = match ctx
            .st
            .calendar
            .next_slots(ctx.org, service_id, provider, to.max(Utc::now()), 3)
            .await
        {
            Ok(s) => s.slots,
            Err(_) => return fallback(),
        };
        return refusal(&if next.is_empty() {
            format!("Sorry, the clinic has no openings on {}.", speak::day(d))
        } else {
            format!(
                "Sorry, the clinic has no openings on {}; the next ones are {}.",
                speak::day(d),
                spoken_slots(&next, tz)
            )
        });
    };
    if start < first.starts_at || start > last.starts_at {
        return refusal(&format!(
            "Sorry, {when} is outside the clinic's hours for booking; on {} the times offered run from {} to {}. Would {} suit you?",
            speak::day(d),
            speak::time_of_day(first.starts_at, tz),
            speak::time_of_day(last.starts_at, tz),
            if start < first.starts_at {
                speak::time_of_day(first.starts_at, tz)
            } else {
                speak::time_of_day(last.starts_at, tz)
            }
        ));
    }
    // Between offered starts: the nearest ones, in order of time.
    let mut nearest: Vec<Slot> = day_slots.clone();
    nearest.sort_by_key(|s| (s.starts_at - start).num_seconds().abs());
    nearest.truncate(2);
    nearest.sort_by_key(|s| s.starts_at);
    refusal(&format!(
        "Sorry, {when} is not one of the start times the clinic offers; the nearest are {}.",
        spoken_slots(&nearest, tz)
    ))
}

/// The first of `names` the model gave, trimmed and non-empty.
pub fn arg<'a>(args: &'a Value, names: &[&str]) -> Option<&'a str> {
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
pub async fn service(ctx: &Ctx<'_>, args: &Value) -> Result<Service, Outcome> {
    let listed = ctx
        .st
        .calendar
        .services(ctx.org)
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

/// The appointment a reschedule or cancel is about, always one of the caller's own: the id the
/// model named when it is among the caller's upcoming appointments, else the caller's next one.
/// Appointments are looked up only by the number Vapi reports; a phone number in the model's
/// arguments is never used, and another patient's id is answered like an unknown one.
pub async fn target(ctx: &Ctx<'_>, args: &Value) -> Result<Appointment, Outcome> {
    let Some(phone) = ctx.caller.as_deref() else {
        return Err(refusal(WITHHELD));
    };
    let found = ctx
        .st
        .calendar
        .find_by_phone(ctx.org, phone)
        .await
        .map_err(calendar_failed)?;
    let mut mine = found.items.into_iter().filter(Appointment::is_booked);
    match arg(args, &["appointment_id", "id"]) {
        Some(raw) => {
            let wanted: Option<Uuid> = raw.parse().ok();
            mine.find(|a| Some(a.id) == wanted)
                .ok_or_else(|| refusal(NOT_YOURS))
        }
        None => mine.next().ok_or_else(|| {
            refusal("I can't find an upcoming appointment for the number you're calling from.")
        }),
    }
}

/// Slots as said aloud: one day said once (`on Thursday 12 March at 9:00 AM or 9:30 AM`), else
/// each slot with its day.
pub fn spoken_slots(slots: &[Slot], tz: Tz) -> String {
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

/// At most the first three alternatives calendar offered.
pub fn first_three(alts: &[Slot]) -> &[Slot] {
    alts.get(..alts.len().min(3)).unwrap_or(alts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_numbers_are_callers() {
        assert_eq!(
            caller_number(Some(" +15550187722 ")).as_deref(),
            Some("+15550187722")
        );
        for withheld in [
            None,
            Some(""),
            Some("anonymous"),
            Some("Restricted"),
            Some("+1"),
            Some("+1555abc7722"),
            Some("15550187722"),
        ] {
            assert_eq!(caller_number(withheld), None, "{withheld:?}");
        }
    }

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

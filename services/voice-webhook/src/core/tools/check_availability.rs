//! `check_availability`: open times of a service, on the day the caller asked for (the next
//! ones after it when that day is full) or the next ones from now.

use chrono::Utc;
use serde_json::Value;

use crate::core::tools::common::{
    Ctx, ToolResult, arg, calendar_failed, parse_time, said, service, spoken_slots,
};
use crate::core::tools::provider::{self, with_whom};
use crate::domain::speak;

pub async fn run(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    let svc = service(ctx, args).await?;
    let provider = provider::requested(ctx, args, svc.id, &svc.name).await?;
    let pid = provider.as_ref().map(|p| p.id);
    // "Cleaning" or "Cleaning with Dr. Anika Patel".
    let what = format!(
        "{}{}",
        svc.name,
        with_whom(provider.as_ref().map(|p| p.name.as_str()))
    );
    let org = ctx.org;
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
                .availability(org, svc.id, pid, from, to)
                .await
                .map_err(calendar_failed)?
                .slots;
            s.truncate(5);
            if s.is_empty() {
                let next = ctx
                    .st
                    .calendar
                    .next_slots(org, svc.id, pid, to, 3)
                    .await
                    .map_err(calendar_failed)?
                    .slots;
                if next.is_empty() {
                    return said(format!(
                        "There are no openings for {} on {}.",
                        what,
                        speak::day(d)
                    ));
                }
                return said(format!(
                    "There are no openings for {} on {}; the next ones are {}.",
                    what,
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
                .next_slots(org, svc.id, pid, after, 3)
                .await
                .map_err(calendar_failed)?
                .slots
        }
    };
    if slots.is_empty() {
        return said(format!(
            "There are no openings for {} in the coming weeks.",
            what
        ));
    }
    said(format!(
        "{} is available {}.",
        what,
        spoken_slots(&slots, ctx.tz)
    ))
}

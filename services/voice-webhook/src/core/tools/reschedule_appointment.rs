//! `reschedule_appointment`: moves one of the caller's own appointments (the one named when it
//! is theirs, else their next) to a new time, or says why calendar refused that time: taken
//! (with calendar's alternatives), not offered (with the times that are), in the past.

use serde_json::Value;

use crate::clients::calendar::CalendarError;
use crate::core::tools::common::{
    Ctx, Outcome, ToolResult, arg, calendar_failed, first_three, not_offered, parse_time, said,
    spoken_slots, target,
};
use crate::core::tools::provider::with_whom;
use crate::domain::speak;

pub async fn run(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    let Some(start) =
        arg(args, &["start", "new_start", "starts_at", "time"]).and_then(|t| parse_time(t, ctx.tz))
    else {
        return Err(Outcome::Error(
            "What new day and time would you like?".into(),
        ));
    };
    let mine = target(ctx, args).await?;
    match ctx.st.calendar.reschedule(ctx.org, mine.id, start).await {
        Ok(a) => said(format!(
            "Your {}{} is moved to {}.",
            a.service_name,
            with_whom(a.provider_name.as_deref()),
            speak::when(a.starts_at, speak::zone(&a.timezone))
        )),
        Err(CalendarError::SlotTaken { alternatives, .. }) => said(if alternatives.is_empty() {
            format!("Sorry, {} is not available.", speak::when(start, ctx.tz))
        } else {
            format!(
                "Sorry, {} is not available; I can offer {}.",
                speak::when(start, ctx.tz),
                spoken_slots(first_three(&alternatives), ctx.tz)
            )
        }),
        Err(CalendarError::NotOffered) => match mine.service_id {
            Some(service) => Ok(not_offered(ctx, service, mine.provider_id, start).await),
            None => Err(calendar_failed(CalendarError::NotOffered)),
        },
        Err(e) => Err(calendar_failed(e)),
    }
}

//! `book_appointment`: books the time the caller accepted (the `toolCallId` is calendar's
//! idempotency key) under the number Vapi reports for the call, or says why calendar refused:
//! taken (with the alternatives calendar gives), not offered (with the times that are), in the
//! past, the service not bookable.

use serde_json::Value;

use crate::clients::calendar::{BookRequest, CalendarError};
use crate::core::tools::common::{
    Ctx, Outcome, ToolResult, arg, calendar_failed, first_three, not_offered, parse_time, said,
    service, spoken_slots,
};
use crate::core::tools::provider::{self, with_whom};
use crate::domain::speak;

pub async fn run(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    let Some(start) =
        arg(args, &["start", "starts_at", "time", "datetime"]).and_then(|t| parse_time(t, ctx.tz))
    else {
        return Err(Outcome::Error(
            "What day and time would you like the appointment?".into(),
        ));
    };
    let svc = service(ctx, args).await?;
    let provider = provider::requested(ctx, args, svc.id, &svc.name).await?;
    let provider_id = provider.as_ref().map(|p| p.id);
    let name = arg(
        args,
        &["patient_name", "name", "contact_name", "caller_name"],
    );
    // The appointment is the caller's: it is booked under the number Vapi reports, never one
    // the model names. A caller whose number is withheld may book; a number they say aloud is
    // only a note for the clinic to call back.
    let said_number = arg(args, &["phone", "contact_phone", "phone_number"]);
    let notes = match (ctx.caller.as_deref(), said_number) {
        (None, Some(n)) => Some(match arg(args, &["notes", "reason"]) {
            Some(notes) => format!("{notes} (callback number given on a withheld call: {n})"),
            None => format!("Callback number given on a withheld call: {n}"),
        }),
        _ => arg(args, &["notes", "reason"]).map(str::to_string),
    };
    let req = BookRequest {
        service_id: svc.id,
        provider_id,
        starts_at: start,
        contact_name: name,
        contact_phone: ctx.caller.as_deref(),
        contact_email: arg(args, &["email", "contact_email"]),
        source: "voice",
        call_id: ctx.call_id,
        notes: notes.as_deref(),
    };
    match ctx.st.calendar.book(ctx.org, &ctx.tool_call_id, &req).await {
        Ok(a) => {
            let tz = speak::zone(&a.timezone);
            let who = name.map(|n| format!(" for {n}")).unwrap_or_default();
            let with = with_whom(
                a.provider_name
                    .as_deref()
                    .or(provider.as_ref().map(|p| p.name.as_str())),
            );
            Ok(Outcome::Result {
                text: format!(
                    "Booked {}{who}{with} on {}.",
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
        Err(CalendarError::SlotTaken { alternatives, .. }) => {
            let with = with_whom(provider.as_ref().map(|p| p.name.as_str()));
            if alternatives.is_empty() {
                said(format!(
                    "Sorry, {}{with} is no longer available.",
                    speak::when(start, ctx.tz)
                ))
            } else {
                said(format!(
                    "Sorry, {}{with} is no longer available; I can offer {}.",
                    speak::when(start, ctx.tz),
                    spoken_slots(first_three(&alternatives), ctx.tz)
                ))
            }
        }
        Err(CalendarError::NotOffered) => Ok(not_offered(ctx, svc.id, provider_id, start).await),
        Err(CalendarError::InPast) => said(format!(
            "{} has already passed; which other time would suit you?",
            speak::when(start, ctx.tz)
        )),
        Err(CalendarError::NotFound { .. }) => said(format!(
            "Sorry, {} can no longer be booked; which other service would you like?",
            svc.name
        )),
        Err(e) => Err(calendar_failed(e)),
    }
}

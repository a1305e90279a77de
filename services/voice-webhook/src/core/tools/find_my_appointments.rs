//! `find_my_appointments`: the caller's upcoming booked appointments, by the number Vapi
//! reports for the call (never a number the model names: that would read another patient's).

use serde_json::Value;

use crate::core::tools::common::{Ctx, ToolResult, WITHHELD, calendar_failed, said};
use crate::core::tools::provider::with_whom;
use crate::domain::speak;

pub async fn run(ctx: &Ctx<'_>, _args: &Value) -> ToolResult {
    let Some(phone) = ctx.caller.as_deref() else {
        return said(WITHHELD);
    };
    let found = ctx
        .st
        .calendar
        .find_by_phone(ctx.org, phone)
        .await
        .map_err(calendar_failed)?;
    let tz = speak::zone(&found.timezone);
    let items: Vec<String> = found
        .items
        .iter()
        .filter(|a| a.is_booked())
        .take(5)
        .map(|a| {
            format!(
                "{}{} on {}",
                a.service_name,
                with_whom(a.provider_name.as_deref()),
                speak::when(a.starts_at, tz)
            )
        })
        .collect();
    if items.is_empty() {
        return said("I can't find any upcoming appointments for this number.");
    }
    said(format!("You have {}.", items.join(", and ")))
}

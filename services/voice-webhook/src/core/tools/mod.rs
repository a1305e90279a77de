//! The voice tools, one file per tool, each with the sentences it says; `common` holds what
//! they share (the call context, argument reading, the service lookup, spoken slots).

pub mod book_appointment;
pub mod cancel_appointment;
pub mod check_availability;
pub mod common;
pub mod provider;
pub mod find_my_appointments;
pub mod reschedule_appointment;
pub mod take_message;

use crate::domain::message::ToolCall;
use crate::domain::tool::Tool;

use self::common::{Ctx, Outcome};

/// Runs one tool call; an unknown tool is an error the caller hears.
pub async fn execute(ctx: &Ctx<'_>, tc: &ToolCall) -> Outcome {
    let args = &tc.args;
    let r = match Tool::from_name(&tc.name) {
        Some(Tool::CheckAvailability) => check_availability::run(ctx, args).await,
        Some(Tool::BookAppointment) => book_appointment::run(ctx, args).await,
        Some(Tool::RescheduleAppointment) => reschedule_appointment::run(ctx, args).await,
        Some(Tool::CancelAppointment) => cancel_appointment::run(ctx, args).await,
        Some(Tool::FindMyAppointments) => find_my_appointments::run(ctx, args).await,
        Some(Tool::TakeMessage) => take_message::run(ctx, args).await,
        None => Err(Outcome::Error(format!(
            "I can't do that on this line ({} is not a tool I know).",
            tc.name
        ))),
    };
    r.unwrap_or_else(|o| o)
}

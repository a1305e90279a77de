//! `take_message`: a message for the clinic's staff, sealed and stored with the call and the
//! number to call back, in the staff inbox (`core::inbox`, with `voice.message_taken.v1`).

use serde_json::Value;

use crate::core::inbox;
use crate::core::tools::common::{Ctx, Outcome, ToolResult, UNAVAILABLE, arg, said};

pub async fn run(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    let Some(text) = arg(args, &["message", "text", "content"]) else {
        return Err(Outcome::Error(
            "What message would you like me to pass on?".into(),
        ));
    };
    let callback = arg(args, &["callback_number", "phone"])
        .map(str::to_string)
        .or_else(|| ctx.caller.clone());
    inbox::record_message(
        ctx.st,
        ctx.org,
        ctx.call_id,
        callback.as_deref(),
        text,
        arg(args, &["name", "caller_name"]),
    )
    .await
    .map_err(|e| {
        tracing::warn!(error = %e, "storing a message taken on a call failed");
        Outcome::Error(UNAVAILABLE.into())
    })?;
    said(if callback.is_some() {
        "I've passed your message to the team; they will call you back."
    } else {
        "I've passed your message to the team."
    })
}

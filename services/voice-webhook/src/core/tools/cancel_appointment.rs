//! `cancel_appointment`: cancels one of the caller's own appointments (the one named when it is
//! theirs, else their next).

use serde_json::Value;

use crate::core::tools::common::{Ctx, ToolResult, arg, calendar_failed, said, target};
use crate::domain::speak;

pub async fn run(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    let mine = target(ctx, args).await?;
    let a = ctx
        .st
        .calendar
        .cancel(ctx.org, mine.id, arg(args, &["reason"]))
        .await
        .map_err(calendar_failed)?;
    said(format!(
        "Your {} on {} is cancelled.",
        a.service_name,
        speak::when(a.starts_at, speak::zone(&a.timezone))
    ))
}

//! `tool-calls`: each call in `toolCallList` runs (one file per tool in `core::tools`) within
//! the tool timeout, and its answer is stored by `toolCallId`, so a retried delivery gets the
//! stored answer without the work being done again.

use std::time::Instant;

use serde_json::{Value, json};
use tenancy::OrgId;
use uuid::Uuid;

use crate::core::call_record;
use crate::core::tools::{self, common::Ctx, common::Outcome, common::UNAVAILABLE};
use crate::domain::message::{self, ToolCall};
use crate::domain::speak;
use crate::domain::tool::{Tool, ToolOutcome};
use crate::state::VoiceState;
use crate::store::agents;
use crate::store::calls::{self, Invocation};
use crate::store::error::StoreError;
use crate::store::numbers::Route;

#[derive(Debug, thiserror::Error)]
pub enum ToolCallsError {
    #[error(transparent)]
    Store(StoreError),
}

crate::store::error::store_error_from!(ToolCallsError);

const NOT_ON_THIS_LINE: &str =
    "I'm sorry, I can't do that on this line; I can take a message for the team.";

/// What happened to one tool call of the message.
enum Run<'a> {
    /// Answered now (to be stored), after `ms` milliseconds.
    Fresh {
        call: &'a ToolCall,
        outcome: Outcome,
        ms: i32,
    },
    /// A final answer given before for this `toolCallId`.
    Replayed {
        call: &'a ToolCall,
        stored: Invocation,
    },
}

/// What the call's tools need to know, read in one transaction before they run.
struct CallContext {
    call_id: Option<Uuid>,
    caller: Option<String>,
    tz: chrono_tz::Tz,
    stored: Vec<Invocation>,
    /// The tools the call's agent has switched on (all of them without an agent).
    enabled: Option<Vec<String>>,
}

async fn call_context(
    st: &VoiceState,
    org: OrgId,
    route: &Route,
    msg: &Value,
    ids: Vec<String>,
) -> Result<CallContext, ToolCallsError> {
    let (r, m) = (route.clone(), msg.clone());
    let (call, profile, stored, enabled) = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let call = call_record::ensure_call(tx, org, Some(&r), &m).await?;
                let profile = agents::find_profile(tx, org).await?;
                let stored = calls::find_invocations(tx, org, &ids).await?;
                let enabled = match call.as_ref().and_then(|c| c.agent_id) {
                    Some(agent) => agents::find_agent(tx, org, agent)
                        .await?
                        .map(|a| a.enabled_tools),
                    None => None,
                };
                Ok::<_, ToolCallsError>((call, profile, stored, enabled))
            })
        })
        .await?;
    Ok(CallContext {
        tz: speak::zone(
            profile
                .as_ref()
                .map(|p| p.timezone.as_str())
                .unwrap_or("UTC"),
        ),
        // The number Vapi reports for the call (stored with the call when first seen): the
        // only patient the tools act for. Withheld numbers are `None`.
        caller: tools::common::caller_number(
            call.as_ref()
                .and_then(|c| c.other_party())
                .as_deref()
                .or_else(|| message::customer_number(msg)),
        ),
        call_id: call.map(|c| c.id),
        stored,
        enabled,
    })
}

/// Answers a `tool-calls` message: `{"results": [{toolCallId, name, result | error}]}`.
pub async fn tool_calls(
    st: &VoiceState,
    route: Option<&Route>,
    msg: &Value,
) -> Result<Value, ToolCallsError> {
    let list = message::tool_calls(msg);
    let Some(route) = route else {
        let results: Vec<Value> = list
            .iter()
            .map(|c| json!({ "toolCallId": c.id, "name": c.name, "error": UNAVAILABLE }))
            .collect();
        return Ok(json!({ "results": results }));
    };
    let org = route.org_id;
    let ids: Vec<String> = list.iter().map(|c| c.id.clone()).collect();
    // One transaction before the work: the call, the clinic, and answers already given.
    let cx = call_context(st, org, route, msg, ids).await?;
    // The tools run concurrently, each within the tool timeout; final answers are replayed.
    let runs = list.iter().map(|tc| run_one(st, org, &cx, tc));
    let ran = futures_util::future::join_all(runs).await;
    let recorded = record(st, org, cx.call_id, &ran).await?;
    let results: Vec<Value> = ran
        .iter()
        .map(|run| {
            let (tc, inv) = match run {
                Run::Replayed { call, stored } => (*call, Some(stored)),
                Run::Fresh { call, .. } => {
                    (*call, recorded.iter().find(|i| i.tool_call_id == call.id))
                }
            };
            match inv {
                Some(inv) => {
                    let field = match inv.outcome {
                        ToolOutcome::Ok => "result",
                        ToolOutcome::Error => "error",
                    };
                    json!({ "toolCallId": tc.id, "name": tc.name, field: inv.result })
                }
                None => json!({ "toolCallId": tc.id, "name": tc.name, "error": UNAVAILABLE }),
            }
        })
        .collect();
    Ok(json!({ "results": results }))
}

/// One tool call: refused when the agent has the tool off, replayed when answered before, else
/// run within the tool timeout (the spoken fallback when it takes too long).
async fn run_one<'a>(st: &VoiceState, org: OrgId, cx: &CallContext, tc: &'a ToolCall) -> Run<'a> {
    let allowed = cx.enabled.as_ref().is_none_or(|e| e.contains(&tc.name));
    if !allowed {
        return Run::Fresh {
            call: tc,
            outcome: Outcome::Error(NOT_ON_THIS_LINE.into()),
            ms: 0,
        };
    }
    let done = cx
        .stored
        .iter()
        .find(|i| i.tool_call_id == tc.id && i.outcome == ToolOutcome::Ok)
        .cloned();
    if let Some(stored) = done {
        metrics::counter!("voice_tool_calls_total", "tool" => tool_label(&tc.name), "outcome" => "replayed").increment(1);
        return Run::Replayed { call: tc, stored };
    }
    let ctx = Ctx {
        st,
        org,
        tz: cx.tz,
        call_id: cx.call_id,
        caller: cx.caller.clone(),
        tool_call_id: tc.id.clone(),
    };
    let started = Instant::now();
    let outcome =
        match tokio::time::timeout(st.settings.tool_timeout, tools::execute(&ctx, tc)).await {
            Ok(o) => o,
            Err(_) => {
                tracing::warn!(tool = %tc.name, "tool timed out; answered with the fallback");
                Outcome::Error(UNAVAILABLE.into())
            }
        };
    let ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    Run::Fresh {
        call: tc,
        outcome,
        ms,
    }
}

/// One transaction after the work: every new answer stored (a racing final answer wins), the
/// call marked booked when a tool booked.
async fn record(
    st: &VoiceState,
    org: OrgId,
    call_id: Option<Uuid>,
    ran: &[Run<'_>],
) -> Result<Vec<Invocation>, ToolCallsError> {
    struct Fresh {
        tool_call_id: String,
        name: String,
        outcome: ToolOutcome,
        text: String,
        ms: i32,
        booked: bool,
    }
    let fresh: Vec<Fresh> = ran
        .iter()
        .filter_map(|run| {
            let Run::Fresh { call, outcome, ms } = run else {
                return None;
            };
            let (kind, text, booked) = match outcome {
                Outcome::Result { text, booked } => {
                    (ToolOutcome::Ok, speak::one_line(text), *booked)
                }
                Outcome::Error(text) => (ToolOutcome::Error, speak::one_line(text), false),
            };
            metrics::counter!("voice_tool_calls_total", "tool" => tool_label(&call.name), "outcome" => kind.as_str()).increment(1);
            // Tool-call latency (the Grafana voice dashboard, deploy/monitoring/).
            metrics::histogram!("voice_tool_call_duration_seconds", "tool" => tool_label(&call.name), "outcome" => kind.as_str())
                .record(f64::from(*ms) / 1000.0);
            Some(Fresh {
                tool_call_id: call.id.clone(),
                name: call.name.clone(),
                outcome: kind,
                text,
                ms: *ms,
                booked,
            })
        })
        .collect();
    if fresh.is_empty() {
        return Ok(Vec::new());
    }
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let mut out = Vec::with_capacity(fresh.len());
                for f in &fresh {
                    let inv = calls::record_invocation(
                        tx,
                        org,
                        &calls::NewInvocation {
                            call_id,
                            tool_call_id: &f.tool_call_id,
                            name: &f.name,
                            outcome: f.outcome,
                            result: &f.text,
                            duration_ms: f.ms,
                        },
                    )
                    .await?;
                    if f.booked
                        && let Some(c) = call_id
                    {
                        calls::mark_booked(tx, org, c).await?;
                    }
                    out.push(inv);
                }
                Ok::<_, ToolCallsError>(out)
            })
        })
        .await
}

/// Metric label: known tools by name, everything else as `unknown` (bounded cardinality).
fn tool_label(name: &str) -> &'static str {
    Tool::from_name(name).map_or("unknown", Tool::name)
}

//! Reading Vapi server messages (`{"message": {...}}`) tolerantly: the envelope is parsed as a
//! `serde_json::Value`, routed on `type`, and only the fields we use are read, each optional.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::call::CallDirection;

/// The message types that need an answer; everything else is fire-and-forget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    AssistantRequest,
    ToolCalls,
    TransferDestinationRequest,
    KnowledgeBaseRequest,
    HandoffDestinationRequest,
    FunctionCall,
    StatusUpdate,
    EndOfCallReport,
    /// Stored and counted only (transcript, hang, conversation-update, speech-update, unknown …).
    Other,
}

/// The message types voice acts on (answers, applies, or counts: `hang`). Every other type is
/// chatter we do not request (speech-update, conversation-update, model-output, voice-input,
/// transcript, user-interrupted, …): logged as applied and deleted after the chatter retention
/// (the partial index `webhook_deliveries_chatter` repeats this list).
pub const ACTED_ON: [&str; 9] = [
    "assistant-request",
    "tool-calls",
    "transfer-destination-request",
    "knowledge-base-request",
    "handoff-destination-request",
    "function-call",
    "status-update",
    "end-of-call-report",
    "hang",
];

/// `message.type`, with `transcript[transcriptType="final"]` read as `transcript`.
pub fn normalized_type(msg: &Value) -> String {
    let t = msg.get("type").and_then(Value::as_str).unwrap_or("");
    match t.split_once('[') {
        Some((base, _)) => base.to_string(),
        None => t.to_string(),
    }
}

pub fn kind(t: &str) -> Kind {
    match t {
        "assistant-request" => Kind::AssistantRequest,
        "tool-calls" => Kind::ToolCalls,
        "transfer-destination-request" => Kind::TransferDestinationRequest,
        "knowledge-base-request" => Kind::KnowledgeBaseRequest,
        "handoff-destination-request" => Kind::HandoffDestinationRequest,
        "function-call" => Kind::FunctionCall,
        "status-update" => Kind::StatusUpdate,
        "end-of-call-report" => Kind::EndOfCallReport,
        _ => Kind::Other,
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().filter(|s| !s.is_empty())
}

pub fn call_id(msg: &Value) -> Option<&str> {
    str_at(msg, &["call", "id"])
}

pub fn phone_number_id(msg: &Value) -> Option<&str> {
    str_at(msg, &["call", "phoneNumberId"])
}

/// The clinic's number: the dialled one on inbound calls (`phoneNumber.number`).
pub fn clinic_number(msg: &Value) -> Option<&str> {
    str_at(msg, &["phoneNumber", "number"])
}

pub fn assistant_id(msg: &Value) -> Option<&str> {
    str_at(msg, &["call", "assistantId"]).or_else(|| str_at(msg, &["assistant", "id"]))
}

/// The other party: the caller on inbound calls, the called person on outbound ones.
pub fn customer_number(msg: &Value) -> Option<&str> {
    str_at(msg, &["customer", "number"]).or_else(|| str_at(msg, &["call", "customer", "number"]))
}

pub fn customer_name(msg: &Value) -> Option<&str> {
    str_at(msg, &["customer", "name"]).or_else(|| str_at(msg, &["call", "customer", "name"]))
}

/// The call's direction, from `call.type`.
pub fn direction(msg: &Value) -> CallDirection {
    match str_at(msg, &["call", "type"]) {
        Some("outboundPhoneCall") => CallDirection::Outbound,
        Some("webCall") | Some("vapi.websocketCall") => CallDirection::Web,
        _ => CallDirection::Inbound,
    }
}

/// Vapi's `timestamp` (epoch milliseconds), else now.
pub fn timestamp(msg: &Value) -> DateTime<Utc> {
    msg.get("timestamp")
        .and_then(Value::as_i64)
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or_else(Utc::now)
}

pub fn rfc3339_at(msg: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    str_at(msg, path)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

pub fn status(msg: &Value) -> Option<&str> {
    str_at(msg, &["status"])
}

pub fn ended_reason(msg: &Value) -> Option<&str> {
    str_at(msg, &["endedReason"])
}

/// One entry of `toolCallList`.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub args: Value,
}

/// The tool calls of a `tool-calls` message: `toolCallList`, else the legacy `toolCalls` copy,
/// else the calls inside `toolWithToolCallList`; nested `function` or flattened items.
pub fn tool_calls(msg: &Value) -> Vec<ToolCall> {
    let list = msg
        .get("toolCallList")
        .or_else(|| msg.get("toolCalls"))
        .and_then(Value::as_array)
        .cloned()
        .or_else(|| {
            msg.get("toolWithToolCallList")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(|t| t.get("toolCall").cloned())
                        .collect()
                })
        })
        .unwrap_or_default();
    list.iter()
        .filter_map(|call| {
            let id = call.get("id")?.as_str()?.to_string();
            let f = call.get("function").unwrap_or(call);
            let name = f.get("name")?.as_str()?.to_string();
            Some(ToolCall {
                id,
                name,
                args: tool_args(call),
            })
        })
        .collect()
}

/// `function.arguments` as a JSON string or an object (spec §3.2).
pub fn tool_args(call: &Value) -> Value {
    let f = call.get("function").unwrap_or(call);
    match f.get("arguments").or_else(|| f.get("parameters")) {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Object(Default::default()),
    }
}

/// What an end-of-call report carries, read `artifact`/`analysis` first, legacy copies second.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub ended_reason: String,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub cost: Option<f64>,
    pub summary: Option<String>,
    pub structured_data: Option<Value>,
    pub success_evaluation: Option<String>,
    pub recording_url: Option<String>,
    pub transcript: Option<String>,
    pub messages: Option<Value>,
}

pub fn report(msg: &Value) -> Report {
    let success = msg
        .pointer("/analysis/successEvaluation")
        .and_then(|v| match v {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        });
    Report {
        ended_reason: ended_reason(msg).unwrap_or("unknown").to_string(),
        started_at: rfc3339_at(msg, &["startedAt"])
            .or_else(|| rfc3339_at(msg, &["call", "startedAt"])),
        ended_at: rfc3339_at(msg, &["endedAt"]).or_else(|| rfc3339_at(msg, &["call", "endedAt"])),
        cost: msg.get("cost").and_then(Value::as_f64),
        summary: str_at(msg, &["analysis", "summary"])
            .or_else(|| str_at(msg, &["summary"]))
            .map(str::to_string),
        structured_data: msg
            .pointer("/analysis/structuredData")
            .filter(|v| !v.is_null())
            .cloned(),
        success_evaluation: success,
        recording_url: str_at(msg, &["artifact", "recordingUrl"])
            .or_else(|| str_at(msg, &["recordingUrl"]))
            .map(str::to_string),
        transcript: str_at(msg, &["artifact", "transcript"])
            .or_else(|| str_at(msg, &["transcript"]))
            .map(str::to_string),
        messages: msg
            .pointer("/artifact/messages")
            .filter(|v| !v.is_null())
            .cloned(),
    }
}

/// Vapi's idempotency key of a fire-and-forget message (spec §5); `None` for types we only log.
pub fn dedupe_key(t: &str, msg: &Value) -> Option<String> {
    let call = call_id(msg)?;
    match kind(t) {
        Kind::StatusUpdate => Some(format!("status:{call}:{}", status(msg).unwrap_or(""))),
        Kind::EndOfCallReport => Some(format!("report:{call}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_as_string_object_or_flattened() {
        let msg = json!({"type": "tool-calls", "toolCallList": [
            {"id": "a", "type": "function", "function": {"name": "x", "arguments": "{\"day\":\"2026-03-12\"}"}},
            {"id": "b", "type": "function", "function": {"name": "y", "arguments": {"day": "2026-03-13"}}},
            {"id": "c", "name": "z", "parameters": {"day": "2026-03-14"}},
            {"id": "d", "function": {"name": "w"}},
            {"nonsense": true}
        ]});
        let calls = tool_calls(&msg);
        assert_eq!(calls.len(), 4);
        assert_eq!(calls[0].args["day"], "2026-03-12");
        assert_eq!(calls[1].args["day"], "2026-03-13");
        assert_eq!(calls[2].args["day"], "2026-03-14");
        assert_eq!(calls[3].args, json!({}));
    }

    #[test]
    fn transcript_type_spellings() {
        assert_eq!(
            normalized_type(&json!({"type": "transcript[transcriptType=\"final\"]"})),
            "transcript"
        );
        assert_eq!(kind("transcript"), Kind::Other);
        assert_eq!(kind("something-new"), Kind::Other);
    }

    #[test]
    fn report_falls_back_to_legacy_fields() {
        let r = report(
            &json!({"endedReason": "hangup", "transcript": "hi", "summary": "s",
            "analysis": {"successEvaluation": true}}),
        );
        assert_eq!(r.transcript.as_deref(), Some("hi"));
        assert_eq!(r.summary.as_deref(), Some("s"));
        assert_eq!(r.success_evaluation.as_deref(), Some("true"));
        assert_eq!(r.ended_reason, "hangup");
    }
}

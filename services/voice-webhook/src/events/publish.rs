//! What voice publishes: `call.started.v1` and `call.ended.v1`, built from the call row and
//! enqueued in the caller's transaction (the outbox), so an event exists exactly when the
//! change that caused it commits.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use events::payloads::{
    CallAnalysisV1, CallDirection as EventDirection, CallEndedV1, CallStartedV1,
};
use serde_json::Value;
use tenancy::OrgId;

use crate::domain::call::CallDirection;
use crate::store::calls::CallRow;

fn direction(c: &CallRow) -> EventDirection {
    match c.direction {
        CallDirection::Outbound => EventDirection::Outbound,
        CallDirection::Inbound | CallDirection::Web => EventDirection::Inbound,
    }
}

/// `call.ended.v1`'s `analysis` from the report's summary and structured data (the schema of
/// `vapi_sync::analysis_plan`). Lenient: a field of the wrong type is left out, never an error;
/// nothing else from the report (never the transcript) goes into the event.
pub fn analysis(summary: Option<&str>, structured: Option<&Value>) -> Option<CallAnalysisV1> {
    let d = structured.filter(|v| v.is_object());
    let text = |k: &str| {
        d.and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(200).collect::<String>())
    };
    let flag = |k: &str| d.and_then(|v| v.get(k)).and_then(Value::as_bool);
    let a = CallAnalysisV1 {
        intent: text("intent"),
        service_of_interest: text("service_of_interest"),
        quoted_price: d
            .and_then(|v| v.get("quoted_price"))
            .and_then(Value::as_f64)
            .filter(|p| p.is_finite() && *p >= 0.0),
        currency: text("currency"),
        urgency: text("urgency"),
        new_patient: flag("new_patient"),
        insurance_mentioned: flag("insurance_mentioned"),
        callback_requested: flag("callback_requested"),
        wrong_number: flag("wrong_number"),
        sentiment: text("sentiment"),
        summary: summary
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(2000).collect()),
    };
    (a != CallAnalysisV1::default()).then_some(a)
}

/// `call.started.v1`: the call reached `in-progress` (first time only; the caller claims it).
pub async fn call_started(
    tx: &mut AsyncPgConnection,
    org: OrgId,
    call: &CallRow,
    at: DateTime<Utc>,
) -> diesel::QueryResult<()> {
    bus::enqueue(
        tx,
        org,
        &CallStartedV1 {
            call_id: call.id,
            vapi_call_id: call.vapi_call_id.clone(),
            agent_id: call.agent_id,
            direction: direction(call),
            caller_number: call.other_party(),
            started_at: at,
        },
    )
    .await
    .map(|_| ())
}

/// `call.ended.v1`: the end-of-call report was recorded (once per call).
pub async fn call_ended(
    tx: &mut AsyncPgConnection,
    org: OrgId,
    row: &CallRow,
    ended_at: DateTime<Utc>,
    ended_reason: String,
) -> diesel::QueryResult<()> {
    bus::enqueue(
        tx,
        org,
        &CallEndedV1 {
            call_id: row.id,
            vapi_call_id: row.vapi_call_id.clone(),
            agent_id: row.agent_id,
            direction: direction(row),
            caller_number: row.other_party(),
            caller_name: row.caller_name.clone(),
            started_at: row.started_at,
            ended_at,
            duration_seconds: u32::try_from(row.duration_seconds.unwrap_or(0).max(0)).unwrap_or(0),
            ended_reason,
            booked: row.booked,
            success_evaluation: row.success_evaluation.clone(),
            analysis: analysis(row.summary.as_deref(), row.structured_data.as_ref()),
        },
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::analysis;

    #[test]
    fn the_analysis_takes_what_has_the_right_type_and_nothing_else() {
        let d = json!({"intent": "price_question", "service_of_interest": " implants ",
                       "quoted_price": "3200", "new_patient": true, "urgency": 3,
                       "transcript": "User: hi"});
        let a = analysis(Some("Asked about implants."), Some(&d)).unwrap();
        assert_eq!(a.intent.as_deref(), Some("price_question"));
        assert_eq!(a.service_of_interest.as_deref(), Some("implants"));
        assert_eq!(a.quoted_price, None, "a string is not a price");
        assert_eq!(a.urgency, None);
        assert_eq!(a.new_patient, Some(true));
        assert_eq!(a.summary.as_deref(), Some("Asked about implants."));
        assert!(!serde_json::to_string(&a).unwrap().contains("User: hi"));
        assert_eq!(analysis(None, None), None);
        assert_eq!(analysis(Some("  "), Some(&json!("not an object"))), None);
    }
}

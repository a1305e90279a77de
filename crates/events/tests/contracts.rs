//! The contracts: every event round-trips, tolerates unknown fields, and docs/events.md matches.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests

use events::catalogue::{all, consumed_by, render_markdown};
use events::{AppointmentBookedV1, CallEndedV1, Envelope, Event};
use uuid::Uuid;

#[test]
fn the_catalogue_covers_architecture_section_5() {
    let types: Vec<_> = all().iter().map(|e| e.event_type).collect();
    for t in [
        "org.created.v1",
        "org.deleted.v1",
        "call.started.v1",
        "call.ended.v1",
        "appointment.booked.v1",
        "appointment.rescheduled.v1",
        "appointment.cancelled.v1",
        "message.delivered.v1",
        "message.failed.v1",
        "contact.opted_out.v1",
        "lead.scored.v1",
        "voice.message_taken.v1",
    ] {
        assert!(types.contains(&t), "{t} missing");
    }
    for e in all() {
        let parts: Vec<_> = e.event_type.split('.').collect();
        assert_eq!(parts.len(), 3, "{} is noun.verb.vN", e.event_type);
        assert!(parts[2].starts_with('v') && parts[2][1..].parse::<u32>().is_ok());
    }
    assert_eq!(consumed_by("lead-scoring").len(), 13);
    assert!(consumed_by("messaging").contains(&"voice.message_taken.v1"));
    assert!(consumed_by("messaging").contains(&"appointment.booked.v1"));
}

#[test]
fn envelopes_round_trip_and_route_by_type() {
    let org = Uuid::new_v4();
    let env = Envelope::new(
        org,
        &AppointmentBookedV1::example(),
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
    )
    .unwrap();
    assert_eq!(env.routing_key(), "appointment.booked.v1");
    let wire = serde_json::to_string(&env).unwrap();
    let back: Envelope = serde_json::from_str(&wire).unwrap();
    assert_eq!(back, env);
    assert_eq!(
        back.decode::<AppointmentBookedV1>().unwrap().payload,
        AppointmentBookedV1::example()
    );
    assert!(
        back.decode::<CallEndedV1>().is_err(),
        "a payload decodes only as its own type"
    );
}

#[test]
fn unknown_fields_are_tolerated_missing_ones_are_not() {
    let mut v = serde_json::to_value(CallEndedV1::example()).unwrap();
    v["added_in_a_later_minor_version"] = serde_json::json!({"x": 1});
    let env = serde_json::json!({"id": Uuid::new_v4(), "type": "call.ended.v1", "org_id": Uuid::new_v4(),
        "occurred_at": "2026-11-22T10:00:00Z", "payload": v, "envelope_extra": true});
    let env: Envelope = serde_json::from_value(env).unwrap();
    assert_eq!(
        env.decode::<CallEndedV1>().unwrap().payload,
        CallEndedV1::example()
    );

    let mut broken = env.clone();
    broken.payload.as_object_mut().unwrap().remove("ended_at");
    assert!(broken.decode::<CallEndedV1>().is_err());
}

#[test]
fn no_event_carries_a_transcript() {
    for e in all() {
        let mut example = e.example.clone();
        // The one place a summary may travel: call.ended.v1's `analysis.summary` (issue 13).
        if e.event_type == "call.ended.v1" {
            example["analysis"]
                .as_object_mut()
                .unwrap()
                .remove("summary")
                .unwrap();
        }
        let text = example.to_string().to_lowercase();
        assert!(
            !text.contains("transcript") && !text.contains("summary"),
            "{}",
            e.event_type
        );
    }
}

#[test]
fn call_analysis_is_optional_and_lenient() {
    use events::{CallAnalysisV1, LeadScoredV1};
    // A call.ended.v1 from before `analysis` existed still decodes, with no analysis.
    let mut v = serde_json::to_value(CallEndedV1::example()).unwrap();
    v.as_object_mut().unwrap().remove("analysis");
    let old: CallEndedV1 = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(old.analysis, None);
    // A producer without analysis leaves the key out (older consumers see the old shape).
    assert!(
        serde_json::to_value(&old)
            .unwrap()
            .get("analysis")
            .is_none()
    );
    // A partial analysis with unknown keys decodes: every field is optional.
    v["analysis"] = serde_json::json!({"intent": "price_question", "someFutureKey": [1]});
    let partial: CallEndedV1 = serde_json::from_value(v).unwrap();
    assert_eq!(
        partial.analysis,
        Some(CallAnalysisV1 {
            intent: Some("price_question".into()),
            ..CallAnalysisV1::default()
        })
    );
    // lead.scored.v1's next_action and model_version are optional too.
    let mut s = serde_json::to_value(LeadScoredV1::example()).unwrap();
    s.as_object_mut().unwrap().remove("next_action");
    s.as_object_mut().unwrap().remove("model_version");
    let older: LeadScoredV1 = serde_json::from_value(s).unwrap();
    assert_eq!(older.next_action, None);
}

#[test]
fn docs_events_md_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/events.md");
    let rendered = render_markdown();
    #[allow(clippy::disallowed_methods)] // a test switch, not configuration
    if std::env::var("UPDATE_EVENT_DOCS").is_ok_and(|v| v == "1") {
        std::fs::write(path, &rendered).unwrap();
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == rendered,
        "docs/events.md is out of date: run `UPDATE_EVENT_DOCS=1 cargo test -p events`"
    );
}

#[test]
fn the_event_table_of_docs_architecture_md_matches_the_code() {
    let generated = events::catalogue::render_markdown();
    let start = generated.find("| event |").unwrap();
    let table = generated[start..].split("\n\n").next().unwrap().trim();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/architecture.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let begin = doc.find("<!-- events:begin").expect("events:begin marker");
    let body = &doc[begin..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let documented = body[..body.find("<!-- events:end -->").expect("events:end marker")].trim();
    assert_eq!(
        documented, table,
        "the event table in docs/architecture.md §4 is out of date: copy it from docs/events.md"
    );
}

#[test]
fn appointment_events_carry_a_version_and_older_messages_still_decode() {
    use events::{AppointmentRescheduledV1, should_apply};
    let mut v = serde_json::to_value(AppointmentRescheduledV1::example()).unwrap();
    assert_eq!(v["version"], 2);
    // A message enqueued before versions existed (still in an outbox or a DLQ) decodes as 0,
    // which never overwrites a versioned state.
    v.as_object_mut().unwrap().remove("version");
    let old: AppointmentRescheduledV1 = serde_json::from_value(v).unwrap();
    assert_eq!(old.appointment.version, 0);
    assert!(!should_apply(Some(1), old.appointment.version));
}

#[test]
fn appointment_events_carry_the_provider_and_older_messages_still_decode() {
    let mut v = serde_json::to_value(AppointmentBookedV1::example()).unwrap();
    assert_eq!(v["provider_name"], "Dr. Anika Patel");
    assert!(v["provider_id"].is_string());
    // A message enqueued before providers existed has neither field.
    let o = v.as_object_mut().unwrap();
    o.remove("provider_id");
    o.remove("provider_name");
    let old: AppointmentBookedV1 = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(old.appointment.provider_id, None);
    assert_eq!(old.appointment.provider_name, None);
    // … and re-encodes without them (no `null`s for consumers that do not know the fields).
    let again = serde_json::to_value(&old).unwrap();
    assert!(again.get("provider_id").is_none());
}

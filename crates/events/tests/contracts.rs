//! The contracts: every event round-trips, tolerates unknown fields, and docs/events.md matches.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

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
    ] {
        assert!(types.contains(&t), "{t} missing");
    }
    for e in all() {
        let parts: Vec<_> = e.event_type.split('.').collect();
        assert_eq!(parts.len(), 3, "{} is noun.verb.vN", e.event_type);
        assert!(parts[2].starts_with('v') && parts[2][1..].parse::<u32>().is_ok());
    }
    assert_eq!(consumed_by("lead-scoring").len(), 9);
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
        let text = e.example.to_string().to_lowercase();
        assert!(
            !text.contains("transcript") && !text.contains("summary"),
            "{}",
            e.event_type
        );
    }
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

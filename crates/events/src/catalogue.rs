//! The catalogue of every event contract, and `docs/events.md` rendered from it (a test keeps the
//! file equal to the rendering, so the docs cannot drift from the code).

use crate::Event;
use crate::payloads::*;

#[derive(Debug, Clone)]
pub struct EventInfo {
    pub event_type: &'static str,
    pub producer: &'static str,
    pub consumers: &'static [&'static str],
    pub description: &'static str,
    pub example: serde_json::Value,
}

fn info<E: Event>() -> EventInfo {
    EventInfo {
        event_type: E::TYPE,
        producer: E::PRODUCER,
        consumers: E::CONSUMERS,
        description: E::DESCRIPTION,
        example: serde_json::to_value(E::example()).unwrap_or_default(),
    }
}

/// Every event of ARCHITECTURE §5, in the order of that table.
pub fn all() -> Vec<EventInfo> {
    vec![
        info::<OrgCreatedV1>(),
        info::<OrgDeletedV1>(),
        info::<CallStartedV1>(),
        info::<CallEndedV1>(),
        info::<AppointmentBookedV1>(),
        info::<AppointmentRescheduledV1>(),
        info::<AppointmentCancelledV1>(),
        info::<AppointmentCompletedV1>(),
        info::<AppointmentMissedV1>(),
        info::<MessageDeliveredV1>(),
        info::<MessageFailedV1>(),
        info::<ContactOptedOutV1>(),
        info::<LeadScoredV1>(),
        info::<VoiceMessageTakenV1>(),
        info::<AppointmentReplyConfirmedV1>(),
    ]
}

/// The event types `service` consumes (its queue's bindings).
pub fn consumed_by(service: &str) -> Vec<&'static str> {
    all()
        .into_iter()
        .filter(|e| e.consumers.contains(&service))
        .map(|e| e.event_type)
        .collect()
}

/// `docs/events.md`.
pub fn render_markdown() -> String {
    let mut out = String::from(
        "# Event catalogue\n\n\
         Generated from `crates/events` (`cargo test -p events` fails when this file differs; \
         `UPDATE_EVENT_DOCS=1 cargo test -p events` rewrites it). Exchange `voxanne.events` (topic); \
         routing key = event type. Every message is an envelope:\n\n\
         ```json\n{ \"id\": \"uuid\", \"type\": \"appointment.booked.v1\", \"org_id\": \"uuid\",\n  \
         \"occurred_at\": \"RFC 3339\", \"traceparent\": \"W3C\", \"payload\": { } }\n```\n\n\
         Consumers ignore unknown payload fields; removing or retyping a field is a new version.\n\n\
         Delivery is at least once and not in order. `appointment.*` payloads carry the \
         appointment's `version` (1 when booked, +1 on every change): apply an event only when its \
         version is higher than the one you stored (`events::should_apply`, or the one-statement \
         SQL `events::ordering::UPSERT_IF_NEWER_SQL`), so two reschedules delivered newest first \
         leave the newest time.\n\n\
         | event | producer | consumers |\n|---|---|---|\n",
    );
    let events = all();
    for e in &events {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            e.event_type,
            e.producer,
            e.consumers.join(", ")
        ));
    }
    for e in &events {
        out.push_str(&format!(
            "\n## `{}`\n\n{}\n\nProducer: {}. Consumers: {}.\n\n```json\n{}\n```\n",
            e.event_type,
            e.description,
            e.producer,
            e.consumers.join(", "),
            serde_json::to_string_pretty(&e.example).unwrap_or_default()
        ));
    }
    out
}

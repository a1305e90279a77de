//! `enqueue`: writes an event into this schema's `outbox` inside the caller's transaction, so the
//! event exists if and only if the business change committed. The trace context of the calling
//! span is captured now, so the consumer links to the request that caused the event.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use events::Event;
use tenancy::OrgId;
use uuid::Uuid;

diesel::table! {
    outbox (id) {
        id -> Int8,
        event_id -> Uuid,
        org_id -> Uuid,
        event_type -> Text,
        payload -> Jsonb,
        traceparent -> Nullable<Text>,
        created_at -> Timestamptz,
        published_at -> Nullable<Timestamptz>,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    inbox (consumer, event_id) {
        consumer -> Text,
        event_id -> Uuid,
        org_id -> Uuid,
        event_type -> Text,
        processed_at -> Timestamptz,
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct OutboxRow {
    pub id: i64,
    pub event_id: Uuid,
    pub org_id: Uuid,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub traceparent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub attempts: i32,
}

impl OutboxRow {
    pub fn envelope(&self) -> events::Envelope {
        events::Envelope {
            id: self.event_id,
            event_type: self.event_type.clone(),
            org_id: self.org_id,
            occurred_at: self.created_at,
            traceparent: self.traceparent.clone(),
            payload: self.payload.clone(),
        }
    }
}

/// Adds `event` for `org` to the outbox of the current transaction; returns the event id.
pub async fn enqueue<E: Event>(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    event: &E,
) -> QueryResult<Uuid> {
    let payload = serde_json::to_value(event)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let traceparent = servicekit::telemetry::current_trace_headers().remove("traceparent");
    let event_id = Uuid::new_v4();
    diesel::insert_into(outbox::table)
        .values((
            outbox::event_id.eq(event_id),
            outbox::org_id.eq(org.as_uuid()),
            outbox::event_type.eq(E::TYPE),
            outbox::payload.eq(payload),
            outbox::traceparent.eq(traceparent),
        ))
        .execute(conn)
        .await?;
    metrics::counter!("bus_events_enqueued_total", "type" => E::TYPE).increment(1);
    Ok(event_id)
}

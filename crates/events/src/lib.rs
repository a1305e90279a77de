//! The versioned event contracts of ARCHITECTURE §5: the envelope every message travels in, and one
//! payload type per event. A routing key is the event type (`appointment.booked.v1`). Payloads
//! tolerate unknown fields, so a producer can add one without breaking older consumers; a change
//! that removes or retypes a field is a new version (`.v2`), published alongside the old one.
//! Events carry the minimum personal data (a caller's number and name, never a transcript).

pub mod catalogue;
pub mod ordering;
pub mod payloads;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use ordering::should_apply;
pub use payloads::*;

/// One event contract: its type string, who produces it and who consumes it.
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// `noun.verb.vN`; also the routing key.
    const TYPE: &'static str;
    const PRODUCER: &'static str;
    const CONSUMERS: &'static [&'static str];
    const DESCRIPTION: &'static str;
    /// A representative payload, shown in docs/events.md.
    fn example() -> Self;
}

/// The message on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<P = serde_json::Value> {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub org_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// W3C trace context of the span that enqueued the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    pub payload: P,
}

impl<P> Envelope<P> {
    pub fn routing_key(&self) -> &str {
        &self.event_type
    }
}

impl Envelope<serde_json::Value> {
    /// Wraps a typed payload for `org_id`.
    pub fn new<E: Event>(
        org_id: Uuid,
        payload: &E,
        traceparent: Option<String>,
    ) -> serde_json::Result<Self> {
        Ok(Envelope {
            id: Uuid::new_v4(),
            event_type: E::TYPE.to_string(),
            org_id,
            occurred_at: Utc::now(),
            traceparent,
            payload: serde_json::to_value(payload)?,
        })
    }

    /// The payload as `E`, when this envelope is of `E`'s type.
    pub fn decode<E: Event>(&self) -> Result<Envelope<E>, DecodeError> {
        self.clone().into_event()
    }

    /// Like `decode`, consuming the envelope (no copy of the payload: the consumer's hot path).
    pub fn into_event<E: Event>(self) -> Result<Envelope<E>, DecodeError> {
        if self.event_type != E::TYPE {
            return Err(DecodeError::WrongType {
                expected: E::TYPE,
                found: self.event_type,
            });
        }
        let payload = serde_json::from_value(self.payload)
            .map_err(|e| DecodeError::Payload(e.to_string()))?;
        Ok(Envelope {
            id: self.id,
            event_type: self.event_type,
            org_id: self.org_id,
            occurred_at: self.occurred_at,
            traceparent: self.traceparent,
            payload,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    WrongType {
        expected: &'static str,
        found: String,
    },
    Payload(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::WrongType { expected, found } => {
                write!(f, "expected a {expected} event, got {found}")
            }
            DecodeError::Payload(e) => write!(f, "payload does not match its contract: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {}

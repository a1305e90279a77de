//! lead-scoring's events: it consumes every event about a caller (`consumer`) and publishes
//! `lead.scored.v1` (enqueued by `core::scoring` when a tier or next action changes).

pub mod consumer;

//! messaging's events: what it consumes (`consumer`) — org lifecycle and appointment changes.
//! What it publishes (`message.delivered.v1`, `message.failed.v1`, `contact.opted_out.v1`) is
//! enqueued by `core` in the transaction that made the change.

pub mod consumer;

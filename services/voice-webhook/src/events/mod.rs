//! Voice on the event bus: what it consumes (`org.created.v1`, `org.deleted.v1`) and what it
//! publishes (`call.started.v1`, `call.ended.v1`, through the outbox).

pub mod consumers;
pub mod publish;

//! Calendar's events: what it consumes (`consumer`: `org.created.v1` seeds an org's defaults,
//! `org.deleted.v1` purges it) and what it publishes (`publish`: `appointment.*.v1`, enqueued in
//! the changing transaction by `core::booking`).

pub mod consumer;
pub mod publish;

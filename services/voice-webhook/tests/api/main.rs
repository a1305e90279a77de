//! voice-webhook's HTTP tests against the real app, Postgres, Redis and RabbitMQ; Vapi (and, in
//! the tool tests, calendar's internal API) are wiremock fakes speaking the documented protocol.

#![warn(clippy::panic, clippy::as_conversions, rust_2018_idioms)] // the workspace lints to come
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failure should stop the test loudly

mod access_log;
mod calls;
mod chatter;
mod clinic;
mod dashboard;
mod helpers;
mod inbox;
mod knowledge;
mod limits;
mod messages;
mod outbound;
mod sync;
mod tools;
mod webhook_auth;

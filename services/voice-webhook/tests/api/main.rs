//! voice-webhook's HTTP tests against the real app, Postgres, Redis and RabbitMQ; Vapi (and, in
//! the tool tests, calendar's internal API) are wiremock fakes speaking the documented protocol.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should stop the test loudly

mod booking;
mod calls;
mod dashboard;
mod helpers;
mod messages;
mod outbound;
mod sync;
mod tools;
mod webhook_auth;

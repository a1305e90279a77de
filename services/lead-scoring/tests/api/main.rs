//! lead-scoring's tests against the real app, Postgres, Redis and RabbitMQ: events in through the
//! bus, state out through the API and the database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failure should stop the test loudly

mod api;
mod classifier;
mod consume;
mod script;
mod helpers;
mod scenarios;

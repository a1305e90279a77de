//! Calendar's HTTP tests against the real app, Postgres, Redis and RabbitMQ.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should stop the test loudly

mod errors;
mod helpers;
mod jwt;
mod services;
mod trace;

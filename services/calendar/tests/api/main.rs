//! Calendar's HTTP tests against the real app, Postgres, Redis and RabbitMQ.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failure should stop the test loudly

mod appointments;
mod availability;
mod consumer;
mod errors;
mod google;
mod grid;
mod helpers;
mod internal;
mod internal_clinic;
mod isolation;
mod jwt;
mod migration;
mod providers;
mod services;
mod settings;
mod trace;

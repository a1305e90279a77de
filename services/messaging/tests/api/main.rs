//! messaging's HTTP tests against the real app, Postgres, Redis and RabbitMQ, with a local fake
//! Twilio that speaks the Messages resource and records every request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failure should stop the test loudly

mod consumer;
mod fake_twilio;
mod helpers;
mod restart;
mod send;
mod twilio;
mod webhooks;

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should stop the test loudly
//! The auth service against the real Postgres, Redis and RabbitMQ.

mod account;
mod flags;
mod helpers;
mod keys;
mod mail;
mod members;
mod mfa;
mod orgs;
mod recovery;
mod sso;

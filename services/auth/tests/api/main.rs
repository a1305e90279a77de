#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed step should stop the test loudly
//! The auth service against the real Postgres, Redis and RabbitMQ.

mod account;
mod clients;
mod flags;
mod gotrue_flows;
mod helpers;
mod keys;
mod mail;
mod members;
mod mfa;
mod org_deletion;
mod orgs;
mod recovery;
mod revocation;
mod security;
mod security_events;
mod sso;

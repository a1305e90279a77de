//! Flows across services: a booking call through voice-webhook against the REAL calendar service
//! (both apps mint tokens from one test JWKS), on the real Postgres, Redis and RabbitMQ. Moved
//! here from `services/voice-webhook/tests/api/booking.rs`: services share no code, so a test
//! that starts two of them belongs to the platform.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failure should stop the test loudly

mod appointment_versions;
mod clinic_settings;
mod gotrue_gateway;
mod helpers;
mod lead_scoring;
mod reply_confirms;
mod voice_booking;
mod voice_scope;

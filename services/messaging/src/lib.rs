//! The messaging service (port 8084, schema `messaging`): SMS and WhatsApp through each org's Twilio, templates, reminders and opt-outs.

pub mod app;
pub mod config;
pub mod routes;

pub use app::{Messaging, MessagingSpec};

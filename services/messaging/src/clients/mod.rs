//! Outbound HTTP: Twilio's REST API.

pub mod twilio;

//! Outbound HTTP: calendar's internal API (with a service token) and Vapi's REST API.

pub mod calendar;
pub mod token;
pub mod vapi;

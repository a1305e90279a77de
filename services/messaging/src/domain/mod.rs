//! Pure rules of messaging, no I/O: phone numbers, message statuses and Twilio error classes,
//! Twilio's webhook signature, templates and segments, quiet hours, inbound keywords.

pub mod calls;
pub mod keywords;
pub mod phone;
pub mod quiet;
pub mod signature;
pub mod status;
pub mod template;

//! Pure calendar types and rules (no I/O): slots, settings, the catalog's rules, appointment
//! statuses and their transitions, contact fields.

pub mod appointment;
pub mod availability;
pub mod contact;
pub mod invalid;
pub mod provider;
pub mod service;
pub mod settings;

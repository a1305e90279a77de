//! Pure calendar types and rules (no I/O).

pub mod appointment;
pub mod availability;
pub mod service;
pub mod settings;

//! Pure calendar types and rules (no I/O).

pub mod service;

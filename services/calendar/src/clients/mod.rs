//! Calendar's outbound HTTP: Google (OAuth and Calendar v3).

pub mod google;

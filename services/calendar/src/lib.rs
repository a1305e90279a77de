//! The calendar service (port 8083, schema `calendar`): Services catalog, business hours, availability, appointments and Google Calendar sync.

pub mod app;
pub mod config;
pub mod domain;
pub mod routes;
pub mod store;

pub use app::{Calendar, CalendarSpec};

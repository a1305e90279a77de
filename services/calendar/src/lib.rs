//! The calendar service (port 8083, schema `calendar`): services catalog, clinic settings and
//! business hours, availability, holds and appointments that never double-book, and the Google
//! Calendar mirror.

pub mod app;
pub mod booking;
pub mod config;
pub mod domain;
pub mod events;
pub mod google;
pub mod routes;
pub mod store;

pub use app::{AppState, Calendar, CalendarSpec};

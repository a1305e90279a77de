//! Calendar's use cases, one file per capability. Each returns its own typed error; none knows
//! HTTP (the routes map the errors in `routes::problem`).

pub mod availability;
pub mod booking;
pub mod catalog;
pub mod google_connection;
pub mod providers;
pub mod settings;

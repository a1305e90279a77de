//! The lead-scoring service (port 8085, schema `leads`): Contacts, lead scores with reasons and pipeline stages.

pub mod app;
pub mod config;
pub mod routes;

pub use app::{LeadScoring, LeadScoringSpec};

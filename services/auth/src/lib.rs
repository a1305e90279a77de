//! The auth service (port 8081, schema `auth`): Organizations, users, memberships, sessions, MFA, SSO, audit log, JWKS and service tokens.

pub mod app;
pub mod config;
pub mod routes;

pub use app::{Auth, AuthService};

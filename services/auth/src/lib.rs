//! The auth service (port 8081, schema `auth`): organizations, users, memberships, sessions,
//! MFA, SSO, audit log, JWKS and service tokens.

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod keys;
pub mod limits;
pub mod mailer;
pub mod routes;
pub mod sso;
pub mod state;
pub mod store;
pub mod tokens;

pub use app::{Auth, AuthService};

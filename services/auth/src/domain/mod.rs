//! Pure rules and types of the auth service: no I/O, unit-tested.

pub mod email;
pub mod oidc;
pub mod org;
pub mod password;
pub mod refresh;
pub mod secret;
pub mod tokens;
pub mod totp;

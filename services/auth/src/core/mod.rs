//! Use cases, one file per capability. Each returns its own `thiserror` enum (wrapping `Infra`
//! for what fails beneath); none knows HTTP, views or `ApiError`.

pub mod audit;
pub mod client_grant;
pub mod flags;
pub mod infra;
pub mod keys;
pub mod limits;
pub mod members;
pub mod mfa;
pub mod orgs;
pub mod password_grant;
pub mod profile;
pub mod reauth;
pub mod recovery;
pub mod refresh_grant;
pub mod revocations;
pub mod sessions;
pub mod signup;
pub mod sso_sign_in;
pub mod step_up;
pub mod tokens;

//! Pure rules of the auth service: no I/O, unit-tested.

pub mod email;
pub mod password;
pub mod refresh;
pub mod totp;

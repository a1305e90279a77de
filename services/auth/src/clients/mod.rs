//! Outbound calls: the OpenID Connect provider (discovery, JWKS, token endpoint) and SMTP.

pub mod oidc;
pub mod smtp;

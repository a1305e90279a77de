//! Tenancy: who is calling and for which org. Ids, JWT claims and their verification against the
//! auth service's JWKS, the revocation check, actix extractors (`Tenant`, `ServiceCaller`), roles,
//! and the tenant-scoped database transaction that sets `app.org_id` for row-level security.

pub mod claims;
#[cfg(feature = "http")]
pub mod extract;
pub mod flags;
pub mod ids;
pub mod revocation;
pub mod tx;
pub mod verifier;

pub use claims::{Aal, AppMetadata, Claims, Role};
#[cfg(feature = "http")]
pub use extract::{Aal1Tenant, AuthState, ServiceCaller, Tenant};
pub use ids::{OrgId, SessionId, UserId};
pub use revocation::Revocations;
pub use tx::{Db, set_tenant};
pub use verifier::{AuthError, JwksSource, JwtVerifier};

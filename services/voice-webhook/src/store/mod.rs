//! Voice's diesel-async queries. Tenant functions take a connection already inside a tenant
//! transaction (`Db::tenant_tx`) *and* filter by the org explicitly; system functions (routes,
//! delivery log, Vapi tool and credential ids) say so in their module docs. `schema.rs` is generated
//! (`diesel print-schema`, see `diesel.toml`).

use diesel_migrations::{EmbeddedMigrations, embed_migrations};

pub mod access_log;
pub mod agents;
pub mod calls;
pub mod deliveries;
pub mod error;
pub mod inbox;
pub mod knowledge;
pub mod numbers;
/// `diesel print-schema` output (diesel.toml; checked by `make lint`).
#[path = "schema.rs"]
mod generated;
/// The generated tables under their unqualified names, for the queries.
pub mod schema {
    pub use super::generated::voice::*;
}
pub mod secrets;
pub mod vapi_credentials;
pub mod vapi_tools;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/voice");

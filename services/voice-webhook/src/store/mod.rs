//! Voice's diesel-async queries. Tenant functions take a connection already inside a tenant
//! transaction (`Db::tenant_tx`) *and* filter by the org explicitly; system functions (routes,
//! delivery log) say so in their names' module docs.

pub mod agents;
pub mod calls;
pub mod deliveries;
pub mod numbers;
pub mod schema;
pub mod secrets;

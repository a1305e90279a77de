//! Calendar's diesel-async queries. Every function takes a connection that is already inside a
//! tenant transaction (`Db::tenant_tx`) *and* filters by the org explicitly: RLS is the last line,
//! not the only one.

pub mod schema;
pub mod services;

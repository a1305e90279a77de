//! The process shape every Voxanne service shares, so a service supplies only what is its own:
//! settings (common + bus + its own), telemetry, pools, the bus (topology, relay), the HTTP
//! server with tenancy wired in, the `serve | migrate | dlq | <own commands>` CLI and graceful
//! shutdown. `bus` stays transport only; this crate is the application frame around it.

pub mod cli;
pub mod server;
pub mod service;

pub use cli::{Cli, Command, Service, main};
pub use service::{Context, ServiceSettings, Standard, StandardService, StandardSettings};

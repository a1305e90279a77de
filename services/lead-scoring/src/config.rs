//! lead-scoring's identity; settings are the standard ones (common + bus) until it needs its own.

use servicekit::config::ServiceInfo;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "lead-scoring",
    schema: "leads",
    default_port: 8085,
};

/// The service reads the standard settings (common + bus) and none of its own yet.
pub type Settings = bus::service::StandardSettings<()>;

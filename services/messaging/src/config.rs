//! messaging's identity; settings are the standard ones (common + bus) until it needs its own.

use servicekit::config::ServiceInfo;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "messaging",
    schema: "messaging",
    default_port: 8084,
};

/// The service reads the standard settings (common + bus) and none of its own yet.
pub type Settings = bus::service::StandardSettings<()>;

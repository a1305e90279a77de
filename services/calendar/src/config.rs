//! calendar's identity; settings are the standard ones (common + bus) until it needs its own.

use servicekit::config::ServiceInfo;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "calendar",
    schema: "calendar",
    default_port: 8083,
};

/// The service reads the standard settings (common + bus) for now.
pub type Settings = bus::service::ServiceSettings;

//! lead-scoring's settings: the shared ones for now; service-specific settings join here.

use servicekit::config::{CommonSettings, ConfigError, ServiceInfo};

pub const INFO: ServiceInfo = ServiceInfo {
    name: "lead-scoring",
    schema: "leads",
    default_port: 8085,
};

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
}

impl Settings {
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Settings {
            common: CommonSettings::from_lookup(INFO, lookup)?,
        })
    }
}

//! auth's settings: the shared ones and the bus; service-specific settings join here.

use bus::BusSettings;
use servicekit::config::{CommonSettings, ConfigError, ServiceInfo};

pub const INFO: ServiceInfo = ServiceInfo {
    name: "auth",
    schema: "auth",
    default_port: 8081,
};

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    pub bus: BusSettings,
}

impl Settings {
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let common = CommonSettings::from_lookup(INFO, lookup)?;
        let bus = BusSettings::from_lookup(&common, lookup)?;
        Ok(Settings { common, bus })
    }
}

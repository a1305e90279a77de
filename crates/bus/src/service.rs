//! The standard shape of a Voxanne service process: shared settings (common + bus), platform
//! pools, the bus (topology declared, relay running), the HTTP server with tenancy wired in, and
//! the `dlq` commands. A service supplies only what is its own — identity, migrations, OpenAPI
//! document, routes — through `StandardService`; one that needs more implements
//! `servicekit::cli::Service` itself.

use std::marker::PhantomData;

use actix_web::web;
use diesel_migrations::EmbeddedMigrations;
use servicekit::Platform;
use servicekit::cli::{DlqAction, Service};
use servicekit::config::{CommonSettings, ConfigError, ServiceInfo};
use servicekit::http::HttpServerHandle;

use crate::{Bus, BusSettings};

/// Settings of a standard service: the shared ones and the bus.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    pub common: CommonSettings,
    pub bus: BusSettings,
}

impl ServiceSettings {
    pub fn from_lookup(
        info: ServiceInfo,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let common = CommonSettings::from_lookup(info, lookup)?;
        let bus = BusSettings::from_lookup(&common, lookup)?;
        Ok(ServiceSettings { common, bus })
    }
}

/// What a standard service is made of.
pub trait StandardService: 'static {
    const INFO: ServiceInfo;
    /// The service's own migrations (the bus tables are applied before them).
    const MIGRATIONS: &'static EmbeddedMigrations;
    /// The service's OpenAPI document, generated from its handlers.
    fn openapi() -> utoipa::openapi::OpenApi;
    fn routes(cfg: &mut web::ServiceConfig);
}

/// `Service` for any `StandardService`: `servicekit::cli::main::<Standard<MyService>>()`.
pub struct Standard<S>(PhantomData<S>);

impl<S: StandardService> Service for Standard<S> {
    const INFO: ServiceInfo = S::INFO;
    const MIGRATIONS: &'static [&'static EmbeddedMigrations] = &[&crate::MIGRATIONS, S::MIGRATIONS];
    type Settings = ServiceSettings;

    fn settings(lookup: &dyn Fn(&str) -> Option<String>) -> Result<ServiceSettings, ConfigError> {
        ServiceSettings::from_lookup(S::INFO, lookup)
    }

    fn common(settings: &ServiceSettings) -> &CommonSettings {
        &settings.common
    }

    async fn build(settings: ServiceSettings) -> anyhow::Result<HttpServerHandle> {
        let openapi = servicekit::ops::openapi_json(S::openapi());
        let platform = Platform::connect(&settings.common)?;
        let bus = Bus::start(&settings.bus, &settings.common, &platform);
        tenancy::server::build(
            &settings.common,
            &platform,
            vec![bus.readiness()],
            openapi,
            S::routes,
        )
    }

    async fn dlq(settings: ServiceSettings, action: DlqAction) -> anyhow::Result<()> {
        crate::dlq::run_cli(&settings.bus, action).await
    }
}

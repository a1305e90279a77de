//! Builds the lead-scoring service: settings, migrations, OpenAPI document and routes.

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use servicekit::Platform;
use servicekit::cli::{DlqAction, Service};
use servicekit::config::{CommonSettings, ConfigError, ServiceInfo};
use servicekit::http::HttpServerHandle;
use utoipa::OpenApi;

use crate::config::{INFO, Settings};
use crate::routes;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/leads");

#[derive(OpenApi)]
#[openapi(info(
    title = "Voxanne lead-scoring",
    description = "Contacts, lead scores with reasons and pipeline stages."
))]
struct ApiDoc;

pub struct LeadScoring;

impl Service for LeadScoring {
    const INFO: ServiceInfo = INFO;
    const MIGRATIONS: &'static [&'static EmbeddedMigrations] = &[&bus::MIGRATIONS, &MIGRATIONS];
    type Settings = Settings;

    fn settings(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        Settings::from_lookup(lookup)
    }

    fn common(settings: &Settings) -> &CommonSettings {
        &settings.common
    }

    async fn build(settings: Settings) -> anyhow::Result<HttpServerHandle> {
        let openapi = servicekit::ops::openapi_json(ApiDoc::openapi());
        let platform = Platform::connect(&settings.common)?;
        let bus = bus::Bus::start(&settings.bus, &settings.common, &platform);
        tenancy::server::build(
            &settings.common,
            &platform,
            vec![bus.readiness()],
            openapi,
            routes::configure,
        )
    }

    async fn dlq(settings: Settings, action: DlqAction) -> anyhow::Result<()> {
        bus::dlq::run_cli(&settings.bus, action).await
    }
}

//! Builds the calendar service: settings, migrations, OpenAPI document and routes.

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use servicekit::cli::Service;
use servicekit::config::{CommonSettings, ConfigError, ServiceInfo};
use servicekit::http::HttpServerHandle;
use utoipa::OpenApi;

use crate::config::{INFO, Settings};
use crate::routes;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/calendar");

#[derive(OpenApi)]
#[openapi(
    paths(
        routes::services::create_service,
        routes::services::list_services,
        routes::services::get_service,
        routes::services::delete_service
    ),
    info(
        title = "Voxanne calendar",
        description = "Services catalog, business hours, availability, appointments and Google Calendar sync."
    )
)]
struct ApiDoc;

pub struct Calendar;

impl Service for Calendar {
    const INFO: ServiceInfo = INFO;
    const MIGRATIONS: &'static EmbeddedMigrations = &MIGRATIONS;
    type Settings = Settings;

    fn settings(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        Settings::from_lookup(lookup)
    }

    fn common(settings: &Settings) -> &CommonSettings {
        &settings.common
    }

    async fn build(settings: Settings) -> anyhow::Result<HttpServerHandle> {
        let openapi = servicekit::ops::openapi_json(ApiDoc::openapi());
        tenancy::server::build(&settings.common, openapi, routes::configure)
    }
}

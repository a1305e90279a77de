//! Builds the lead-scoring service: settings, migrations, OpenAPI document and routes.

use actix_web::web;
use bus::service::{Standard, StandardService};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use servicekit::config::ServiceInfo;
use utoipa::OpenApi;

use crate::config::INFO;
use crate::routes;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/leads");

#[derive(OpenApi)]
#[openapi(info(
    title = "Voxanne lead-scoring",
    description = "Contacts, lead scores with reasons and pipeline stages."
))]
struct ApiDoc;

/// The lead-scoring service as the standard process shape runs it (`servicekit::cli::Service`).
pub type LeadScoring = Standard<LeadScoringSpec>;

pub struct LeadScoringSpec;

impl StandardService for LeadScoringSpec {
    const INFO: ServiceInfo = INFO;
    const MIGRATIONS: &'static EmbeddedMigrations = &MIGRATIONS;

    fn openapi() -> utoipa::openapi::OpenApi {
        ApiDoc::openapi()
    }

    type Own = ();

    fn own_settings(
        _: &servicekit::config::CommonSettings,
        _: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), servicekit::config::ConfigError> {
        Ok(())
    }

    fn routes(cfg: &mut web::ServiceConfig, _: &bus::service::Context<()>) {
        routes::configure(cfg);
    }
}

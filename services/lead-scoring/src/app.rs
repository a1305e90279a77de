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

    fn routes(cfg: &mut web::ServiceConfig) {
        routes::configure(cfg);
    }
}

//! Builds the voice-webhook service: settings, migrations, OpenAPI document and routes.

use actix_web::web;
use bus::service::{Standard, StandardService};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use servicekit::config::ServiceInfo;
use utoipa::OpenApi;

use crate::config::INFO;
use crate::routes;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/voice");

#[derive(OpenApi)]
#[openapi(info(
    title = "Voxanne voice-webhook",
    description = "Vapi server URL, agents, phone numbers, calls, transcripts and live tool execution."
))]
struct ApiDoc;

/// The voice-webhook service as the standard process shape runs it (`servicekit::cli::Service`).
pub type VoiceWebhook = Standard<VoiceWebhookSpec>;

pub struct VoiceWebhookSpec;

impl StandardService for VoiceWebhookSpec {
    const INFO: ServiceInfo = INFO;
    const MIGRATIONS: &'static EmbeddedMigrations = &MIGRATIONS;

    fn openapi() -> utoipa::openapi::OpenApi {
        ApiDoc::openapi()
    }

    fn routes(cfg: &mut web::ServiceConfig) {
        routes::configure(cfg);
    }
}

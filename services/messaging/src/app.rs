//! Builds the messaging service: settings, migrations, OpenAPI document and routes.

use actix_web::web;
use bus::service::{Standard, StandardService};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use servicekit::config::ServiceInfo;
use utoipa::OpenApi;

use crate::config::INFO;
use crate::routes;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/messaging");

#[derive(OpenApi)]
#[openapi(info(
    title = "Voxanne messaging",
    description = "SMS and WhatsApp through each org's Twilio, templates, reminders and opt-outs."
))]
struct ApiDoc;

/// The messaging service as the standard process shape runs it (`servicekit::cli::Service`).
pub type Messaging = Standard<MessagingSpec>;

pub struct MessagingSpec;

impl StandardService for MessagingSpec {
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

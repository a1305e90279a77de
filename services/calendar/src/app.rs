//! Builds the calendar service: settings, migrations, OpenAPI document and routes.

use actix_web::web;
use bus::service::{Standard, StandardService};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use servicekit::config::ServiceInfo;
use utoipa::OpenApi;

use crate::config::INFO;
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

/// The calendar service as the standard process shape runs it (`servicekit::cli::Service`).
pub type Calendar = Standard<CalendarSpec>;

pub struct CalendarSpec;

impl StandardService for CalendarSpec {
    const INFO: ServiceInfo = INFO;
    const MIGRATIONS: &'static EmbeddedMigrations = &MIGRATIONS;

    fn openapi() -> utoipa::openapi::OpenApi {
        ApiDoc::openapi()
    }

    fn routes(cfg: &mut web::ServiceConfig) {
        routes::configure(cfg);
    }
}

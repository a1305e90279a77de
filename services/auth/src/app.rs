//! Builds the auth service: settings, migrations, OpenAPI document and routes.

use actix_web::web;
use bus::service::{Standard, StandardService};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use servicekit::config::ServiceInfo;
use utoipa::OpenApi;

use crate::config::INFO;
use crate::routes;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/auth");

#[derive(OpenApi)]
#[openapi(info(
    title = "Voxanne auth",
    description = "Organizations, users, memberships, sessions, MFA, SSO, audit log, JWKS and service tokens."
))]
struct ApiDoc;

/// The auth service as the standard process shape runs it (`servicekit::cli::Service`).
pub type AuthService = Standard<Auth>;

pub struct Auth;

impl StandardService for Auth {
    const INFO: ServiceInfo = INFO;
    const MIGRATIONS: &'static EmbeddedMigrations = &MIGRATIONS;

    fn openapi() -> utoipa::openapi::OpenApi {
        ApiDoc::openapi()
    }

    fn routes(cfg: &mut web::ServiceConfig) {
        routes::configure(cfg);
    }
}

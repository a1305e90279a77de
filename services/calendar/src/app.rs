//! Builds the calendar service: settings, migrations, OpenAPI document, routes, and at start the
//! bus consumer (`org.created.v1`, `org.deleted.v1`) and the Google sync worker.

use std::sync::Arc;

use actix_web::web;
use bus::service::{Context, Standard, StandardService};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use servicekit::config::{CommonSettings, ConfigError, ServiceInfo};
use tenancy::Db;
use utoipa::OpenApi;

use crate::config::{CalendarSettings, INFO};
use crate::google::{Google, GoogleClient};
use crate::routes;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/calendar");

#[derive(OpenApi)]
#[openapi(
    paths(
        routes::services::create_service,
        routes::services::list_services,
        routes::services::get_service,
        routes::services::delete_service,
        routes::settings::get_settings,
        routes::settings::put_settings,
        routes::availability::get_availability,
        routes::appointments::create_appointment,
        routes::appointments::list_appointments,
        routes::appointments::get_appointment,
        routes::appointments::reschedule_appointment,
        routes::appointments::cancel_appointment,
        routes::appointments::complete_appointment,
        routes::appointments::no_show_appointment,
        routes::google::status,
        routes::google::connect,
        routes::google::callback,
        routes::google::disconnect
    ),
    info(
        title = "Voxanne calendar",
        description = "Services catalog, business hours, availability, appointments and Google Calendar sync."
    )
)]
struct ApiDoc;

/// What the handlers share.
pub struct AppState {
    pub db: Db,
    pub google: Arc<Google>,
}

/// The calendar service as the standard process shape runs it (`servicekit::cli::Service`).
pub type Calendar = Standard<CalendarSpec>;

pub struct CalendarSpec;

fn google_of(ctx: &Context<CalendarSettings>) -> Arc<Google> {
    Arc::new(Google::new(
        GoogleClient::new(ctx.own.google.clone()),
        ctx.settings.common.keys.clone(),
    ))
}

impl StandardService for CalendarSpec {
    const INFO: ServiceInfo = INFO;
    const MIGRATIONS: &'static EmbeddedMigrations = &MIGRATIONS;

    fn openapi() -> utoipa::openapi::OpenApi {
        ApiDoc::openapi()
    }

    type Own = CalendarSettings;

    fn own_settings(
        common: &CommonSettings,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<CalendarSettings, ConfigError> {
        crate::config::own_settings(common, lookup)
    }

    fn routes(cfg: &mut web::ServiceConfig, ctx: &Context<CalendarSettings>) {
        cfg.app_data(web::Data::new(AppState {
            db: ctx.db.clone(),
            google: google_of(ctx),
        }));
        routes::configure(cfg);
    }

    fn start(ctx: &Context<CalendarSettings>) -> anyhow::Result<()> {
        tracing::info!(
            tzdb = chrono_tz::IANA_TZDB_VERSION,
            google = ctx.own.google.enabled(),
            "calendar starting"
        );
        crate::events::consumer(&ctx.bus, ctx.db.clone()).spawn();
        if ctx.own.google.enabled() {
            crate::google::spawn_worker(google_of(ctx), ctx.db.clone());
        }
        Ok(())
    }
}

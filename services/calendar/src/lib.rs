//! The calendar service (port 8083, schema `calendar`): services catalog, clinic settings and
//! business hours, availability, holds and appointments that never double-book, and the Google
//! Calendar mirror. `Calendar` is the service as the standard process shape runs it: settings,
//! migrations, OpenAPI document, routes, and at start the bus consumer (`org.created.v1`,
//! `org.deleted.v1`) and the Google sync worker.

pub mod config;
pub mod state;
pub mod routes;
pub mod core;
pub mod domain;
pub mod store;
pub mod clients;
pub mod events;
pub mod workers;

use std::sync::Arc;

use actix_web::web;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use runtime::{Context, Standard, StandardService};
use servicekit::config::{CommonSettings, ConfigError, ServiceInfo};

use crate::clients::google::{Google, GoogleClient};
use crate::config::CalendarSettings;
pub use crate::state::AppState;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/calendar");

/// The calendar service as the standard process shape runs it (`runtime::Service`).
pub type Calendar = Standard<CalendarSpec>;

pub struct CalendarSpec;

fn google_of(ctx: &Context<CalendarSettings>) -> Arc<Google> {
    Arc::new(Google::new(
        GoogleClient::new(ctx.own.google.clone()),
        ctx.settings.common.keys.clone(),
    ))
}

impl StandardService for CalendarSpec {
    const INFO: ServiceInfo = config::INFO;
    const MIGRATIONS: &'static EmbeddedMigrations = &MIGRATIONS;

    fn openapi() -> utoipa::openapi::OpenApi {
        routes::openapi()
    }

    type Own = CalendarSettings;

    const SETTINGS: &'static [servicekit::config::Setting] = config::SETTINGS;

    fn own_settings(
        common: &CommonSettings,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<CalendarSettings, ConfigError> {
        config::own_settings(common, lookup)
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
        events::consumer::consumer(&ctx.bus, ctx.db.clone()).spawn();
        if ctx.own.google.enabled() {
            workers::google_sync::spawn_worker(google_of(ctx), ctx.db.clone());
        }
        Ok(())
    }
}

//! The messaging service (port 8084, schema `messaging`): SMS and WhatsApp through each org's own
//! Twilio account — confirmations and reminders from calendar's events, sends from the API,
//! Twilio's signed webhooks (status callbacks, inbound texts, STOP/START/HELP), opt-outs,
//! templates and the messages audit trail. Every outbound message is stored before Twilio is
//! called and sent by the dispatcher from a durable queue (docs/adr/0016-messaging.md).

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
use diesel_migrations::EmbeddedMigrations;
use runtime::{Context, Standard, StandardService};
use servicekit::config::{CommonSettings, ConfigError, ServiceInfo};

use crate::clients::twilio::TwilioClient;
use crate::config::{INFO, MessagingSettings};
use crate::state::AppState;

/// The messaging service as the standard process shape runs it (`runtime::Service`).
pub type Messaging = Standard<MessagingSpec>;

pub struct MessagingSpec;

fn state_of(ctx: &Context<MessagingSettings>) -> AppState {
    AppState {
        db: ctx.db.clone(),
        keys: ctx.settings.common.keys.clone(),
        twilio: TwilioClient::new(&ctx.own),
        settings: Arc::new(ctx.own.clone()),
        wake: ctx.own.wake.clone(),
    }
}

impl StandardService for MessagingSpec {
    const INFO: ServiceInfo = INFO;
    const MIGRATIONS: &'static EmbeddedMigrations = &store::MIGRATIONS;

    fn openapi() -> utoipa::openapi::OpenApi {
        routes::openapi()
    }

    type Own = MessagingSettings;

    const SETTINGS: &'static [servicekit::config::Setting] = config::SETTINGS;

    fn own_settings(
        common: &CommonSettings,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<MessagingSettings, ConfigError> {
        config::own_settings(common, lookup)
    }

    fn routes(cfg: &mut web::ServiceConfig, ctx: &Context<MessagingSettings>) {
        cfg.app_data(web::Data::new(state_of(ctx)));
        routes::configure(cfg);
    }

    fn start(ctx: &Context<MessagingSettings>) -> anyhow::Result<()> {
        tracing::info!(
            twilio = %ctx.own.twilio_api_base_url,
            public = %ctx.own.public_base_url,
            "messaging starting"
        );
        events::consumer::consumer(&ctx.bus, ctx.db.clone(), ctx.settings.common.keys.clone())
            .spawn();
        let in_flight = (ctx.settings.common.db_pool_size / 2).clamp(1, 8);
        workers::dispatcher::spawn(state_of(ctx), &ctx.bus.stop, in_flight);
        Ok(())
    }
}

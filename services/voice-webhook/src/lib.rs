//! The voice-webhook service (port 8082, schema `voice`): Vapi server URL, agents, phone numbers,
//! calls, transcripts and live tool execution. The process shape (`VoiceWebhookSpec`: settings,
//! migrations, routes, the consumer, the workers and the `replay` / `sync-tools` commands) is
//! here, at the root, so that `state` (which routes, core and workers import) imports none of
//! them back.

#![warn(clippy::panic, clippy::as_conversions, rust_2018_idioms)] // the workspace lints to come

pub mod config;
pub mod state;
pub mod routes;
pub mod core;
pub mod domain;
pub mod store;
pub mod clients;
pub mod events;
pub mod workers;

use actix_web::web;
use diesel_migrations::EmbeddedMigrations;
use runtime::{Context, Standard, StandardService};
use servicekit::config::ServiceInfo;

use crate::config::{INFO, VoiceSettings};
use crate::state::VoiceState;

/// The voice-webhook service as the standard process shape runs it (`runtime::Service`).
pub type VoiceWebhook = Standard<VoiceWebhookSpec>;

pub struct VoiceWebhookSpec;

#[derive(Debug, clap::Parser)]
#[command(name = "voice-webhook")]
enum Command {
    /// Apply logged webhook deliveries that were not applied (a failed end-of-call report …).
    Replay {
        /// Delivery ids to apply (repeatable).
        #[arg(
            long = "id",
            required_unless_present = "failed",
            conflicts_with = "failed"
        )]
        ids: Vec<uuid::Uuid>,
        /// Every delivery whose apply failed.
        #[arg(long)]
        failed: bool,
    },
    /// Create or update the global Vapi tools (needs VAPI_API_KEY).
    SyncTools,
}

impl StandardService for VoiceWebhookSpec {
    const INFO: ServiceInfo = INFO;
    const MIGRATIONS: &'static EmbeddedMigrations = &store::MIGRATIONS;

    fn openapi() -> utoipa::openapi::OpenApi {
        routes::openapi()
    }

    type Own = VoiceSettings;

    const SETTINGS: &'static [servicekit::config::Setting] = config::SETTINGS;

    fn own_settings(
        common: &servicekit::config::CommonSettings,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<VoiceSettings, servicekit::config::ConfigError> {
        VoiceSettings::from_lookup(common, lookup)
    }

    fn routes(cfg: &mut web::ServiceConfig, ctx: &Context<VoiceSettings>) {
        match VoiceState::from_context(ctx) {
            Ok(state) => {
                cfg.app_data(web::Data::new(state));
            }
            Err(e) => tracing::error!(error = %e, "voice state could not be built"),
        }
        routes::configure(cfg);
    }

    fn start(ctx: &Context<VoiceSettings>) -> anyhow::Result<()> {
        if ctx.own.webhook_secrets.is_empty() {
            tracing::warn!("VAPI_WEBHOOK_SECRET is not set: every Vapi webhook will be refused");
        }
        events::consumers::spawn(ctx);
        let state = VoiceState::from_context(ctx)?;
        workers::apply::spawn_appliers(&state);
        workers::retention::spawn_retention(&state);
        if state.vapi.is_some() {
            tokio::spawn(async move {
                if let Err(e) = crate::core::vapi_sync::sync_tools(&state).await {
                    tracing::warn!(error = %e, "vapi tool sync at start failed; run `voice-webhook sync-tools`");
                }
            });
        } else {
            tracing::info!("VAPI_API_KEY is not set: Vapi tool sync is skipped");
        }
        Ok(())
    }

    async fn command(ctx: Context<VoiceSettings>, args: Vec<String>) -> anyhow::Result<()> {
        use clap::Parser as _;
        let cmd =
            Command::try_parse_from(std::iter::once("voice-webhook".to_string()).chain(args))?;
        let state = VoiceState::from_context(&ctx)?;
        match cmd {
            Command::Replay { ids, failed } => {
                let (applied, failures) =
                    crate::core::webhook_apply::replay(&state, (!failed).then_some(ids)).await?;
                println!("replay: {applied} applied, {failures} failed");
                if failures > 0 {
                    anyhow::bail!("{failures} deliveries could not be applied");
                }
                Ok(())
            }
            Command::SyncTools => {
                if state.vapi.is_none() {
                    println!("VAPI_API_KEY is not set: nothing to sync");
                    return Ok(());
                }
                let report = crate::core::vapi_sync::sync_tools(&state).await?;
                println!("{report}");
                Ok(())
            }
        }
    }
}

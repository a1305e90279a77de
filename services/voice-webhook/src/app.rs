//! Builds the voice-webhook service: settings, migrations, OpenAPI document, routes, the event
//! consumer, the Vapi tool sync, and the `replay` / `sync-tools` commands.

use actix_web::web;
use bus::service::{Context, Standard, StandardService};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use servicekit::config::ServiceInfo;
use utoipa::OpenApi;

use crate::config::{INFO, VoiceSettings};
use crate::state::VoiceState;
use crate::{consumers, routes, webhook};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/voice");

#[derive(OpenApi)]
#[openapi(
    paths(
        webhook::receive_vapi,
        webhook::receive_vapi_for_org,
        routes::agents::create_agent,
        routes::agents::list_agents,
        routes::agents::get_agent,
        routes::agents::update_agent,
        routes::agents::delete_agent,
        routes::numbers::create_number,
        routes::numbers::list_numbers,
        routes::numbers::get_number,
        routes::numbers::update_number,
        routes::numbers::delete_number,
        routes::calls::list_calls,
        routes::calls::get_call,
        routes::calls::analytics,
        routes::calls::start_outbound_call,
        routes::secrets::rotate_webhook_secret,
    ),
    info(
        title = "Voxanne voice-webhook",
        description = "Vapi server URL, agents, phone numbers, calls, transcripts and live tool execution."
    )
)]
struct ApiDoc;

/// The voice-webhook service as the standard process shape runs it (`servicekit::cli::Service`).
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
    const MIGRATIONS: &'static EmbeddedMigrations = &MIGRATIONS;

    fn openapi() -> utoipa::openapi::OpenApi {
        ApiDoc::openapi()
    }

    type Own = VoiceSettings;

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
        consumers::spawn(ctx);
        let state = VoiceState::from_context(ctx)?;
        webhook::apply::spawn_appliers(&state);
        if state.vapi.is_some() {
            tokio::spawn(async move {
                if let Err(e) = crate::sync::sync_tools(&state).await {
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
                    webhook::apply::replay(&state, (!failed).then_some(ids)).await?;
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
                let report = crate::sync::sync_tools(&state).await?;
                println!("{report}");
                Ok(())
            }
        }
    }
}

//! The lead-scoring service (port 8085, schema `leads`): every caller a contact, built from
//! events; a score 0–100 with a tier, reasons that name their evidence and a next best action,
//! from a versioned model file; the pipeline stage. `LeadScoring` is the service as the standard
//! process shape runs it; at start it spawns the bus consumer.

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

use crate::config::{INFO, LeadsSettings};
pub use crate::state::AppState;

/// lead-scoring's own commands.
#[derive(Debug, clap::Parser)]
enum Command {
    /// Re-score every contact (of one org, or of all) with a model version and print what changed.
    Rescore {
        /// The model version, e.g. `v1` (see services/lead-scoring/models/).
        #[arg(long)]
        model: String,
        /// Only this org.
        #[arg(long)]
        org: Option<uuid::Uuid>,
    },
}

/// The lead-scoring service as the standard process shape runs it (`runtime::Service`).
pub type LeadScoring = Standard<LeadScoringSpec>;

pub struct LeadScoringSpec;

impl StandardService for LeadScoringSpec {
    const INFO: ServiceInfo = INFO;
    const MIGRATIONS: &'static EmbeddedMigrations = &store::MIGRATIONS;

    fn openapi() -> utoipa::openapi::OpenApi {
        routes::openapi()
    }

    type Own = LeadsSettings;

    const SETTINGS: &'static [servicekit::config::Setting] = config::SETTINGS;

    fn own_settings(
        common: &CommonSettings,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<LeadsSettings, ConfigError> {
        config::own_settings(common, lookup)
    }

    fn routes(cfg: &mut web::ServiceConfig, ctx: &Context<LeadsSettings>) {
        cfg.app_data(web::Data::new(AppState {
            db: ctx.db.clone(),
            model: Arc::new(ctx.own.model.clone()),
        }));
        routes::configure(cfg);
    }

    async fn command(ctx: Context<LeadsSettings>, args: Vec<String>) -> anyhow::Result<()> {
        use clap::Parser as _;
        let cmd = Command::try_parse_from(std::iter::once("lead-scoring".to_string()).chain(args))?;
        match cmd {
            Command::Rescore { model, org } => {
                let model = domain::model::Model::load(&model)?;
                let report = crate::core::rescore::rescore(&ctx.db, &model, org).await?;
                print!("{report}");
                Ok(())
            }
        }
    }

    fn start(ctx: &Context<LeadsSettings>) -> anyhow::Result<()> {
        tracing::info!(
            model = %ctx.own.model.version,
            classifier = ctx.own.classifier.is_some(),
            "lead-scoring starting"
        );
        let model = Arc::new(ctx.own.model.clone());
        events::consumer::consumer(
            &ctx.bus,
            ctx.db.clone(),
            model.clone(),
            ctx.own.classifier.is_some(),
        )
        .spawn();
        if let Some(c) = &ctx.own.classifier {
            let client = clients::classifier::Classifier::new(c.clone())?;
            workers::classifier::spawn(ctx.db.clone(), model, client, ctx.own.classifier_poll);
        }
        Ok(())
    }
}

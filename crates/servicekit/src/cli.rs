//! The command line every service binary shares: `serve` (default) and `migrate`.

use std::future::Future;

use clap::{Parser, Subcommand};
use diesel_migrations::EmbeddedMigrations;

use crate::config::{CommonSettings, ConfigError, ServiceInfo};

#[derive(Debug, Parser)]
#[command(version, about = "A Voxanne service")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Apply this service's pending migrations as its schema owner, then exit.
    Migrate,
}

/// What a service binary provides to the shared entry point.
pub trait Service: 'static {
    const INFO: ServiceInfo;
    const MIGRATIONS: EmbeddedMigrations;
    type Settings: Send + 'static;
    fn settings_from_env() -> Result<Self::Settings, ConfigError>;
    fn common(settings: &Self::Settings) -> &CommonSettings;
    fn serve(settings: Self::Settings) -> impl Future<Output = anyhow::Result<()>>;
}

/// The whole `main` of a service binary.
pub fn main<S: Service>() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = match S::settings_from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: {e}", S::INFO.name);
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().worker_threads(2).build()?;
    runtime.block_on(async move {
        let common = S::common(&settings);
        let guard = crate::telemetry::init(S::INFO.name, &common.log_filter, common.otlp_endpoint.as_deref())?;
        let outcome = match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => S::serve(settings).await,
            Command::Migrate => {
                let applied = crate::migrate::run(&common.migration_database_url, S::INFO.schema, S::MIGRATIONS).await?;
                tracing::info!(service = S::INFO.name, applied = ?applied, "migrations applied");
                println!("{}: {} migration(s) applied", S::INFO.name, applied.len());
                Ok(())
            }
        };
        guard.shutdown().await;
        outcome
    })

}

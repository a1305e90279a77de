//! The command line every service binary shares: `serve` (default), `migrate`, `dlq` and the
//! service's own commands.

use std::future::Future;

use clap::{Parser, Subcommand};
use diesel_migrations::EmbeddedMigrations;

use bus::dlq::DlqAction;
use servicekit::config::{CommonSettings, ConfigError, ServiceInfo, Setting};
use servicekit::http::HttpServerHandle;

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
    /// Inspect or replay this service's dead-lettered events.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Print the settings this binary reads (name, required in production, secret, default)
    /// without reading the environment: the contract `make k8s-check` holds the overlays to.
    Settings {
        /// As JSON (the form of deploy/settings-contract.json).
        #[arg(long)]
        json: bool,
    },
    /// A command of the service's own (for example `auth keys rotate`, `voice-webhook replay`).
    #[command(external_subcommand)]
    Other(Vec<String>),
}

/// What a service provides to the shared entry point and to `testkit::spawn_app`.
pub trait Service: 'static {
    const INFO: ServiceInfo;
    /// Migration sources applied in order: the shared bus tables, then the service's own.
    const MIGRATIONS: &'static [&'static EmbeddedMigrations];
    type Settings: Send + Clone + 'static;
    /// Reads the service's settings through `lookup` (the environment, or a map in tests).
    fn settings(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self::Settings, ConfigError>;
    /// Every setting `settings` reads, declared; with `VOXANNE_ENV=production` the ones marked
    /// required must be present (`settings` refuses otherwise).
    fn declared() -> Vec<Setting>;
    fn common(settings: &Self::Settings) -> &CommonSettings;
    /// Wires pools, state and routes, binds the listener; the server runs when awaited.
    fn build(settings: Self::Settings) -> impl Future<Output = anyhow::Result<HttpServerHandle>>;
    /// `dlq list` / `dlq replay`.
    fn dlq(settings: Self::Settings, action: DlqAction)
    -> impl Future<Output = anyhow::Result<()>>;
    /// The service's own commands; `args[0]` is the command name. None by default.
    fn command(
        settings: Self::Settings,
        args: Vec<String>,
    ) -> impl Future<Output = anyhow::Result<()>> {
        let _ = settings;
        async move { anyhow::bail!("unknown command {:?}; see --help", args.first()) }
    }
}

/// The whole `main` of a service binary.
#[allow(clippy::disallowed_methods)] // the binary's one read of the environment
pub fn main<S: Service>() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Settings { json }) = cli.command {
        // Before the environment is read: the contract is the same whatever it holds.
        println!("{}", settings_text(S::INFO.name, &S::declared(), json));
        return Ok(());
    }
    let settings = match S::settings(&|k| std::env::var(k).ok()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: {e}", S::INFO.name);
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()?;
    runtime.block_on(async move {
        let common = S::common(&settings).clone();
        // `serve` logs to stdout; the operator commands keep stdout for their output.
        let guard = match cli.command {
            None | Some(Command::Serve) => servicekit::telemetry::init(S::INFO.name, &common.log_filter, common.otlp_endpoint.as_deref())?,
            Some(_) => servicekit::telemetry::init_with_writer(S::INFO.name, &common.log_filter, None, std::io::stderr)?,
        };
        let outcome = match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => match S::build(settings).await {
                Ok(handle) => {
                    let served = handle.server.await.map_err(anyhow::Error::from);
                    // SIGTERM: the HTTP side has drained; now the bus settles what it holds.
                    for stop in handle.after_stop {
                        stop.await;
                    }
                    served
                }
                Err(e) => Err(e),
            },
            Command::Settings { .. } => Ok(()), // answered before the environment is read
            Command::Dlq { action } => S::dlq(settings, action).await,
            Command::Other(args) => S::command(settings, args).await,
            Command::Migrate => {
                let applied = servicekit::migrate::run(&common.migration_database_url, S::INFO.schema, S::MIGRATIONS).await;
                if let Ok(applied) = &applied {
                    tracing::info!(service = S::INFO.name, applied = ?applied, "migrations applied");
                    println!("{}: {} migration(s) applied", S::INFO.name, applied.len());
                }
                applied.map(|_| ())
            }
        };
        guard.shutdown().await;
        outcome
    })
}

/// `settings` output: one JSON object (`--json`, the contract form) or a table.
pub fn settings_text(service: &str, declared: &[Setting], json: bool) -> String {
    if json {
        let settings: Vec<serde_json::Value> = declared
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "required_in_production": s.required_in_production,
                    "secret": s.secret,
                    "default": s.default,
                })
            })
            .collect();
        serde_json::to_string_pretty(
            &serde_json::json!({ "service": service, "settings": settings }),
        )
        .unwrap_or_default()
    } else {
        let mut out = format!("{:<32} {:<9} {:<6} default\n", "name", "required", "secret");
        for s in declared {
            out.push_str(&format!(
                "{:<32} {:<9} {:<6} {}\n",
                s.name,
                if s.required_in_production {
                    "prod"
                } else {
                    "-"
                },
                if s.secret { "yes" } else { "-" },
                s.default.unwrap_or("(none)")
            ));
        }
        out.trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dlq_commands_parse_and_refuse_ambiguity() {
        let id = "6f1c2b8e-7d1a-4c8e-9b1e-0a2f3c4d5e6f";
        let cli = Cli::try_parse_from(["svc", "dlq", "replay", "--id", id, "--id", id]).unwrap();
        match cli.command {
            Some(Command::Dlq {
                action: DlqAction::Replay { ids, all },
            }) => {
                assert_eq!(ids.len(), 2);
                assert!(!all);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Cli::try_parse_from(["svc", "dlq", "list"]).unwrap().command,
            Some(Command::Dlq {
                action: DlqAction::List { limit: 100 }
            })
        ));
        assert!(
            Cli::try_parse_from(["svc", "dlq", "replay"]).is_err(),
            "replay needs --id or --all"
        );
        assert!(Cli::try_parse_from(["svc", "dlq", "replay", "--all", "--id", id]).is_err());
        assert!(Cli::try_parse_from(["svc", "dlq", "replay", "--id", "not-a-uuid"]).is_err());
        assert!(matches!(
            Cli::try_parse_from(["svc", "keys", "rotate"]).unwrap().command,
            Some(Command::Other(args)) if args == ["keys", "rotate"]
        ));
        assert!(
            Cli::try_parse_from(["svc"]).unwrap().command.is_none(),
            "serve is the default"
        );
    }
}

//! The standard shape of a Voxanne service process: shared settings (common + bus), platform
//! pools, the bus (topology declared, relay running), the HTTP server with tenancy wired in, and
//! the `dlq` commands. A service supplies only what is its own — identity, migrations, OpenAPI
//! document, routes — through `StandardService`; one that needs more implements
//! `runtime::Service` itself.

use std::future::Future;
use std::marker::PhantomData;

use actix_web::web;
use bus::dlq::DlqAction;
use bus::{Bus, BusSettings};
use diesel_migrations::EmbeddedMigrations;
use servicekit::Platform;
use servicekit::config::{COMMON_SETTINGS, CommonSettings, ConfigError, ServiceInfo, Setting};
use servicekit::http::HttpServerHandle;

use tenancy::Db;

use crate::cli::Service;

/// How long consumers may take to settle what they hold, and the relay to flush, on SIGTERM.
pub const BUS_SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(15);

/// Settings of a standard service: the shared ones and the bus.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    pub common: CommonSettings,
    pub bus: BusSettings,
}

impl ServiceSettings {
    pub fn from_lookup(
        info: ServiceInfo,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let common = CommonSettings::from_lookup(info, lookup)?;
        let bus = BusSettings::from_lookup(&common, lookup)?;
        Ok(ServiceSettings { common, bus })
    }
}

/// What a standard service process hands to its service's hooks: settings, pools, the bus.
#[derive(Clone)]
pub struct Context<X> {
    pub settings: ServiceSettings,
    pub platform: Platform,
    pub bus: Bus,
    pub db: Db,
    /// The service's own settings (`StandardService::Own`).
    pub own: X,
}

/// The settings of a standard service: the shared ones, the bus, and the service's own.
#[derive(Debug, Clone)]
pub struct StandardSettings<X> {
    pub standard: ServiceSettings,
    pub own: X,
}

/// What a standard service is made of.
pub trait StandardService: 'static {
    const INFO: ServiceInfo;
    /// The service's own migrations (the bus tables are applied before them).
    const MIGRATIONS: &'static EmbeddedMigrations;
    /// The service's own settings, read from the same environment; `()` when it has none.
    type Own: Send + Sync + Clone + std::fmt::Debug + 'static;
    /// Every setting `own_settings` reads, declared (name, required in production, secret,
    /// default): printed by `<binary> settings --json`, enforced in production by the runtime,
    /// and compared with what the code reads by platform-tests' settings contract test.
    const SETTINGS: &'static [Setting] = &[];
    fn own_settings(
        common: &CommonSettings,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self::Own, ConfigError>;
    /// The service's OpenAPI document, generated from its handlers.
    fn openapi() -> utoipa::openapi::OpenApi;
    /// The routes; `ctx` is there to put the service's own state into app data.
    fn routes(cfg: &mut web::ServiceConfig, ctx: &Context<Self::Own>);
    /// Runs once when serving starts, before the listener binds: spawn the bus consumer and
    /// background workers here. Nothing by default.
    fn start(ctx: &Context<Self::Own>) -> anyhow::Result<()> {
        let _ = ctx;
        Ok(())
    }
    /// How tokens are verified; `None` (the default) is the standard JWKS-over-HTTP verifier.
    fn auth_state(ctx: &Context<Self::Own>) -> anyhow::Result<Option<tenancy::AuthState>> {
        let _ = ctx;
        Ok(None)
    }
    /// The service's own commands (`args[0]` is the name). The context's bus has no relay.
    fn command(
        ctx: Context<Self::Own>,
        args: Vec<String>,
    ) -> impl Future<Output = anyhow::Result<()>> {
        let _ = ctx;
        async move { anyhow::bail!("unknown command {:?}; see --help", args.first()) }
    }
}

/// `Service` for any `StandardService`: `runtime::main::<Standard<MyService>>()`.
pub struct Standard<S>(PhantomData<S>);

impl<S: StandardService> Service for Standard<S> {
    const INFO: ServiceInfo = S::INFO;
    const MIGRATIONS: &'static [&'static EmbeddedMigrations] = &[&bus::MIGRATIONS, S::MIGRATIONS];
    type Settings = StandardSettings<S::Own>;

    fn settings(
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<StandardSettings<S::Own>, ConfigError> {
        // What production requires is checked from the declared list first, so the contract
        // `settings --json` prints is the rule the process applies.
        let mut errors = servicekit::config::missing_in_production(&Self::declared(), lookup);
        let read = ServiceSettings::from_lookup(S::INFO, lookup)
            .and_then(|standard| Ok((S::own_settings(&standard.common, lookup)?, standard)));
        match read {
            Ok((own, standard)) if errors.is_empty() => Ok(StandardSettings { standard, own }),
            Ok(_) => Err(ConfigError(errors)),
            Err(ConfigError(more)) => {
                for e in more {
                    if !errors.contains(&e) {
                        errors.push(e);
                    }
                }
                Err(ConfigError(errors))
            }
        }
    }

    fn declared() -> Vec<Setting> {
        COMMON_SETTINGS
            .iter()
            .chain(bus::config::SETTINGS)
            .chain(S::SETTINGS)
            .copied()
            .collect()
    }

    fn common(settings: &StandardSettings<S::Own>) -> &CommonSettings {
        &settings.standard.common
    }

    async fn build(settings: StandardSettings<S::Own>) -> anyhow::Result<HttpServerHandle> {
        let openapi = servicekit::ops::openapi_json(S::openapi());
        let platform = Platform::connect(&settings.standard.common)?;
        let bus = Bus::start(&settings.standard.bus, &settings.standard.common, &platform);
        let ctx = Context {
            db: Db::new(platform.pg.clone()),
            settings: settings.standard,
            platform,
            bus,
            own: settings.own,
        };
        S::start(&ctx)?;
        let auth = match S::auth_state(&ctx)? {
            Some(auth) => auth,
            None => {
                tenancy::AuthState::from_settings(&ctx.settings.common, ctx.platform.redis.clone())
            }
        };
        let mut handle = crate::server::build_with_auth(
            &ctx.settings.common,
            &ctx.platform,
            vec![ctx.bus.readiness()],
            openapi,
            auth,
            {
                let ctx = ctx.clone();
                move |cfg: &mut web::ServiceConfig| S::routes(cfg, &ctx)
            },
        )?;
        let bus = ctx.bus.clone();
        handle.after_stop.push(Box::pin(async move {
            // Within the pod's 30 s termination grace, after actix's 10 s for HTTP.
            bus.shutdown(BUS_SHUTDOWN_GRACE).await;
        }));
        Ok(handle)
    }

    async fn dlq(settings: StandardSettings<S::Own>, action: DlqAction) -> anyhow::Result<()> {
        bus::dlq::run_cli(&settings.standard.bus, action).await
    }

    async fn command(settings: StandardSettings<S::Own>, args: Vec<String>) -> anyhow::Result<()> {
        let platform = Platform::connect(&settings.standard.common)?;
        let ctx = Context {
            db: Db::new(platform.pg.clone()),
            bus: Bus::new(settings.standard.bus.clone()),
            settings: settings.standard,
            platform,
            own: settings.own,
        };
        S::command(ctx, args).await
    }
}

//! The auth service (port 8081, schema `auth`): organizations, users, memberships, sessions,
//! MFA, SSO, audit log, JWKS and service tokens. The process shape (`StandardService`) is
//! implemented here, beside the module list, so no module imports the routes but this root.

pub mod config;
pub mod state;
pub mod routes;
pub mod core;
pub mod domain;
pub mod store;
pub mod clients;
pub mod events;
pub mod workers;

use std::sync::{Arc, OnceLock};

use actix_web::web;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use runtime::{Context, Standard, StandardService};
use servicekit::config::{CommonSettings, ConfigError, ServiceInfo};
use tenancy::{AuthState, JwtVerifier};

use crate::config::{AuthSettings, INFO};
use crate::core::keys::{KeyStore, LocalJwks};
use crate::state::AppState;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/auth");

/// The auth service as the standard process shape runs it (`runtime::Service`).
pub type AuthService = Standard<Auth>;

pub struct Auth;

/// auth's own settings plus the state made from them once the pools exist (shared by the
/// verifier and the handlers of one process).
#[derive(Clone)]
pub struct AuthOwn {
    pub settings: AuthSettings,
    state: Arc<OnceLock<AppState>>,
}

impl std::fmt::Debug for AuthOwn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.settings.fmt(f)
    }
}

fn app_state(ctx: &Context<AuthOwn>) -> anyhow::Result<AppState> {
    if let Some(st) = ctx.own.state.get() {
        return Ok(st.clone());
    }
    let st = AppState::new(
        ctx.db.clone(),
        ctx.platform.pg.clone(),
        ctx.platform.redis.clone(),
        &ctx.settings.common,
        &ctx.own.settings,
    )?;
    Ok(ctx.own.state.get_or_init(|| st).clone())
}

impl StandardService for Auth {
    const INFO: ServiceInfo = INFO;
    const MIGRATIONS: &'static EmbeddedMigrations = &MIGRATIONS;
    type Own = AuthOwn;
    const SETTINGS: &'static [servicekit::config::Setting] = config::SETTINGS;

    fn own_settings(
        common: &CommonSettings,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<AuthOwn, ConfigError> {
        Ok(AuthOwn {
            settings: AuthSettings::from_lookup(common, lookup)?,
            state: Arc::new(OnceLock::new()),
        })
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        routes::openapi()
    }

    fn start(ctx: &Context<AuthOwn>) -> anyhow::Result<()> {
        let st = app_state(ctx)?;
        tracing::info!(hash = %st.hasher.describe(), "password hashing");
        match &st.settings.smtp_url {
            Some(url) => {
                workers::mailer::Mailer::new(
                    st.pool.clone(),
                    url,
                    &st.settings.mail_from,
                    std::time::Duration::from_secs(2),
                )?
                .spawn();
            }
            None => tracing::info!("AUTH_SMTP_URL not set: mail stays in auth.mail_outbox"),
        }
        // Revocation marks are a cache of the sessions table: rewrite lost ones (ADR 0011).
        workers::revocation_sync::spawn(st.clone(), st.settings.revocation_sync);
        // Scheduled org deletions are executed when their cancel window has passed.
        workers::org_deletion::spawn(st.clone(), st.settings.org_deletion_poll);
        // Load (or create) the signing key now rather than on the first request.
        tokio::spawn(async move {
            if let Err(e) = st.keys.jwks().await {
                tracing::error!(error = %e, "signing keys unavailable at start");
            }
        });
        Ok(())
    }

    fn auth_state(ctx: &Context<AuthOwn>) -> anyhow::Result<Option<AuthState>> {
        let st = app_state(ctx)?;
        let common = &ctx.settings.common;
        Ok(Some(AuthState {
            verifier: JwtVerifier::with_source(
                common.jwt.clone(),
                Arc::new(LocalJwks(st.keys.clone())),
            ),
            revocations: st.revocations.clone(),
            user_audiences: common.jwt.audience.clone(),
            service_audiences: vec![common.jwt.service_audience.clone()],
        }))
    }

    fn routes(cfg: &mut web::ServiceConfig, ctx: &Context<AuthOwn>) {
        match app_state(ctx) {
            Ok(st) => {
                cfg.app_data(web::Data::new(st));
            }
            Err(e) => tracing::error!(error = %e, "auth state could not be built"),
        }
        routes::configure(cfg);
    }

    /// auth's operator commands: `auth keys rotate` (adds a signing key; the previous one stays
    /// published until the tokens it signed have expired), `auth flags list`,
    /// `auth flags set <key> [--default on|off] [--rollout 0-100] [--description TEXT]`,
    /// `auth org-deletions list`, `auth org-deletions cancel <org>`,
    /// `auth org-deletions execute-now <org>` (docs/runbooks/org-deletion.md).
    async fn command(ctx: Context<AuthOwn>, args: Vec<String>) -> anyhow::Result<()> {
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["keys", "rotate"] => {
                let kid = KeyStore::rotate(
                    &ctx.platform.pg,
                    &ctx.settings.common.keys,
                    ctx.own.settings.access_ttl,
                )
                .await?;
                println!(
                    "auth: new signing key {kid}; the previous key stays published until its tokens expire"
                );
                Ok(())
            }
            ["flags", "list"] => {
                for f in crate::core::flags::definitions(&ctx.platform.pg).await? {
                    println!("{}", serde_json::to_string(&f)?);
                }
                Ok(())
            }
            ["flags", "set", key, rest @ ..] => {
                let change = flag_options(rest)?;
                let cache = tenancy::flags::Flags::new(
                    ctx.platform.redis.clone(),
                    ctx.settings.common.redis_prefix.clone(),
                );
                let flag =
                    crate::core::flags::define(&ctx.platform.pg, &cache, key, change).await?;
                println!("{}", serde_json::to_string(&flag)?);
                Ok(())
            }
            ["org-deletions", "list"] => {
                let st = app_state(&ctx)?;
                for o in crate::core::orgs::scheduled_deletions(&st).await? {
                    println!(
                        "{}",
                        serde_json::json!({
                            "id": o.id,
                            "name": o.name,
                            "deletion_scheduled_at": o.deletion_scheduled_at,
                            "deletes_at": o.deletes_at,
                            "requested_by": o.deletion_requested_by,
                        })
                    );
                }
                Ok(())
            }
            ["org-deletions", "cancel", org] => {
                let st = app_state(&ctx)?;
                let org: tenancy::OrgId = org.parse()?;
                crate::core::orgs::cancel_deletion(
                    &st,
                    org,
                    None,
                    &crate::store::audit::Origin::default(),
                )
                .await?;
                println!("auth: the deletion of {org} is cancelled");
                Ok(())
            }
            ["org-deletions", "execute-now", org] => {
                let st = app_state(&ctx)?;
                let org: tenancy::OrgId = org.parse()?;
                crate::core::orgs::force_deletion(&st, org).await?;
                println!("auth: {org} is deleted; org.deleted.v1 is in the outbox");
                Ok(())
            }
            _ => anyhow::bail!(
                "unknown command {args:?}; try `auth keys rotate`, `auth flags list`, `auth flags set <key> --default on|off --rollout N` or `auth org-deletions list|cancel <org>|execute-now <org>`"
            ),
        }
    }
}

/// The options of `auth flags set <key>`.
fn flag_options(rest: &[&str]) -> anyhow::Result<crate::core::flags::Definition> {
    let mut change = crate::core::flags::Definition::default();
    let mut it = rest.iter();
    while let Some(opt) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| anyhow::anyhow!("{opt} needs a value"))?;
        match *opt {
            "--default" => {
                change.default_enabled = Some(match *value {
                    "on" | "true" => true,
                    "off" | "false" => false,
                    other => anyhow::bail!("--default takes on or off, not {other:?}"),
                })
            }
            "--rollout" => {
                let p: i16 = value.parse()?;
                anyhow::ensure!((0..=100).contains(&p), "--rollout takes 0 to 100");
                change.rollout_percent = Some(p);
            }
            "--description" => change.description = Some((*value).to_string()),
            other => anyhow::bail!("unknown option {other}"),
        }
    }
    Ok(change)
}

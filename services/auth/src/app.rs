//! Builds the auth service: settings, migrations, OpenAPI document, routes, keys and commands.

use std::sync::{Arc, OnceLock};

use actix_web::web;
use bus::service::{Context, Standard, StandardService};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use servicekit::config::{CommonSettings, ConfigError, ServiceInfo};
use tenancy::{AuthState, JwtVerifier, Revocations};
use utoipa::OpenApi;

use crate::config::{AuthSettings, INFO};
use crate::domain::password::Hasher;
use crate::keys::{KeyStore, LocalJwks};
use crate::routes;
use crate::state::AppState;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/auth");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Voxanne auth",
        description = "Organizations, users, memberships, sessions, MFA, SSO, audit log, JWKS and service tokens."
    ),
    paths(
        routes::jwks::jwks,
        routes::account::signup,
        routes::sso::authorize,
        routes::sso::callback,
        routes::account::token,
        routes::account::logout,
        routes::recovery::recover,
        routes::recovery::verify,
        routes::account::get_user,
        routes::account::put_user,
        routes::sessions::list,
        routes::sessions::revoke,
        routes::audit::list,
        routes::flags::list,
        routes::flags::set_override,
        routes::mfa::list,
        routes::mfa::enroll,
        routes::mfa::challenge,
        routes::mfa::verify,
        routes::mfa::remove,
        routes::orgs::mine,
        routes::orgs::create,
        routes::orgs::get,
        routes::orgs::validate,
        routes::orgs::update,
        routes::members::accept,
        routes::members::list_members,
        routes::members::change_role,
        routes::members::remove_member,
        routes::members::invite,
        routes::members::list_invitations,
        routes::members::revoke_invitation,
        routes::members::delete_org,
    )
)]
struct ApiDoc;

/// The auth service as the standard process shape runs it (`servicekit::cli::Service`).
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
    let s = &ctx.own.settings;
    let common = &ctx.settings.common;
    let hasher = Hasher::new(
        s.argon2_m_kib,
        s.argon2_t,
        s.argon2_p,
        common.http_workers.max(2),
    )?;
    let st = AppState {
        db: ctx.db.clone(),
        pool: ctx.platform.pg.clone(),
        redis: ctx.platform.redis.clone(),
        redis_prefix: common.redis_prefix.clone(),
        keys: KeyStore::new(ctx.platform.pg.clone(), common.keys.clone(), s.key_reload),
        ring: common.keys.clone(),
        hasher,
        settings: s.clone(),
        jwt: common.jwt.clone(),
        revocations: Revocations::new(ctx.platform.redis.clone(), common.redis_prefix.clone()),
        flags: tenancy::flags::Flags::new(ctx.platform.redis.clone(), common.redis_prefix.clone()),
        sso: crate::sso::Providers::from_settings(s)?,
    };
    Ok(ctx.own.state.get_or_init(|| st).clone())
}

impl StandardService for Auth {
    const INFO: ServiceInfo = INFO;
    const MIGRATIONS: &'static EmbeddedMigrations = &MIGRATIONS;
    type Own = AuthOwn;

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
        ApiDoc::openapi()
    }

    fn start(ctx: &Context<AuthOwn>) -> anyhow::Result<()> {
        let st = app_state(ctx)?;
        tracing::info!(hash = %st.hasher.describe(), "password hashing");
        match &st.settings.smtp_url {
            Some(url) => {
                crate::mailer::Mailer::new(
                    st.pool.clone(),
                    url,
                    &st.settings.mail_from,
                    std::time::Duration::from_secs(2),
                )?
                .spawn();
            }
            None => tracing::info!("AUTH_SMTP_URL not set: mail stays in auth.mail_outbox"),
        }
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

    /// `auth keys rotate`: adds a signing key; the previous one stays published until the tokens
    /// it signed have expired.
    async fn command(ctx: Context<AuthOwn>, args: Vec<String>) -> anyhow::Result<()> {
        crate::cli::run(ctx, args).await
    }
}

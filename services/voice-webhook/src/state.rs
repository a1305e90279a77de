//! What voice's handlers share: settings, the tenant database, Redis, the key ring and clients.

use std::sync::Arc;

use servicekit::crypto::KeyRing;
use servicekit::db::RedisPool;
use tenancy::Db;

use crate::clients::calendar::CalendarClient;
use crate::clients::token::TokenSource;
use crate::clients::vapi::VapiClient;
use crate::config::VoiceSettings;

#[derive(Clone)]
pub struct VoiceState {
    pub settings: Arc<VoiceSettings>,
    pub db: Db,
    pub redis: RedisPool,
    pub redis_prefix: String,
    pub keys: KeyRing,
    pub calendar: CalendarClient,
    pub vapi: Option<VapiClient>,
    /// `BODY_LIMIT_BYTES`: larger webhooks are refused with 413.
    pub body_limit: usize,
    /// The delivery log's group-commit writer (one task per runtime that built this state).
    pub logger: crate::webhook::log::Logger,
}

impl VoiceState {
    pub fn from_context(ctx: &bus::service::Context<VoiceSettings>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(2))
            .pool_max_idle_per_host(64)
            .build()?;
        let own = &ctx.own;
        Ok(VoiceState {
            settings: Arc::new(own.clone()),
            db: ctx.db.clone(),
            redis: ctx.platform.redis.clone(),
            redis_prefix: ctx.settings.common.redis_prefix.clone(),
            keys: ctx.settings.common.keys.clone(),
            calendar: CalendarClient::new(
                http.clone(),
                &own.calendar_url,
                TokenSource::from_settings(own, http.clone()),
            ),
            vapi: VapiClient::from_settings(own, http),
            body_limit: ctx.settings.common.body_limit,
            logger: crate::webhook::log::Logger::start(ctx.db.clone()),
        })
    }
}

//! Voice's app state: what handlers, use cases and workers share — settings, the tenant
//! database, Redis, the key ring, the calendar and Vapi clients, and the delivery log writer.

use std::sync::Arc;

use servicekit::crypto::KeyRing;
use servicekit::db::RedisPool;
use tenancy::Db;

use crate::clients::calendar::CalendarClient;
use crate::clients::token::TokenSource;
use crate::clients::vapi::VapiClient;
use crate::config::VoiceSettings;
use crate::workers::log_writer::Logger;

#[derive(Clone)]
pub struct VoiceState {
    pub settings: Arc<VoiceSettings>,
    pub db: Db,
    pub redis: RedisPool,
    pub redis_prefix: String,
    pub keys: KeyRing,
    pub calendar: CalendarClient,
    pub vapi: Option<VapiClient>,
    /// `VAPI_MAX_BODY_BYTES` (not the global `BODY_LIMIT_BYTES`): larger webhooks are refused
    /// with 413.
    pub body_limit: usize,
    /// The delivery log's group-commit writer (one task per runtime that built this state).
    pub logger: Logger,
}

impl VoiceState {
    pub fn from_context(ctx: &runtime::Context<VoiceSettings>) -> anyhow::Result<Self> {
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
            body_limit: own.vapi_max_body_bytes,
            logger: Logger::start(ctx.db.clone()),
        })
    }
}

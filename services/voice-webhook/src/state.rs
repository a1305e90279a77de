//! Voice's app state: what handlers, use cases and workers share — settings, the tenant
//! database, Redis, the key ring, the calendar, Vapi and embeddings clients, the delivery log
//! writer, and when each org's generated knowledge documents were last refreshed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use servicekit::crypto::KeyRing;
use servicekit::db::RedisPool;
use tenancy::{Db, OrgId};

use crate::clients::calendar::CalendarClient;
use crate::clients::embeddings::EmbeddingsClient;
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
    /// The knowledge base's embeddings endpoint (`VOICE_KB_EMBEDDINGS_URL`); `None`: full-text
    /// retrieval only.
    pub embeddings: Option<EmbeddingsClient>,
    /// When this process last refreshed (or started refreshing) each org's system documents.
    pub kb_refreshed: Arc<Mutex<HashMap<OrgId, Instant>>>,
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
            vapi: VapiClient::from_settings(own, http.clone()),
            embeddings: EmbeddingsClient::from_settings(own, http),
            kb_refreshed: Arc::new(Mutex::new(HashMap::new())),
            body_limit: own.vapi_max_body_bytes,
            logger: Logger::start(ctx.db.clone()),
        })
    }
}

//! messaging's identity and its own settings, read from the same environment lookup as the
//! standard ones. The Twilio API root and the public base URL Twilio calls back are settings, so
//! tests point the service at a local fake Twilio and sign webhooks for the URL they use.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use servicekit::config::{CommonSettings, ConfigError, ServiceInfo, Setting};

pub const INFO: ServiceInfo = ServiceInfo {
    name: "messaging",
    schema: "messaging",
    default_port: 8084,
};

/// Messaging's own settings (the `settings` contract, ADR 0023). In production the public
/// base URL (Twilio's status callbacks) must be set.
pub const SETTINGS: &[Setting] = &[
    Setting::new("TWILIO_API_BASE_URL", Some("https://api.twilio.com")),
    Setting::new("PUBLIC_BASE_URL", Some("http://localhost:8080")).required(),
    Setting::new("TWILIO_HTTP_TIMEOUT_MS", Some("10000")),
    Setting::new("TWILIO_RETRY_BASE_MS", Some("1000")),
    Setting::new("TWILIO_MAX_ATTEMPTS", Some("8")),
    Setting::new("TWILIO_STATUS_CALLBACKS", Some("true")),
    Setting::new("MESSAGING_DISPATCH_POLL_MS", Some("500")),
    Setting::new("MESSAGING_LEASE_MS", Some("60000")),
    Setting::new("MESSAGING_ORG_RATE_PER_SECOND", Some("10")),
];

/// The service's settings: the standard ones (common + bus) and its own.
pub type Settings = runtime::StandardSettings<MessagingSettings>;

#[derive(Debug, Clone)]
pub struct MessagingSettings {
    /// Twilio's REST root (`https://api.twilio.com`), without a trailing slash.
    pub twilio_api_base_url: String,
    /// The public origin Twilio reaches us at (`https://app.example.com`): webhook signatures
    /// are checked against it and status callback URLs are built from it.
    pub public_base_url: String,
    /// Per-request timeout of every Twilio call.
    pub twilio_timeout: Duration,
    /// First retry delay after a 429/5xx; doubles per attempt (with jitter), capped at 10 min.
    pub retry_base: Duration,
    /// A message is failed after this many attempts.
    pub max_attempts: i32,
    /// How often the dispatcher looks for due sends when not woken.
    pub poll_interval: Duration,
    /// How long a claimed send stays invisible to other replicas.
    pub lease: Duration,
    /// Sends per second per org (Twilio's per-number limit is about one SMS per second on a
    /// long code; a Messaging Service pool allows more).
    pub org_rate_per_second: u32,
    /// Ask Twilio for status callbacks on every message.
    pub status_callbacks: bool,
    /// The dispatcher's bell, shared by every clone of the settings (handlers, consumers and the
    /// dispatcher of one process): rung when a send becomes due now.
    pub wake: Arc<Notify>,
}

pub fn own_settings(
    _common: &CommonSettings,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<MessagingSettings, ConfigError> {
    let get = |k: &str| {
        lookup(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let mut errors = Vec::new();
    let mut millis = |k: &str, default: u64| -> Duration {
        match get(k).map(|v| v.parse::<u64>()) {
            None => Duration::from_millis(default),
            Some(Ok(v)) if v > 0 => Duration::from_millis(v),
            Some(_) => {
                errors.push(format!("{k} must be a positive number of milliseconds"));
                Duration::from_millis(default)
            }
        }
    };
    let twilio_timeout = millis("TWILIO_HTTP_TIMEOUT_MS", 10_000);
    let retry_base = millis("TWILIO_RETRY_BASE_MS", 1_000);
    let poll_interval = millis("MESSAGING_DISPATCH_POLL_MS", 500);
    let lease = millis("MESSAGING_LEASE_MS", 60_000);
    let max_attempts = match get("TWILIO_MAX_ATTEMPTS").map(|v| v.parse::<i32>()) {
        None => 8,
        Some(Ok(v)) if (1..=50).contains(&v) => v,
        Some(_) => {
            errors.push("TWILIO_MAX_ATTEMPTS must be between 1 and 50".into());
            8
        }
    };
    let org_rate_per_second = match get("MESSAGING_ORG_RATE_PER_SECOND").map(|v| v.parse::<u32>()) {
        None => 10,
        Some(Ok(v)) if (1..=10_000).contains(&v) => v,
        Some(_) => {
            errors.push("MESSAGING_ORG_RATE_PER_SECOND must be between 1 and 10000".into());
            10
        }
    };
    let status_callbacks = !matches!(
        get("TWILIO_STATUS_CALLBACKS").as_deref(),
        Some("false" | "0" | "off")
    );
    let url = |errors: &mut Vec<String>, k: &str, default: &str| -> String {
        let v = get(k).unwrap_or_else(|| default.to_string());
        if !(v.starts_with("https://") || v.starts_with("http://")) {
            errors.push(format!("{k} must be an http(s) URL"));
        }
        v.trim_end_matches('/').to_string()
    };
    let settings = MessagingSettings {
        twilio_api_base_url: url(&mut errors, "TWILIO_API_BASE_URL", "https://api.twilio.com"),
        public_base_url: url(&mut errors, "PUBLIC_BASE_URL", "http://localhost:8080"),
        twilio_timeout,
        retry_base,
        max_attempts,
        poll_interval,
        lease,
        org_rate_per_second,
        status_callbacks,
        wake: Arc::new(Notify::new()),
    };
    if errors.is_empty() {
        Ok(settings)
    } else {
        Err(ConfigError(errors))
    }
}

//! calendar's identity and its own settings (the Google integration), read from the same
//! environment lookup as the standard ones. Every Google URL is a setting, so tests point the
//! service at a local fake server.

use std::time::Duration;

use servicekit::SecretString;
use servicekit::config::{CommonSettings, ConfigError, ServiceInfo, Setting};

pub const INFO: ServiceInfo = ServiceInfo {
    name: "calendar",
    schema: "calendar",
    default_port: 8083,
};

/// Calendar's own settings (the `settings` contract, ADR 0023). Google is off unless the
/// client id, secret and redirect URI are all set.
pub const SETTINGS: &[Setting] = &[
    Setting::new("GOOGLE_CLIENT_ID", None),
    Setting::new("GOOGLE_CLIENT_SECRET", None).secret(),
    Setting::new("GOOGLE_REDIRECT_URI", None),
    Setting::new(
        "GOOGLE_AUTH_URL",
        Some("https://accounts.google.com/o/oauth2/v2/auth"),
    ),
    Setting::new(
        "GOOGLE_TOKEN_URL",
        Some("https://oauth2.googleapis.com/token"),
    ),
    Setting::new(
        "GOOGLE_REVOKE_URL",
        Some("https://oauth2.googleapis.com/revoke"),
    ),
    Setting::new(
        "GOOGLE_API_BASE_URL",
        Some("https://www.googleapis.com/calendar/v3"),
    ),
    Setting::new("GOOGLE_SYNC_POLL_MS", Some("1000")),
    Setting::new("GOOGLE_RETRY_BASE_MS", Some("2000")),
    Setting::new("GOOGLE_BUSY_REFRESH_MS", Some("300000")),
    Setting::new("GOOGLE_HTTP_TIMEOUT_MS", Some("10000")),
    Setting::new("GOOGLE_MAX_ATTEMPTS", Some("12")),
];

/// The service's settings: the standard ones (common + bus) and its own.
pub type Settings = runtime::StandardSettings<CalendarSettings>;

#[derive(Debug, Clone)]
pub struct CalendarSettings {
    pub google: GoogleSettings,
}

#[derive(Debug, Clone)]
pub struct GoogleSettings {
    /// OAuth client; without client id, secret and redirect URI the integration is off.
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub redirect_uri: Option<String>,
    pub auth_url: String,
    pub token_url: String,
    pub revoke_url: String,
    /// Calendar API v3 root, without a trailing slash.
    pub api_base_url: String,
    /// How often the worker looks for due jobs when not woken.
    pub poll_interval: Duration,
    /// First retry delay after a 429/5xx; doubles per attempt (full jitter), capped at 10 min.
    pub retry_base: Duration,
    /// A write is given up after this many attempts.
    pub max_attempts: i32,
    /// How often a connected org's busy time is re-read (freeBusy).
    pub busy_refresh: Duration,
    /// Per-request timeout of every Google call.
    pub http_timeout: Duration,
}

impl GoogleSettings {
    pub fn enabled(&self) -> bool {
        self.client_id.is_some() && self.client_secret.is_some() && self.redirect_uri.is_some()
    }
}

pub fn own_settings(
    _common: &CommonSettings,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<CalendarSettings, ConfigError> {
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
    let poll_interval = millis("GOOGLE_SYNC_POLL_MS", 1000);
    let retry_base = millis("GOOGLE_RETRY_BASE_MS", 2000);
    let busy_refresh = millis("GOOGLE_BUSY_REFRESH_MS", 300_000);
    let http_timeout = millis("GOOGLE_HTTP_TIMEOUT_MS", 10_000);
    let max_attempts = match get("GOOGLE_MAX_ATTEMPTS").map(|v| v.parse::<i32>()) {
        None => 12,
        Some(Ok(v)) if (1..=100).contains(&v) => v,
        Some(_) => {
            errors.push("GOOGLE_MAX_ATTEMPTS must be between 1 and 100".into());
            12
        }
    };
    let url = |errors: &mut Vec<String>, k: &str, default: &str| -> String {
        let v = get(k).unwrap_or_else(|| default.to_string());
        if !(v.starts_with("https://") || v.starts_with("http://")) {
            errors.push(format!("{k} must be an http(s) URL"));
        }
        v.trim_end_matches('/').to_string()
    };
    let google = GoogleSettings {
        client_id: get("GOOGLE_CLIENT_ID"),
        client_secret: get("GOOGLE_CLIENT_SECRET").map(SecretString::from),
        redirect_uri: get("GOOGLE_REDIRECT_URI"),
        auth_url: url(
            &mut errors,
            "GOOGLE_AUTH_URL",
            "https://accounts.google.com/o/oauth2/v2/auth",
        ),
        token_url: url(
            &mut errors,
            "GOOGLE_TOKEN_URL",
            "https://oauth2.googleapis.com/token",
        ),
        revoke_url: url(
            &mut errors,
            "GOOGLE_REVOKE_URL",
            "https://oauth2.googleapis.com/revoke",
        ),
        api_base_url: url(
            &mut errors,
            "GOOGLE_API_BASE_URL",
            "https://www.googleapis.com/calendar/v3",
        ),
        poll_interval,
        retry_base,
        max_attempts,
        busy_refresh,
        http_timeout,
    };
    let partial = [
        google.client_id.is_some(),
        google.client_secret.is_some(),
        google.redirect_uri.is_some(),
    ];
    if partial.iter().any(|b| *b) && !partial.iter().all(|b| *b) {
        errors.push(
            "GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET and GOOGLE_REDIRECT_URI go together (set all three or none)"
                .into(),
        );
    }
    if errors.is_empty() {
        Ok(CalendarSettings { google })
    } else {
        Err(ConfigError(errors))
    }
}

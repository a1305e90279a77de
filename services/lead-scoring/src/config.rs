//! lead-scoring's identity and its own settings, read from the same environment lookup as the
//! standard ones.

use std::time::Duration;

use servicekit::SecretString;
use servicekit::config::{CommonSettings, ConfigError, ServiceInfo, Setting};

use crate::clients::classifier::ClassifierSettings;
use crate::domain::model::Model;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "lead-scoring",
    schema: "leads",
    default_port: 8085,
};

/// Lead-scoring's own settings (the `settings` contract, ADR 0023). The LLM classifier is off
/// unless its URL is set.
pub const SETTINGS: &[Setting] = &[
    Setting::new("LEADS_MODEL", Some("<the newest shipped model>")),
    Setting::new("LEADS_CLASSIFIER_URL", None),
    Setting::new("LEADS_CLASSIFIER_MODEL", Some("gpt-4o-mini")),
    Setting::new("LEADS_CLASSIFIER_API_KEY", None).secret(),
    Setting::new("LEADS_CLASSIFIER_TIMEOUT_MS", Some("4000")),
    Setting::new("LEADS_CLASSIFIER_POLL_MS", Some("500")),
];

/// The service's settings: the standard ones (common + bus) and its own.
pub type Settings = runtime::StandardSettings<LeadsSettings>;

#[derive(Debug, Clone)]
pub struct LeadsSettings {
    /// The scoring model new scores use (`LEADS_MODEL`, default: the newest shipped).
    pub model: Model,
    /// The optional intent classifier: on when `LEADS_CLASSIFIER_URL` is set.
    pub classifier: Option<ClassifierSettings>,
    /// How often the classifier worker looks for queued calls when idle.
    pub classifier_poll: Duration,
}

pub fn own_settings(
    _common: &CommonSettings,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<LeadsSettings, ConfigError> {
    let get = |k: &str| {
        lookup(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let model = match get("LEADS_MODEL") {
        Some(v) => Model::load(&v),
        None => Model::current(),
    }
    .map_err(|e| ConfigError(vec![format!("LEADS_MODEL: {e}")]))?;
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
    let timeout = millis("LEADS_CLASSIFIER_TIMEOUT_MS", 4000);
    let classifier_poll = millis("LEADS_CLASSIFIER_POLL_MS", 500);
    let classifier = match get("LEADS_CLASSIFIER_URL") {
        None => None,
        Some(url) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                errors.push("LEADS_CLASSIFIER_URL must be an http(s) URL".into());
            }
            Some(ClassifierSettings {
                base_url: url.trim_end_matches('/').to_string(),
                model: get("LEADS_CLASSIFIER_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
                api_key: get("LEADS_CLASSIFIER_API_KEY").map(SecretString::from),
                timeout,
            })
        }
    };
    if !errors.is_empty() {
        return Err(ConfigError(errors));
    }
    Ok(LeadsSettings {
        model,
        classifier,
        classifier_poll,
    })
}

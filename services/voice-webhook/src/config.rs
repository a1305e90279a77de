//! voice-webhook's identity and its own settings (Vapi webhook authentication, the calendar hop,
//! the service token, the Vapi REST API). The only place that reads them from the environment.

use std::time::Duration;

use secrecy::SecretString;
use servicekit::config::{CommonSettings, ConfigError, Environment, ServiceInfo, Setting};

pub const INFO: ServiceInfo = ServiceInfo {
    name: "voice-webhook",
    schema: "voice",
    default_port: 8082,
};

/// Voice's own settings (the `settings` contract, ADR 0023). In production the webhook
/// secret, the calendar hop and the service credentials must be set: their defaults are
/// loopback addresses and nothing.
pub const SETTINGS: &[Setting] = &[
    Setting::new("VAPI_WEBHOOK_SECRET", None)
        .required()
        .secret(),
    Setting::new("VAPI_WEBHOOK_SECRET_PREVIOUS", None).secret(),
    Setting::new("VAPI_WEBHOOK_AUTH", Some("secret")),
    Setting::new("VAPI_SECRET_HEADER", Some("x-vapi-secret")),
    Setting::new("VAPI_TIMESTAMP_TOLERANCE_SECS", Some("300")),
    Setting::new("VOICE_TOOL_TIMEOUT_MS", Some("3000")),
    Setting::new("CALENDAR_INTERNAL_URL", Some("http://127.0.0.1:8083")).required(),
    Setting::new("CALENDAR_SERVICE_TOKEN", None).secret(),
    Setting::new(
        "AUTH_TOKEN_URL",
        Some("http://127.0.0.1:8081/api/auth/token"),
    )
    .required(),
    Setting::new("SERVICE_CLIENT_ID", Some("voice-webhook")),
    Setting::new("SERVICE_CLIENT_SECRET", None)
        .required()
        .secret(),
    Setting::new("VAPI_API_URL", None),
    Setting::new("VAPI_API_KEY", None).secret(),
    Setting::new("VOICE_PUBLIC_WEBHOOK_URL", None),
    Setting::new("VOICE_MAX_OUTBOUND_CALLS", Some("10")),
    Setting::new("VOICE_APPLY_WORKERS", Some("2")),
    Setting::new("VOICE_APPLY_BATCH", Some("200")),
    Setting::new("VAPI_MAX_BODY_BYTES", Some("8388608")),
    Setting::new("VOICE_CLINIC_LOOKUP_TIMEOUT_MS", Some("1500")),
    Setting::new("VOICE_CHATTER_RETENTION_HOURS", Some("24")),
    Setting::new("VOICE_RETENTION_INTERVAL_SECS", Some("600")),
    Setting::new("VOICE_KB_TIMEOUT_MS", Some("300")),
    Setting::new("VOICE_KB_MAX_DOCUMENTS", Some("3")),
    Setting::new("VOICE_KB_MAX_CHARS", Some("2000")),
    Setting::new("VOICE_KB_DOC_MAX_BYTES", Some("65536")),
    Setting::new("VOICE_KB_DOCS_PER_ORG", Some("1000")),
    Setting::new("VOICE_KB_SYSTEM_TTL_SECS", Some("300")),
    Setting::new("VOICE_KB_EMBEDDINGS_URL", None),
    Setting::new("VOICE_KB_EMBEDDINGS_MODEL", Some("text-embedding-3-small")),
    Setting::new("VOICE_KB_EMBEDDINGS_API_KEY", None).secret(),
];

/// Standard settings (common + bus) plus voice's own.
pub type Settings = runtime::StandardSettings<VoiceSettings>;

/// How Vapi proves a webhook is genuine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookAuth {
    /// A shared secret in `secret_header` (`Authorization: Bearer <s>` when that header is
    /// `authorization`), compared in constant time.
    Secret,
    /// HMAC-SHA256 hex of `{x-timestamp}.{raw body}` in `x-signature`.
    Hmac,
}

#[derive(Clone)]
pub struct VoiceSettings {
    /// Header carrying the shared secret (lower case), default `x-vapi-secret`.
    pub secret_header: String,
    /// Accepted secrets: the current one first, then the previous one during a rotation.
    pub webhook_secrets: Vec<SecretString>,
    pub webhook_auth: WebhookAuth,
    pub timestamp_tolerance: Duration,
    /// How long one tool may take before the caller hears the fallback sentence.
    pub tool_timeout: Duration,
    /// Budget for answering `assistant-request` (Vapi gives 7.5 s end to end).
    pub assistant_request_timeout: Duration,
    pub calendar_url: String,
    /// A fixed service token for calendar's internal API (tests, emergencies) …
    pub calendar_service_token: Option<SecretString>,
    /// … or the auth service's token endpoint with this service's client credentials.
    pub auth_token_url: String,
    pub service_client_id: String,
    pub service_client_secret: Option<SecretString>,
    /// Vapi REST API; sync and outbound calls are off without a key.
    pub vapi_api_url: Option<String>,
    pub vapi_api_key: Option<SecretString>,
    /// Our public webhook URL, registered as the server URL of Vapi tools.
    pub public_webhook_url: Option<String>,
    /// Concurrent outbound calls an org may have (Vapi's org-wide default is 10).
    pub max_outbound_calls: u32,
    /// `VOICE_APPLY_WORKERS` (default 2, 0 = this process only logs): background tasks applying
    /// logged fire-and-forget messages (ADR 0007).
    pub apply_workers: usize,
    /// `VOICE_APPLY_BATCH` (default 200): deliveries one apply transaction takes at most.
    pub apply_batch: i64,
    /// `VAPI_MAX_BODY_BYTES` (default 8 MiB, at most 64 MiB): the largest Vapi webhook body
    /// accepted. End-of-call reports of long calls exceed the global `BODY_LIMIT_BYTES`, and
    /// Vapi does not resend a refused report; the gateway allows the same on that path.
    pub vapi_max_body_bytes: usize,
    /// `VOICE_CLINIC_LOOKUP_TIMEOUT_MS` (default 1500): how long a call waits for calendar's
    /// clinic zone and hours before it uses the last known ones (ADR 0014).
    pub clinic_lookup_timeout: Duration,
    /// `VOICE_CHATTER_RETENTION_HOURS` (default 24): how long logged messages of types voice
    /// does not act on (speech-update, conversation-update, …) are kept.
    pub chatter_retention: Duration,
    /// `VOICE_RETENTION_INTERVAL_SECS` (default 600): how often the retention worker runs.
    pub retention_interval: Duration,
    /// `VOICE_KB_TIMEOUT_MS` (default 300, 20–10000): the budget of a `knowledge-base-request`
    /// answer; past it the answer is an empty document list, never an error.
    pub kb_timeout: Duration,
    /// `VOICE_KB_MAX_DOCUMENTS` (default 3, 1–20): documents in one answer at most.
    pub kb_max_documents: usize,
    /// `VOICE_KB_MAX_CHARS` (default 2000, 200–20000): characters of content in one answer.
    pub kb_max_chars: usize,
    /// `VOICE_KB_DOC_MAX_BYTES` (default 65536, 1024–1048576): the largest document body.
    pub kb_doc_max_bytes: usize,
    /// `VOICE_KB_DOCS_PER_ORG` (default 1000, 1–100000): documents an org may write.
    pub kb_docs_per_org: i64,
    /// `VOICE_KB_SYSTEM_TTL_SECS` (default 300, 0–86400): how old the documents generated from
    /// calendar may get before a read refreshes them in the background.
    pub kb_system_ttl: Duration,
    /// `VOICE_KB_EMBEDDINGS_URL`: an OpenAI-compatible endpoint (`{url}/v1/embeddings`); unset,
    /// retrieval is full-text only.
    pub kb_embeddings_url: Option<String>,
    /// `VOICE_KB_EMBEDDINGS_MODEL` (default `text-embedding-3-small`).
    pub kb_embeddings_model: String,
    /// `VOICE_KB_EMBEDDINGS_API_KEY`: bearer key of the endpoint, if it needs one.
    pub kb_embeddings_key: Option<SecretString>,
}

impl std::fmt::Debug for VoiceSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceSettings")
            .field("secret_header", &self.secret_header)
            .field("webhook_secrets", &self.webhook_secrets.len())
            .field("webhook_auth", &self.webhook_auth)
            .field("tool_timeout", &self.tool_timeout)
            .field("calendar_url", &self.calendar_url)
            .field("vapi_api_url", &self.vapi_api_url)
            .field("vapi_api_key", &self.vapi_api_key.is_some())
            .finish_non_exhaustive()
    }
}

impl VoiceSettings {
    pub fn from_lookup(
        common: &CommonSettings,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut errors = Vec::new();
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let num = |errors: &mut Vec<String>, k: &str, default: u64| -> u64 {
            get(k).map_or(default, |v| {
                v.parse().unwrap_or_else(|_| {
                    errors.push(format!("{k} is not a valid number: {v:?}"));
                    default
                })
            })
        };
        let webhook_secrets: Vec<SecretString> =
            ["VAPI_WEBHOOK_SECRET", "VAPI_WEBHOOK_SECRET_PREVIOUS"]
                .into_iter()
                .filter_map(&get)
                .map(SecretString::from)
                .collect();
        if webhook_secrets.is_empty() && common.environment == Environment::Production {
            errors.push("VAPI_WEBHOOK_SECRET is required in production".into());
        }
        let webhook_auth = match get("VAPI_WEBHOOK_AUTH").as_deref() {
            None | Some("secret") => WebhookAuth::Secret,
            Some("hmac") => WebhookAuth::Hmac,
            Some(other) => {
                errors.push(format!(
                    "VAPI_WEBHOOK_AUTH must be secret or hmac (got {other:?})"
                ));
                WebhookAuth::Secret
            }
        };
        let tool_timeout_ms = num(&mut errors, "VOICE_TOOL_TIMEOUT_MS", 3000);
        if !(100..=20_000).contains(&tool_timeout_ms) {
            errors.push("VOICE_TOOL_TIMEOUT_MS must be between 100 and 20000".into());
        }
        let tolerance = num(&mut errors, "VAPI_TIMESTAMP_TOLERANCE_SECS", 300);
        let url = |errors: &mut Vec<String>, k: &str, v: Option<String>| -> Option<String> {
            let v = v?;
            if v.starts_with("http://") || v.starts_with("https://") {
                Some(v.trim_end_matches('/').to_string())
            } else {
                errors.push(format!("{k} must be an http(s) URL"));
                None
            }
        };
        let calendar_url = url(
            &mut errors,
            "CALENDAR_INTERNAL_URL",
            get("CALENDAR_INTERNAL_URL"),
        )
        .unwrap_or_else(|| "http://127.0.0.1:8083".into());
        let auth_token_url = url(&mut errors, "AUTH_TOKEN_URL", get("AUTH_TOKEN_URL"))
            .unwrap_or_else(|| "http://127.0.0.1:8081/api/auth/token".into());
        let vapi_api_url = url(&mut errors, "VAPI_API_URL", get("VAPI_API_URL"));
        let vapi_api_key = get("VAPI_API_KEY").map(SecretString::from);
        if vapi_api_key.is_some() && vapi_api_url.is_none() {
            errors.push("VAPI_API_URL is required with VAPI_API_KEY".into());
        }
        let public_webhook_url = url(
            &mut errors,
            "VOICE_PUBLIC_WEBHOOK_URL",
            get("VOICE_PUBLIC_WEBHOOK_URL"),
        );
        let max_outbound = num(&mut errors, "VOICE_MAX_OUTBOUND_CALLS", 10);
        let apply_workers = num(&mut errors, "VOICE_APPLY_WORKERS", 2);
        if apply_workers > 16 {
            errors.push("VOICE_APPLY_WORKERS must be at most 16".into());
        }
        let apply_batch = num(&mut errors, "VOICE_APPLY_BATCH", 200);
        if !(1..=5_000).contains(&apply_batch) {
            errors.push("VOICE_APPLY_BATCH must be between 1 and 5000".into());
        }
        let max_body = num(&mut errors, "VAPI_MAX_BODY_BYTES", 8 * 1024 * 1024);
        if !(1024..=64 * 1024 * 1024).contains(&max_body) {
            errors.push("VAPI_MAX_BODY_BYTES must be between 1024 and 67108864".into());
        }
        let clinic_lookup_ms = num(&mut errors, "VOICE_CLINIC_LOOKUP_TIMEOUT_MS", 1500);
        if !(50..=4000).contains(&clinic_lookup_ms) {
            errors.push("VOICE_CLINIC_LOOKUP_TIMEOUT_MS must be between 50 and 4000".into());
        }
        let chatter_hours = num(&mut errors, "VOICE_CHATTER_RETENTION_HOURS", 24);
        if !(1..=24 * 90).contains(&chatter_hours) {
            errors.push("VOICE_CHATTER_RETENTION_HOURS must be between 1 and 2160".into());
        }
        let retention_secs = num(&mut errors, "VOICE_RETENTION_INTERVAL_SECS", 600);
        if !(1..=86_400).contains(&retention_secs) {
            errors.push("VOICE_RETENTION_INTERVAL_SECS must be between 1 and 86400".into());
        }
        let kb_timeout_ms = num(&mut errors, "VOICE_KB_TIMEOUT_MS", 300);
        if !(20..=10_000).contains(&kb_timeout_ms) {
            errors.push("VOICE_KB_TIMEOUT_MS must be between 20 and 10000".into());
        }
        let kb_docs = num(&mut errors, "VOICE_KB_MAX_DOCUMENTS", 3);
        if !(1..=20).contains(&kb_docs) {
            errors.push("VOICE_KB_MAX_DOCUMENTS must be between 1 and 20".into());
        }
        let kb_chars = num(&mut errors, "VOICE_KB_MAX_CHARS", 2000);
        if !(200..=20_000).contains(&kb_chars) {
            errors.push("VOICE_KB_MAX_CHARS must be between 200 and 20000".into());
        }
        let kb_doc_bytes = num(&mut errors, "VOICE_KB_DOC_MAX_BYTES", 65_536);
        if !(1024..=1_048_576).contains(&kb_doc_bytes) {
            errors.push("VOICE_KB_DOC_MAX_BYTES must be between 1024 and 1048576".into());
        }
        let kb_per_org = num(&mut errors, "VOICE_KB_DOCS_PER_ORG", 1000);
        if !(1..=100_000).contains(&kb_per_org) {
            errors.push("VOICE_KB_DOCS_PER_ORG must be between 1 and 100000".into());
        }
        let kb_ttl = num(&mut errors, "VOICE_KB_SYSTEM_TTL_SECS", 300);
        if kb_ttl > 86_400 {
            errors.push("VOICE_KB_SYSTEM_TTL_SECS must be at most 86400".into());
        }
        let kb_embeddings_url = url(
            &mut errors,
            "VOICE_KB_EMBEDDINGS_URL",
            get("VOICE_KB_EMBEDDINGS_URL"),
        );
        let s = VoiceSettings {
            secret_header: get("VAPI_SECRET_HEADER")
                .unwrap_or_else(|| "x-vapi-secret".into())
                .to_ascii_lowercase(),
            webhook_secrets,
            webhook_auth,
            timestamp_tolerance: Duration::from_secs(tolerance),
            tool_timeout: Duration::from_millis(tool_timeout_ms),
            assistant_request_timeout: Duration::from_secs(5),
            calendar_url,
            calendar_service_token: get("CALENDAR_SERVICE_TOKEN").map(SecretString::from),
            auth_token_url,
            service_client_id: get("SERVICE_CLIENT_ID").unwrap_or_else(|| "voice-webhook".into()),
            service_client_secret: get("SERVICE_CLIENT_SECRET").map(SecretString::from),
            vapi_api_url,
            vapi_api_key,
            public_webhook_url,
            max_outbound_calls: u32::try_from(max_outbound.clamp(1, 1000)).unwrap_or(10),
            apply_workers: usize::try_from(apply_workers.min(16)).unwrap_or(2),
            apply_batch: i64::try_from(apply_batch.clamp(1, 5_000)).unwrap_or(200),
            vapi_max_body_bytes: usize::try_from(max_body.clamp(1024, 64 * 1024 * 1024))
                .unwrap_or(8 * 1024 * 1024),
            clinic_lookup_timeout: Duration::from_millis(clinic_lookup_ms),
            chatter_retention: Duration::from_secs(chatter_hours.saturating_mul(3600)),
            retention_interval: Duration::from_secs(retention_secs),
            kb_timeout: Duration::from_millis(kb_timeout_ms),
            kb_max_documents: usize::try_from(kb_docs.clamp(1, 20)).unwrap_or(3),
            kb_max_chars: usize::try_from(kb_chars.clamp(200, 20_000)).unwrap_or(2000),
            kb_doc_max_bytes: usize::try_from(kb_doc_bytes.clamp(1024, 1_048_576))
                .unwrap_or(65_536),
            kb_docs_per_org: i64::try_from(kb_per_org.clamp(1, 100_000)).unwrap_or(1000),
            kb_system_ttl: Duration::from_secs(kb_ttl.min(86_400)),
            kb_embeddings_url,
            kb_embeddings_model: get("VOICE_KB_EMBEDDINGS_MODEL")
                .unwrap_or_else(|| "text-embedding-3-small".into()),
            kb_embeddings_key: get("VOICE_KB_EMBEDDINGS_API_KEY").map(SecretString::from),
        };
        if errors.is_empty() {
            Ok(s)
        } else {
            Err(ConfigError(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common() -> CommonSettings {
        CommonSettings::from_lookup(INFO, &|_| None).unwrap()
    }

    #[test]
    fn defaults_are_local_and_keep_the_old_secret_during_rotation() {
        let s = VoiceSettings::from_lookup(&common(), &|k| match k {
            "VAPI_WEBHOOK_SECRET" => Some("new".into()),
            "VAPI_WEBHOOK_SECRET_PREVIOUS" => Some("old".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.webhook_secrets.len(), 2);
        assert_eq!(s.tool_timeout, Duration::from_secs(3));
        assert_eq!(s.secret_header, "x-vapi-secret");
        assert_eq!(s.calendar_url, "http://127.0.0.1:8083");
        assert_eq!(s.vapi_max_body_bytes, 8 * 1024 * 1024);
        assert_eq!(s.kb_timeout, Duration::from_millis(300));
        assert!(s.kb_embeddings_url.is_none());
        assert!(
            !format!("{s:?}").contains("old"),
            "Debug must not print secrets"
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let err = VoiceSettings::from_lookup(&common(), &|k| match k {
            "VAPI_WEBHOOK_AUTH" => Some("magic".into()),
            "VOICE_TOOL_TIMEOUT_MS" => Some("soon".into()),
            "VOICE_APPLY_BATCH" => Some("0".into()),
            "VOICE_APPLY_WORKERS" => Some("64".into()),
            "VAPI_API_KEY" => Some("k".into()),
            "CALENDAR_INTERNAL_URL" => Some("calendar:8083".into()),
            "VAPI_MAX_BODY_BYTES" => Some("1".into()),
            "VOICE_KB_TIMEOUT_MS" => Some("5".into()),
            "VOICE_KB_EMBEDDINGS_URL" => Some("embeddings.local".into()),
            _ => None,
        })
        .unwrap_err()
        .to_string();
        for k in [
            "VAPI_WEBHOOK_AUTH",
            "VOICE_TOOL_TIMEOUT_MS",
            "VOICE_APPLY_BATCH",
            "VOICE_APPLY_WORKERS",
            "VAPI_API_URL",
            "CALENDAR_INTERNAL_URL",
            "VAPI_MAX_BODY_BYTES",
            "VOICE_KB_TIMEOUT_MS",
            "VOICE_KB_EMBEDDINGS_URL",
        ] {
            assert!(err.contains(k), "{err}");
        }
    }
}

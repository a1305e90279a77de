//! The intent classifier: one `POST {base}/chat/completions` (the OpenAI chat-completions
//! protocol, which most hosted and local LLM servers speak) asking for `{"intent": "<one of
//! INTENTS>"}` from a call summary. Every failure is an outcome, never an error: a timeout, an
//! unreachable server, a non-2xx answer or an answer that is not one of the intents leave the
//! rules' intent in place (ADR 0017).

use std::time::Duration;

use serde_json::{Value, json};
use servicekit::{ExposeSecret as _, SecretString};

use crate::domain::features::{Classified, INTENTS, normalize_intent};

#[derive(Debug, Clone)]
pub struct ClassifierSettings {
    /// Base URL up to the API version, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<SecretString>,
    pub timeout: Duration,
}

#[derive(Clone)]
pub struct Classifier {
    http: reqwest::Client,
    settings: ClassifierSettings,
}

fn failed(outcome: &str) -> Classified {
    Classified {
        intent: None,
        outcome: outcome.to_string(),
    }
}

impl Classifier {
    pub fn new(settings: ClassifierSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .build()?;
        Ok(Classifier { http, settings })
    }

    pub fn request_body(&self, summary: &str) -> Value {
        json!({
            "model": self.settings.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": format!(
                    "You classify why a patient called a clinic, from the call summary. Answer with JSON \
                     only: {{\"intent\": \"<one of {}>\"}}.", INTENTS.join(", "))},
                {"role": "user", "content": summary}
            ]
        })
    }

    /// Classifies a call summary (personal data: sent only to the configured endpoint, never
    /// logged).
    pub async fn classify(&self, summary: &str) -> Classified {
        let url = format!("{}/chat/completions", self.settings.base_url);
        let mut req = self.http.post(&url).json(&self.request_body(summary));
        if let Some(key) = &self.settings.api_key {
            req = req.bearer_auth(key.expose_secret());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return failed("timeout"),
            Err(_) => return failed("unavailable"),
        };
        if !resp.status().is_success() {
            tracing::warn!(
                status = resp.status().as_u16(),
                "classifier answered with an error"
            );
            return failed("unavailable");
        }
        let body: Value = match resp.json().await {
            Ok(v) => v,
            Err(e) if e.is_timeout() => return failed("timeout"),
            Err(_) => return failed("bad_answer"),
        };
        let content = body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or("");
        let intent = serde_json::from_str::<Value>(content)
            .ok()
            .and_then(|v| v["intent"].as_str().map(str::to_string))
            .and_then(|i| normalize_intent(Some(&i)));
        match intent {
            Some(i) => Classified {
                intent: Some(i),
                outcome: "ok".into(),
            },
            None => failed("bad_answer"),
        }
    }
}

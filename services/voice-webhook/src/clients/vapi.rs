//! Vapi's REST API (spec §6): tools, assistants, phone numbers, credentials (vapi-extra §1.5),
//! outbound calls. Bearer key, JSON bodies; list endpoints
//! answer plain arrays.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

#[derive(Clone)]
pub struct VapiClient {
    http: reqwest::Client,
    base: String,
    key: SecretString,
}

#[derive(Debug, thiserror::Error)]
pub enum VapiError {
    #[error("vapi answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("vapi unreachable: {0}")]
    Transport(String),
}

impl VapiClient {
    pub fn new(http: reqwest::Client, base: &str, key: SecretString) -> Self {
        VapiClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            key,
        }
    }

    pub fn from_settings(s: &crate::config::VoiceSettings, http: reqwest::Client) -> Option<Self> {
        Some(Self::new(
            http,
            s.vapi_api_url.as_deref()?,
            s.vapi_api_key.clone()?,
        ))
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, VapiError> {
        let resp =
            servicekit::telemetry::inject_traceparent(req.bearer_auth(self.key.expose_secret()))
                .timeout(std::time::Duration::from_secs(10))
                .send()
                .await
                .map_err(|e| VapiError::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| VapiError::Transport(e.to_string()))?;
        if !status.is_success() {
            let mut body = text;
            body.truncate(300);
            return Err(VapiError::Status {
                status: status.as_u16(),
                body,
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn list_tools(&self) -> Result<Vec<Value>, VapiError> {
        let v = self
            .send(self.http.get(format!("{}/tool?limit=1000", self.base)))
            .await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    pub async fn create_tool(&self, body: &Value) -> Result<Value, VapiError> {
        self.send(self.http.post(format!("{}/tool", self.base)).json(body))
            .await
    }

    pub async fn update_tool(&self, id: &str, body: &Value) -> Result<Value, VapiError> {
        self.send(
            self.http
                .patch(format!("{}/tool/{id}", self.base))
                .json(body),
        )
        .await
    }

    pub async fn list_credentials(&self) -> Result<Vec<Value>, VapiError> {
        let v = self
            .send(
                self.http
                    .get(format!("{}/credential?limit=1000", self.base)),
            )
            .await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    pub async fn create_credential(&self, body: &Value) -> Result<Value, VapiError> {
        self.send(
            self.http
                .post(format!("{}/credential", self.base))
                .json(body),
        )
        .await
    }

    /// `PATCH /credential/{id}` with the whole `authenticationPlan` (rotation in place: every
    /// server config holding the id picks the new secret up).
    pub async fn update_credential(&self, id: &str, body: &Value) -> Result<Value, VapiError> {
        self.send(
            self.http
                .patch(format!("{}/credential/{id}", self.base))
                .json(body),
        )
        .await
    }

    pub async fn create_assistant(&self, body: &Value) -> Result<Value, VapiError> {
        self.send(
            self.http
                .post(format!("{}/assistant", self.base))
                .json(body),
        )
        .await
    }

    pub async fn update_assistant(&self, id: &str, body: &Value) -> Result<Value, VapiError> {
        self.send(
            self.http
                .patch(format!("{}/assistant/{id}", self.base))
                .json(body),
        )
        .await
    }

    pub async fn update_phone_number(&self, id: &str, body: &Value) -> Result<Value, VapiError> {
        self.send(
            self.http
                .patch(format!("{}/phone-number/{id}", self.base))
                .json(body),
        )
        .await
    }

    pub async fn create_call(&self, body: &Value) -> Result<Value, VapiError> {
        self.send(self.http.post(format!("{}/call", self.base)).json(body))
            .await
    }
}

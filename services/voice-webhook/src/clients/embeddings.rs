//! An OpenAI-compatible embeddings endpoint (`POST {base}/v1/embeddings`, body
//! `{"model", "input": [..]}`, answer `{"data": [{"index", "embedding": [..]}], ..}`), used by
//! the knowledge base when `VOICE_KB_EMBEDDINGS_URL` is set (ADR 0020). Bearer key optional
//! (local servers need none).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

#[derive(Clone)]
pub struct EmbeddingsClient {
    http: reqwest::Client,
    url: String,
    model: String,
    key: Option<SecretString>,
}

#[derive(Debug, thiserror::Error)]
pub enum EmbeddingsError {
    #[error("embeddings endpoint answered {status}")]
    Status { status: u16 },
    #[error("embeddings endpoint unreachable: {0}")]
    Transport(String),
    #[error("embeddings answer unusable: {0}")]
    Answer(String),
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

/// Texts sent in one request at most (OpenAI accepts 2048; smaller batches fail smaller).
pub const BATCH: usize = 64;

impl EmbeddingsClient {
    pub fn from_settings(s: &crate::config::VoiceSettings, http: reqwest::Client) -> Option<Self> {
        let base = s.kb_embeddings_url.as_deref()?;
        Some(EmbeddingsClient {
            http,
            url: format!("{}/v1/embeddings", base.trim_end_matches('/')),
            model: s.kb_embeddings_model.clone(),
            key: s.kb_embeddings_key.clone(),
        })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// One vector per input, in input order.
    pub async fn embed(
        &self,
        input: &[String],
        timeout: Duration,
    ) -> Result<Vec<Vec<f32>>, EmbeddingsError> {
        if input.is_empty() {
            return Ok(Vec::new());
        }
        let mut req = self
            .http
            .post(&self.url)
            .timeout(timeout)
            .json(&json!({ "model": self.model, "input": input, "encoding_format": "float" }));
        if let Some(k) = &self.key {
            req = req.bearer_auth(k.expose_secret());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| EmbeddingsError::Transport(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(EmbeddingsError::Status {
                status: resp.status().as_u16(),
            });
        }
        let answer: Answer = resp
            .json()
            .await
            .map_err(|e| EmbeddingsError::Answer(e.to_string()))?;
        if answer.data.len() != input.len() {
            return Err(EmbeddingsError::Answer(format!(
                "{} vectors for {} inputs",
                answer.data.len(),
                input.len()
            )));
        }
        let mut out: Vec<Option<Vec<f32>>> = vec![None; input.len()];
        for (i, item) in answer.data.into_iter().enumerate() {
            let at = item.index.unwrap_or(i);
            let slot = out
                .get_mut(at)
                .ok_or_else(|| EmbeddingsError::Answer(format!("index {at} out of range")))?;
            *slot = Some(item.embedding);
        }
        out.into_iter()
            .map(|v| v.ok_or_else(|| EmbeddingsError::Answer("an input has no vector".into())))
            .collect()
    }
}

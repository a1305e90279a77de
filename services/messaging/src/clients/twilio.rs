//! Twilio's Messages resource over plain HTTP (reqwest): create (form encoded, basic auth), list
//! by recipient (to resolve a send whose outcome is unknown) and the account fetch that verifies
//! credentials. Every URL starts at the configured base, so tests talk to a local fake.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::config::MessagingSettings;

/// Who the requests authenticate as: the account SID (always in the path) and either its auth
/// token or an API key SID and secret.
#[derive(Clone)]
pub struct Credentials {
    pub account_sid: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("account_sid", &self.account_sid)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A message as Twilio returns it (the fields we use).
#[derive(Debug, Clone, Deserialize)]
pub struct TwilioMessage {
    pub sid: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub error_code: Option<i64>,
    #[serde(default)]
    pub error_message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MessagePage {
    #[serde(default)]
    messages: Vec<TwilioMessage>,
}

#[derive(Debug, Deserialize, Default)]
struct TwilioErrorBody {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TwilioError {
    /// The request never reached Twilio (connection refused, DNS): safe to send again.
    #[error("Twilio could not be reached: {0}")]
    NotSent(String),
    /// The request may have reached Twilio (timeout, reset, unreadable answer): look it up,
    /// never send again blindly.
    #[error("the outcome of the Twilio request is unknown: {0}")]
    Ambiguous(String),
    /// Twilio answered with an error.
    #[error("Twilio answered {status} (code {code:?}): {message}")]
    Api {
        status: u16,
        code: Option<i64>,
        message: String,
        retry_after: Option<Duration>,
    },
}

impl TwilioError {
    /// 429 and 5xx are worth retrying whatever the code says.
    pub fn http_retryable(&self) -> bool {
        matches!(self, TwilioError::Api { status, .. } if *status == 429 || *status >= 500)
    }
}

/// Whether stored credentials verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("Twilio rejected the credentials (HTTP {0})")]
    Rejected(u16),
    #[error("Twilio could not be asked: {0}")]
    Unavailable(String),
}

#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    base: String,
}

impl TwilioClient {
    pub fn new(settings: &MessagingSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(settings.twilio_timeout)
            .connect_timeout(settings.twilio_timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        TwilioClient {
            http,
            base: settings.twilio_api_base_url.clone(),
        }
    }

    fn account_url(&self, sid: &str) -> String {
        format!("{}/2010-04-01/Accounts/{sid}", self.base)
    }

    /// `GET /Accounts/{sid}.json`: the cheapest authenticated call.
    pub async fn verify(&self, c: &Credentials) -> Result<(), VerifyError> {
        let r = self
            .http
            .get(format!("{}.json", self.account_url(&c.account_sid)))
            .basic_auth(&c.username, Some(&c.password))
            .send()
            .await
            .map_err(|e| VerifyError::Unavailable(e.without_url().to_string()))?;
        let status = r.status().as_u16();
        match status {
            200..=299 => Ok(()),
            401 | 403 | 404 => Err(VerifyError::Rejected(status)),
            _ => Err(VerifyError::Unavailable(format!("HTTP {status}"))),
        }
    }

    /// `POST /Accounts/{sid}/Messages.json` with `form`.
    pub async fn create_message(
        &self,
        c: &Credentials,
        form: &[(&str, String)],
    ) -> Result<TwilioMessage, TwilioError> {
        let started = Instant::now();
        let sent = self
            .http
            .post(format!(
                "{}/Messages.json",
                self.account_url(&c.account_sid)
            ))
            .basic_auth(&c.username, Some(&c.password))
            .form(form)
            .send()
            .await;
        let out = answer(sent).await;
        metrics::histogram!("messaging_twilio_request_seconds", "op" => "create")
            .record(started.elapsed().as_secs_f64());
        out
    }

    /// The newest messages to `to` (one page of 50), to find a send whose outcome was unknown.
    pub async fn recent_to(
        &self,
        c: &Credentials,
        to: &str,
    ) -> Result<Vec<TwilioMessage>, TwilioError> {
        let started = Instant::now();
        let sent = self
            .http
            .get(format!(
                "{}/Messages.json",
                self.account_url(&c.account_sid)
            ))
            .basic_auth(&c.username, Some(&c.password))
            .query(&[("To", to), ("PageSize", "50")])
            .send()
            .await;
        metrics::histogram!("messaging_twilio_request_seconds", "op" => "list")
            .record(started.elapsed().as_secs_f64());
        let r = sent.map_err(|e| {
            if e.is_connect() {
                TwilioError::NotSent(e.without_url().to_string())
            } else {
                TwilioError::Ambiguous(e.without_url().to_string())
            }
        })?;
        if !r.status().is_success() {
            return Err(api_error(r).await);
        }
        let page: MessagePage = r
            .json()
            .await
            .map_err(|e| TwilioError::Ambiguous(e.without_url().to_string()))?;
        Ok(page.messages)
    }
}

async fn answer(
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<TwilioMessage, TwilioError> {
    let r = match sent {
        Ok(r) => r,
        Err(e) if e.is_connect() => return Err(TwilioError::NotSent(e.without_url().to_string())),
        Err(e) => return Err(TwilioError::Ambiguous(e.without_url().to_string())),
    };
    if r.status().is_success() {
        return r
            .json::<TwilioMessage>()
            .await
            .map_err(|e| TwilioError::Ambiguous(e.without_url().to_string()));
    }
    Err(api_error(r).await)
}

async fn api_error(r: reqwest::Response) -> TwilioError {
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body: TwilioErrorBody = r.json().await.unwrap_or_default();
    TwilioError::Api {
        status,
        code: body.code,
        message: body
            .message
            .or(body.detail)
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect(),
        retry_after,
    }
}

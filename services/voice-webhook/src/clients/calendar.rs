//! Calendar's internal API (docs/internal-api.md), as used live on a call: every request carries
//! the service token and the trace context; errors keep calendar's problem `code`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use uuid::Uuid;

use super::token::{TokenError, TokenSource};

#[derive(Clone)]
pub struct CalendarClient {
    http: reqwest::Client,
    base: String,
    tokens: TokenSource,
    /// Each org's active services, kept for `SERVICES_TTL`: a tool call names a service in
    /// almost every request, and the catalog changes rarely (a stale entry costs at most a
    /// spoken "couldn't find" from calendar).
    services: Arc<Mutex<HashMap<Uuid, (Instant, Services)>>>,
}

const SERVICES_TTL: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// Calendar answered with a problem document (`code` is its stable code).
    #[error("calendar refused: {status} {code}")]
    Problem {
        status: u16,
        code: String,
        body: Value,
    },
    #[error("calendar unreachable: {0}")]
    Transport(String),
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl CalendarError {
    pub fn code(&self) -> Option<&str> {
        match self {
            CalendarError::Problem { code, .. } => Some(code),
            _ => None,
        }
    }
    /// `alternatives` of a 409 (slots to offer instead).
    pub fn alternatives(&self) -> Vec<Slot> {
        match self {
            CalendarError::Problem { body, .. } => body
                .get("alternatives")
                .cloned()
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Service {
    pub id: Uuid,
    pub name: String,
    #[serde(default)]
    pub duration_minutes: i32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Slot {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Services {
    pub timezone: String,
    pub items: Vec<Service>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Slots {
    pub timezone: String,
    pub slots: Vec<Slot>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Appointment {
    pub id: Uuid,
    #[serde(default)]
    pub service_name: String,
    pub starts_at: DateTime<Utc>,
    pub timezone: String,
    pub status: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Appointments {
    pub timezone: String,
    pub items: Vec<Appointment>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BookRequest<'a> {
    pub service_id: Uuid,
    pub starts_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_phone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<&'a str>,
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<&'a str>,
}

/// `url?k=v&…` with the values percent-encoded.
fn with_query<K: AsRef<str>, V: AsRef<str>>(
    url: &str,
    q: &[(K, V)],
) -> Result<reqwest::Url, CalendarError> {
    reqwest::Url::parse_with_params(url, q.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
        .map_err(|e| CalendarError::Transport(format!("bad calendar URL: {e}")))
}

impl CalendarClient {
    pub fn new(http: reqwest::Client, base: &str, tokens: TokenSource) -> Self {
        CalendarClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            tokens,
            services: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn url(&self, org: Uuid, path: &str) -> String {
        format!("{}/internal/v1/orgs/{org}/{path}", self.base)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<T, CalendarError> {
        let mut retried = false;
        loop {
            let token = self.tokens.token().await?;
            let req = build(&self.http).bearer_auth(token.expose_secret());
            let resp = servicekit::telemetry::inject_traceparent(req)
                .send()
                .await
                .map_err(|e| CalendarError::Transport(e.without_url().to_string()))?;
            let status = resp.status();
            if status.is_success() {
                return resp
                    .json()
                    .await
                    .map_err(|e| CalendarError::Transport(e.to_string()));
            }
            if status == reqwest::StatusCode::UNAUTHORIZED && !retried {
                // A cached token may have been rotated away: fetch a fresh one once.
                retried = true;
                self.tokens.invalidate().await;
                continue;
            }
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let code = body
                .get("code")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string();
            return Err(CalendarError::Problem {
                status: status.as_u16(),
                code,
                body,
            });
        }
    }

    pub async fn services(&self, org: Uuid) -> Result<Services, CalendarError> {
        if let Ok(cache) = self.services.lock()
            && let Some((at, found)) = cache.get(&org)
            && at.elapsed() < SERVICES_TTL
        {
            return Ok(found.clone());
        }
        let url = self.url(org, "services");
        let found: Services = self.send(|c| c.get(&url)).await?;
        if let Ok(mut cache) = self.services.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(org, (Instant::now(), found.clone()));
        }
        Ok(found)
    }

    pub async fn next_slots(
        &self,
        org: Uuid,
        service: Uuid,
        after: DateTime<Utc>,
        count: u8,
    ) -> Result<Slots, CalendarError> {
        let url = self.url(org, "next-slots");
        let q = [
            ("service_id", service.to_string()),
            (
                "after",
                after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
            ("count", count.to_string()),
        ];
        let url = with_query(&url, &q)?;
        self.send(|c| c.get(url.clone())).await
    }

    pub async fn availability(
        &self,
        org: Uuid,
        service: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Slots, CalendarError> {
        let url = self.url(org, "availability");
        let q = [
            ("service_id", service.to_string()),
            (
                "from",
                from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
            ("to", to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        ];
        let url = with_query(&url, &q)?;
        self.send(|c| c.get(url.clone())).await
    }

    pub async fn book(
        &self,
        org: Uuid,
        idempotency_key: &str,
        req: &BookRequest<'_>,
    ) -> Result<Appointment, CalendarError> {
        let url = self.url(org, "appointments");
        self.send(|c| {
            c.post(&url)
                .header("idempotency-key", idempotency_key)
                .json(req)
        })
        .await
    }

    pub async fn find_by_phone(
        &self,
        org: Uuid,
        phone: &str,
    ) -> Result<Appointments, CalendarError> {
        let url = self.url(org, "appointments");
        let q = [("phone", phone), ("upcoming", "true"), ("limit", "5")];
        let url = with_query(&url, &q)?;
        self.send(|c| c.get(url.clone())).await
    }

    pub async fn reschedule(
        &self,
        org: Uuid,
        id: Uuid,
        starts_at: DateTime<Utc>,
    ) -> Result<Appointment, CalendarError> {
        let url = self.url(org, &format!("appointments/{id}/reschedule"));
        let body = serde_json::json!({ "starts_at": starts_at });
        self.send(|c| c.post(&url).json(&body)).await
    }

    pub async fn cancel(
        &self,
        org: Uuid,
        id: Uuid,
        reason: Option<&str>,
    ) -> Result<Appointment, CalendarError> {
        let url = self.url(org, &format!("appointments/{id}/cancel"));
        let body = serde_json::json!({ "reason": reason });
        self.send(|c| c.post(&url).json(&body)).await
    }
}

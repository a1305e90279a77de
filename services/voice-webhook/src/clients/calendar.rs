//! Calendar's internal API (docs/internal-api.md), as used live on a call: every request carries
//! the service token and the trace context; a refusal is decoded once, here, from calendar's
//! problem `code` into a [`CalendarError`] variant.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use tenancy::OrgId;
use uuid::Uuid;

use crate::clients::token::{TokenError, TokenSource};
use crate::domain::hours::ClinicHours;

#[derive(Clone)]
pub struct CalendarClient {
    http: reqwest::Client,
    base: String,
    tokens: TokenSource,
    /// Each org's active services, kept for `SERVICES_TTL`: a tool call names a service in
    /// almost every request, and the catalog changes rarely (a stale entry costs at most a
    /// spoken "couldn't find" from calendar).
    services: Arc<Mutex<HashMap<OrgId, (Instant, Services)>>>,
}

const SERVICES_TTL: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// Calendar does not know the org, service or appointment (`not_found`).
    #[error("calendar refused: {status} not_found")]
    NotFound { status: u16 },
    /// The time is taken or not bookable (`appointment_overlap`, `slot_unavailable`), with the
    /// slots calendar offers instead.
    #[error("calendar refused: {status} {code}")]
    SlotTaken {
        status: u16,
        code: String,
        alternatives: Vec<Slot>,
    },
    /// The clinic does not offer that start (`slot_not_offered`: outside its hours, inside the
    /// minimum notice, past the booking window or off the slot grid).
    #[error("calendar refused: 422 slot_not_offered")]
    NotOffered,
    /// The start is in the past (`starts_at_in_past`).
    #[error("calendar refused: 422 starts_at_in_past")]
    InPast,
    /// The service exists but is not bookable (`service_inactive`).
    #[error("calendar refused: 422 service_inactive")]
    ServiceInactive,
    /// The appointment's status does not allow the change (`invalid_transition`: completed,
    /// no-show, or a cancelled one rescheduled).
    #[error("calendar refused: 409 invalid_transition")]
    InvalidTransition,
    /// Any other refusal (4xx) with calendar's stable code.
    #[error("calendar refused: {status} {code}")]
    Refused { status: u16, code: String },
    /// Calendar answered 5xx: it is up but cannot serve (database down, …).
    #[error("calendar failed: {status} {code}")]
    Unavailable { status: u16, code: String },
    #[error("calendar unreachable: {0}")]
    Transport(String),
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl CalendarError {
    /// Decodes calendar's problem document.
    fn from_problem(status: u16, body: &Value) -> Self {
        let code = body
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        if status >= 500 {
            return CalendarError::Unavailable { status, code };
        }
        match code.as_str() {
            "not_found" => CalendarError::NotFound { status },
            "appointment_overlap" | "slot_unavailable" => CalendarError::SlotTaken {
                status,
                alternatives: body
                    .get("alternatives")
                    .cloned()
                    .and_then(|v| serde_json::from_value(v).ok())
                    .unwrap_or_default(),
                code,
            },
            "slot_not_offered" => CalendarError::NotOffered,
            "starts_at_in_past" => CalendarError::InPast,
            "service_inactive" => CalendarError::ServiceInactive,
            "invalid_transition" => CalendarError::InvalidTransition,
            _ => CalendarError::Refused { status, code },
        }
    }

    /// Calendar could not be asked or could not answer (transport, token, 5xx): the only case
    /// the caller hears "I can't reach the booking system".
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            CalendarError::Unavailable { .. }
                | CalendarError::Transport(_)
                | CalendarError::Token(_)
        )
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

/// An active provider (person or room) of the clinic.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Provider {
    pub id: Uuid,
    pub name: String,
    /// `None`: every service.
    #[serde(default)]
    pub service_ids: Option<Vec<Uuid>>,
}

impl Provider {
    pub fn provides(&self, service: Uuid) -> bool {
        self.service_ids
            .as_ref()
            .is_none_or(|ids| ids.contains(&service))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Providers {
    pub items: Vec<Provider>,
}

/// A service with what the knowledge base says of it (`GET services`, never cached).
#[derive(Debug, Clone, Deserialize)]
pub struct CatalogService {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub duration_minutes: i32,
    #[serde(default)]
    pub price_cents: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Catalog {
    pub timezone: String,
    pub items: Vec<CatalogService>,
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
    pub service_id: Option<Uuid>,
    #[serde(default)]
    pub service_name: String,
    pub starts_at: DateTime<Utc>,
    pub timezone: String,
    pub status: AppointmentStatus,
    /// Who the visit is with (absent from calendars before providers).
    #[serde(default)]
    pub provider_id: Option<Uuid>,
    #[serde(default)]
    pub provider_name: Option<String>,
}

impl Appointment {
    pub fn is_booked(&self) -> bool {
        self.status == AppointmentStatus::Booked
    }
}

/// An appointment's status as calendar reports it; voice only acts on `booked` ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    Cancelled,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Appointments {
    pub timezone: String,
    pub items: Vec<Appointment>,
}

/// `GET clinic`: the clinic's zone and opening hours (calendar is their one owner).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Clinic {
    pub timezone: String,
    #[serde(flatten)]
    pub hours: ClinicHours,
}

#[derive(Debug, Clone, Serialize)]
pub struct BookRequest<'a> {
    pub service_id: Uuid,
    /// The provider the caller asked for; absent: calendar assigns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Uuid>,
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

    fn url(&self, org: OrgId, path: &str) -> String {
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
            return Err(CalendarError::from_problem(status.as_u16(), &body));
        }
    }

    pub async fn services(&self, org: OrgId) -> Result<Services, CalendarError> {
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

    /// The clinic's active providers (not cached: asked only when a caller names one).
    pub async fn providers(&self, org: OrgId) -> Result<Providers, CalendarError> {
        let url = self.url(org, "providers");
        self.send(|c| c.get(&url)).await
    }

    /// `provider`: only that provider's slots; `None`: any provider of the service.
    pub async fn next_slots(
        &self,
        org: OrgId,
        service: Uuid,
        provider: Option<Uuid>,
        after: DateTime<Utc>,
        count: u8,
    ) -> Result<Slots, CalendarError> {
        let url = self.url(org, "next-slots");
        let mut q = vec![
            ("service_id", service.to_string()),
            (
                "after",
                after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
            ("count", count.to_string()),
        ];
        q.extend(provider.map(|p| ("provider_id", p.to_string())));
        let url = with_query(&url, &q)?;
        self.send(|c| c.get(url.clone())).await
    }

    pub async fn availability(
        &self,
        org: OrgId,
        service: Uuid,
        provider: Option<Uuid>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Slots, CalendarError> {
        let url = self.url(org, "availability");
        let mut q = vec![
            ("service_id", service.to_string()),
            (
                "from",
                from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
            ("to", to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        ];
        q.extend(provider.map(|p| ("provider_id", p.to_string())));
        let url = with_query(&url, &q)?;
        self.send(|c| c.get(url.clone())).await
    }

    pub async fn book(
        &self,
        org: OrgId,
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

    /// The upcoming appointments booked under `phone` (at most 20, calendar's limit).
    pub async fn find_by_phone(
        &self,
        org: OrgId,
        phone: &str,
    ) -> Result<Appointments, CalendarError> {
        let url = self.url(org, "appointments");
        let q = [("phone", phone), ("upcoming", "true"), ("limit", "20")];
        let url = with_query(&url, &q)?;
        self.send(|c| c.get(url.clone())).await
    }

    pub async fn reschedule(
        &self,
        org: OrgId,
        id: Uuid,
        starts_at: DateTime<Utc>,
    ) -> Result<Appointment, CalendarError> {
        let url = self.url(org, &format!("appointments/{id}/reschedule"));
        let body = serde_json::json!({ "starts_at": starts_at });
        self.send(|c| c.post(&url).json(&body)).await
    }

    pub async fn cancel(
        &self,
        org: OrgId,
        id: Uuid,
        reason: Option<&str>,
    ) -> Result<Appointment, CalendarError> {
        let url = self.url(org, &format!("appointments/{id}/cancel"));
        let body = serde_json::json!({ "reason": reason });
        self.send(|c| c.post(&url).json(&body)).await
    }
}

impl CalendarClient {
    /// The active services with their descriptions and prices, asked now (not the tools'
    /// short-lived cache): the knowledge base's system documents are written from it.
    pub async fn catalog(&self, org: OrgId) -> Result<Catalog, CalendarError> {
        let url = self.url(org, "services");
        self.send(|c| c.get(&url)).await
    }

    /// The clinic's time zone and opening hours (never cached: a change in calendar shows on
    /// the next call).
    pub async fn clinic(&self, org: OrgId) -> Result<Clinic, CalendarError> {
        let url = self.url(org, "clinic");
        self.send(|c| c.get(&url)).await
    }
}

//! Outbound Google for calendar: the Calendar v3 calls (events insert/patch/delete, freeBusy) go through
//! `google-calendar3`'s `CalendarHub`, pointed at the configured base URL; the OAuth token and
//! revoke endpoints (outside that crate once yup-oauth2 is off) through reqwest. Every URL comes
//! from `GoogleSettings`; every status Google documents is classified once, here. `Google` adds
//! the org's credentials: refresh tokens sealed at rest, access tokens cached until near expiry.

pub mod oauth;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use google_calendar3::api::{
    Event, EventDateTime, EventExtendedProperties, FreeBusyRequest, FreeBusyRequestItem,
};
use google_calendar3::{CalendarHub, common};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use servicekit::ExposeSecret as _;
use servicekit::crypto::{KeyRing, Sealed};
use tenancy::OrgId;
use tokio::sync::Mutex;

use crate::config::GoogleSettings;
use crate::domain::availability::Interval;

/// What a failed Google call means for the caller.
#[derive(Debug, thiserror::Error)]
pub enum GoogleError {
    /// The refresh token is dead (revoked, expired, unused for months): stop and disconnect.
    #[error("invalid_grant")]
    InvalidGrant,
    /// 429, 403 rate limits, 5xx, transport errors: back off and retry.
    #[error("transient: {0}")]
    Transient(String),
    /// 409: an event with our id exists.
    #[error("duplicate")]
    Duplicate,
    #[error("not found")]
    NotFound,
    /// 410: deleted (or a sync token expired).
    #[error("gone")]
    Gone,
    /// 401: the access token was refused.
    #[error("unauthorized")]
    Unauthorized,
    /// Anything else: retrying will not help.
    #[error("permanent: {0}")]
    Permanent(String),
    #[error("the Google integration is not configured")]
    NotConfigured,
}

impl GoogleError {
    pub fn is_transient(&self) -> bool {
        matches!(self, GoogleError::Transient(_) | GoogleError::Unauthorized)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// An event as we write it: our own id, UTC instants with the clinic's zone.
#[derive(Debug, Clone, Serialize)]
pub struct EventBody {
    pub id: String,
    pub summary: String,
    pub description: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub time_zone: String,
    pub appointment_id: String,
}

impl EventBody {
    fn when(&self, t: DateTime<Utc>) -> EventDateTime {
        EventDateTime {
            date_time: Some(t),
            time_zone: Some(self.time_zone.clone()),
            ..Default::default()
        }
    }

    fn insert_event(&self) -> Event {
        Event {
            id: Some(self.id.clone()),
            summary: Some(self.summary.clone()),
            description: Some(self.description.clone()),
            start: Some(self.when(self.start)),
            end: Some(self.when(self.end)),
            status: Some("confirmed".into()),
            transparency: Some("opaque".into()),
            extended_properties: Some(EventExtendedProperties {
                private: Some(HashMap::from([(
                    "appointment_id".to_string(),
                    self.appointment_id.clone(),
                )])),
                shared: None,
            }),
            ..Default::default()
        }
    }

    fn patch_event(&self) -> Event {
        Event {
            summary: Some(self.summary.clone()),
            description: Some(self.description.clone()),
            start: Some(self.when(self.start)),
            end: Some(self.when(self.end)),
            status: Some("confirmed".into()),
            ..Default::default()
        }
    }
}

type Conn = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

#[derive(Clone)]
pub struct GoogleClient {
    /// OAuth token and revoke endpoints.
    http: reqwest::Client,
    /// The Calendar API (through `CalendarHub`); `None` when no CA roots could be loaded.
    hyper: Option<common::Client<Conn>>,
    pub settings: GoogleSettings,
}

fn classify(status: reqwest::StatusCode, body: &str) -> GoogleError {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let reason = v["error"]["errors"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match status.as_u16() {
        409 => GoogleError::Duplicate,
        404 => GoogleError::NotFound,
        410 => GoogleError::Gone,
        401 => GoogleError::Unauthorized,
        429 => GoogleError::Transient(format!("429 {reason}")),
        403 if matches!(
            reason.as_str(),
            "rateLimitExceeded" | "userRateLimitExceeded" | "quotaExceeded"
        ) =>
        {
            GoogleError::Transient(format!("403 {reason}"))
        }
        s if s >= 500 => GoogleError::Transient(format!("{s} {reason}")),
        s => GoogleError::Permanent(format!("{s} {reason}")),
    }
}

fn transport(e: reqwest::Error) -> GoogleError {
    GoogleError::Transient(format!("transport: {}", e.without_url()))
}

impl GoogleClient {
    pub fn new(settings: GoogleSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(settings.http_timeout)
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let hyper = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
            Ok(b) => Some(
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build(b.https_or_http().enable_http1().enable_http2().build()),
            ),
            Err(e) => {
                tracing::error!(error = %e, "no CA roots: Google Calendar calls will fail");
                None
            }
        };
        GoogleClient {
            http,
            hyper,
            settings,
        }
    }

    /// A hub acting with `access`, pointed at the configured API root.
    fn hub(&self, access: &str) -> Result<CalendarHub<Conn>, GoogleError> {
        let client = self
            .hyper
            .clone()
            .ok_or_else(|| GoogleError::Permanent("no CA roots for TLS".into()))?;
        let mut hub = CalendarHub::new(client, access.to_string());
        let base = &self.settings.api_base_url;
        hub.base_url(format!("{base}/"));
        let root = base.strip_suffix("/calendar/v3").unwrap_or(base);
        hub.root_url(format!("{root}/"));
        Ok(hub)
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = google_calendar3::Result<T>>,
    ) -> Result<T, GoogleError> {
        match tokio::time::timeout(self.settings.http_timeout, call).await {
            Ok(r) => r.map_err(hub_error),
            Err(_) => Err(GoogleError::Transient("timed out".into())),
        }
    }

    fn traced(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut rb = rb;
        for (k, v) in servicekit::telemetry::current_trace_headers() {
            rb = rb.header(k, v);
        }
        rb
    }

    /// The consent-screen URL: offline access (a refresh token), forced consent (a new refresh
    /// token on reconnect), our signed state and a PKCE S256 challenge.
    pub fn authorize_url(&self, state: &str, challenge: &str) -> Result<String, GoogleError> {
        let (Some(client_id), Some(redirect)) = (
            self.settings.client_id.as_deref(),
            self.settings.redirect_uri.as_deref(),
        ) else {
            return Err(GoogleError::NotConfigured);
        };
        let url = reqwest::Url::parse_with_params(
            &self.settings.auth_url,
            &[
                ("client_id", client_id),
                ("redirect_uri", redirect),
                ("response_type", "code"),
                (
                    "scope",
                    "https://www.googleapis.com/auth/calendar.events https://www.googleapis.com/auth/calendar.freebusy",
                ),
                ("access_type", "offline"),
                ("prompt", "consent"),
                ("include_granted_scopes", "true"),
                ("state", state),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .map_err(|e| GoogleError::Permanent(format!("auth url: {e}")))?;
        Ok(url.to_string())
    }

    async fn token_call(&self, form: &[(&str, &str)]) -> Result<TokenResponse, GoogleError> {
        let r = self
            .traced(self.http.post(&self.settings.token_url))
            .form(form)
            .send()
            .await
            .map_err(transport)?;
        let status = r.status();
        let body = r.text().await.map_err(transport)?;
        if status.is_success() {
            return serde_json::from_str(&body)
                .map_err(|e| GoogleError::Permanent(format!("token response: {e}")));
        }
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if v["error"].as_str() == Some("invalid_grant") {
            return Err(GoogleError::InvalidGrant);
        }
        Err(classify(status, &body))
    }

    fn client(&self) -> Result<(&str, &str, &str), GoogleError> {
        match (
            self.settings.client_id.as_deref(),
            self.settings.client_secret.as_ref(),
            self.settings.redirect_uri.as_deref(),
        ) {
            (Some(id), Some(secret), Some(redirect)) => Ok((id, secret.expose_secret(), redirect)),
            _ => Err(GoogleError::NotConfigured),
        }
    }

    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
    ) -> Result<TokenResponse, GoogleError> {
        let (id, secret, redirect) = self.client()?;
        self.token_call(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("client_id", id),
            ("client_secret", secret),
            ("code_verifier", verifier),
        ])
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, GoogleError> {
        let (id, secret, _) = self.client()?;
        self.token_call(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .await
    }

    /// Revokes a token; an already dead token counts as revoked.
    pub async fn revoke(&self, token: &str) -> Result<(), GoogleError> {
        let r = self
            .traced(self.http.post(&self.settings.revoke_url))
            .form(&[("token", token)])
            .send()
            .await
            .map_err(transport)?;
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        if status.is_success() || body.contains("invalid_token") || body.contains("invalid_grant") {
            Ok(())
        } else {
            Err(classify(status, &body))
        }
    }

    pub async fn insert_event(
        &self,
        access: &str,
        calendar_id: &str,
        ev: &EventBody,
    ) -> Result<(), GoogleError> {
        let hub = self.hub(access)?;
        let call = hub
            .events()
            .insert(ev.insert_event(), calendar_id)
            .send_updates("none")
            .doit();
        self.bounded(call).await.map(|_| ())
    }

    pub async fn patch_event(
        &self,
        access: &str,
        calendar_id: &str,
        ev: &EventBody,
    ) -> Result<(), GoogleError> {
        let hub = self.hub(access)?;
        let call = hub
            .events()
            .patch(ev.patch_event(), calendar_id, &ev.id)
            .send_updates("none")
            .doit();
        self.bounded(call).await.map(|_| ())
    }

    pub async fn delete_event(
        &self,
        access: &str,
        calendar_id: &str,
        event_id: &str,
    ) -> Result<(), GoogleError> {
        let hub = self.hub(access)?;
        let call = hub
            .events()
            .delete(calendar_id, event_id)
            .send_updates("none")
            .doit();
        match self.bounded(call).await {
            // Deleted before (410) or never there (404): the event is gone either way.
            Ok(_) | Err(GoogleError::Gone) | Err(GoogleError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Busy time of one calendar in `[min, max)` (at most 90 days per Google's limit). A 200
    /// can still carry a per-calendar error (`calendars.<id>.errors`): that is an error here.
    pub async fn free_busy(
        &self,
        access: &str,
        calendar_id: &str,
        min: DateTime<Utc>,
        max: DateTime<Utc>,
    ) -> Result<Vec<Interval>, GoogleError> {
        let hub = self.hub(access)?;
        let call = hub
            .freebusy()
            .query(FreeBusyRequest {
                time_min: Some(min),
                time_max: Some(max),
                items: Some(vec![FreeBusyRequestItem {
                    id: Some(calendar_id.to_string()),
                }]),
                ..Default::default()
            })
            .doit();
        let (_, answer) = self.bounded(call).await?;
        let cal = answer
            .calendars
            .and_then(|mut c| c.remove(calendar_id))
            .ok_or_else(|| {
                GoogleError::Permanent("freeBusy: calendar missing from the answer".into())
            })?;
        if let Some(e) = cal.errors.as_ref().and_then(|e| e.first()) {
            let reason = e.reason.clone().unwrap_or_else(|| "unknown".into());
            return Err(if reason == "backendError" || reason == "internalError" {
                GoogleError::Transient(format!("freeBusy calendar error: {reason}"))
            } else {
                GoogleError::Permanent(format!("freeBusy calendar error: {reason}"))
            });
        }
        Ok(cal
            .busy
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| {
                Some(Interval {
                    start: p.start?,
                    end: p.end?,
                })
            })
            .filter(|i| i.end > i.start)
            .collect())
    }
}

/// `google-calendar3` reports every non-2xx with a JSON body as `BadRequest(json)` whatever the
/// status: the status is only in `error.code`, the reason in `error.errors[0].reason`.
fn hub_error(e: google_calendar3::Error) -> GoogleError {
    use google_calendar3::Error as E;
    match e {
        E::BadRequest(v) => {
            let code = u16::try_from(v["error"]["code"].as_u64().unwrap_or(0)).unwrap_or(0);
            let status = reqwest::StatusCode::from_u16(code)
                .unwrap_or(reqwest::StatusCode::INTERNAL_SERVER_ERROR);
            classify(status, &v.to_string())
        }
        E::Failure(resp) => classify(
            reqwest::StatusCode::from_u16(resp.status().as_u16())
                .unwrap_or(reqwest::StatusCode::INTERNAL_SERVER_ERROR),
            "",
        ),
        E::HttpError(e) => GoogleError::Transient(format!("transport: {e}")),
        E::Io(e) => GoogleError::Transient(format!("io: {e}")),
        E::MissingToken(_) => GoogleError::Unauthorized,
        other => GoogleError::Permanent(other.to_string()),
    }
}

/// The associated-data label of a sealed refresh token.
pub const TOKEN_PURPOSE: &str = "calendar.google_refresh_token";

/// The client with the orgs' credentials; shared by the routes and the sync worker.
pub struct Google {
    pub client: GoogleClient,
    pub keys: KeyRing,
    tokens: Mutex<HashMap<OrgId, (String, Instant)>>,
}

impl Google {
    pub fn new(client: GoogleClient, keys: KeyRing) -> Self {
        Google {
            client,
            keys,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    pub fn seal_refresh_token(&self, org: OrgId, token: &str) -> anyhow::Result<Sealed> {
        Ok(self
            .keys
            .encrypt(org.as_uuid(), TOKEN_PURPOSE, token.as_bytes())?)
    }

    /// Opens the org's stored refresh token (`None`: none stored).
    pub fn open_refresh_token(&self, org: OrgId, sealed: Option<Sealed>) -> anyhow::Result<String> {
        let Some(sealed) = sealed else {
            anyhow::bail!("no refresh token stored");
        };
        let plain = self.keys.decrypt(org.as_uuid(), TOKEN_PURPOSE, &sealed)?;
        Ok(String::from_utf8(plain)?)
    }

    pub async fn forget_token(&self, org: OrgId) {
        self.tokens.lock().await.remove(&org);
    }

    /// A live access token for the org: cached until a minute before expiry, else refreshed.
    pub async fn access_token(
        &self,
        org: OrgId,
        sealed: Option<Sealed>,
    ) -> Result<String, GoogleError> {
        let mut cache = self.tokens.lock().await;
        if let Some((t, until)) = cache.get(&org)
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let refresh = self
            .open_refresh_token(org, sealed)
            .map_err(|e| GoogleError::Permanent(format!("refresh token unreadable: {e}")))?;
        let t = self.client.refresh(&refresh).await?;
        // Clamped to 60..=86_400 first, so the conversion cannot fail.
        let ttl =
            u64::try_from(t.expires_in.unwrap_or(3600).clamp(60, 86_400)).unwrap_or(3600) - 59;
        cache.insert(
            org,
            (
                t.access_token.clone(),
                Instant::now() + Duration::from_secs(ttl),
            ),
        );
        Ok(t.access_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(code: u16, reason: &str) -> google_calendar3::Error {
        google_calendar3::Error::BadRequest(serde_json::json!({"error": {"code": code,
            "message": "x", "errors": [{"domain": "global", "reason": reason}]}}))
    }

    #[test]
    fn google_statuses_map_to_what_the_worker_does() {
        assert!(matches!(
            hub_error(bad(409, "duplicate")),
            GoogleError::Duplicate
        ));
        assert!(matches!(hub_error(bad(410, "deleted")), GoogleError::Gone));
        assert!(matches!(
            hub_error(bad(404, "notFound")),
            GoogleError::NotFound
        ));
        assert!(matches!(
            hub_error(bad(401, "authError")),
            GoogleError::Unauthorized
        ));
        assert!(hub_error(bad(429, "rateLimitExceeded")).is_transient());
        assert!(hub_error(bad(403, "userRateLimitExceeded")).is_transient());
        assert!(hub_error(bad(403, "quotaExceeded")).is_transient());
        assert!(hub_error(bad(503, "backendError")).is_transient());
        assert!(matches!(
            hub_error(bad(403, "forbidden")),
            GoogleError::Permanent(_)
        ));
        assert!(matches!(
            hub_error(bad(400, "timeRangeEmpty")),
            GoogleError::Permanent(_)
        ));
    }
}

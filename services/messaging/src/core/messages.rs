//! Sending from the API (template or body, SMS or WhatsApp, now or later, idempotent with a key)
//! and reading the audit trail: a page of messages, one message with its status history. Bodies
//! are opened only to show them to the org that owns them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tenancy::OrgId;
use uuid::Uuid;

use super::outbound::{self, Enqueued, Outbound, kind};
use super::{BODY_PURPOSE, CoreError, open_text};
use crate::domain::phone::{Channel, is_e164};
use crate::domain::signature::sha256_hex;
use crate::domain::template::{self, TemplateError};
use crate::state::AppState;
use crate::store::messages::{self, EventRow, ListMessages, MessageRow};
use crate::store::templates;

#[derive(Debug, Clone)]
pub struct SendRequest {
    pub to: String,
    pub body: Option<String>,
    pub template_key: Option<String>,
    pub variables: BTreeMap<String, String>,
    pub channel: Channel,
    pub send_at: Option<DateTime<Utc>>,
    pub idempotency_key: Option<String>,
    /// A digest of the request, to tell a replay from a reuse of the key.
    pub fingerprint: String,
}

pub enum Submitted {
    Created(Box<MessageRow>),
    Replayed(Box<MessageRow>),
}

/// A message as the org sees it: the body opened.
pub struct Shown {
    pub row: MessageRow,
    pub body: String,
}

impl From<TemplateError> for CoreError {
    fn from(e: TemplateError) -> Self {
        CoreError::invalid("invalid_template", "body", e.to_string())
    }
}

pub async fn submit(st: &AppState, org: OrgId, r: SendRequest) -> Result<Submitted, CoreError> {
    if !is_e164(&r.to) {
        return Err(CoreError::invalid(
            "invalid_field",
            "to",
            "to must be E.164, e.g. +15550100123",
        ));
    }
    if r.body.is_some() == r.template_key.is_some() {
        return Err(CoreError::invalid(
            "invalid_field",
            "body",
            "give either body or template_key",
        ));
    }
    if let Some(at) = r.send_at
        && at > Utc::now() + chrono::Duration::days(35)
    {
        return Err(CoreError::invalid(
            "invalid_field",
            "send_at",
            "send_at is at most 35 days ahead",
        ));
    }
    for k in r.variables.keys() {
        if !template::VARIABLES.contains(&k.as_str()) {
            return Err(CoreError::invalid(
                "invalid_field",
                "variables",
                format!("unknown variable {k}"),
            ));
        }
    }
    let keys = st.keys.clone();
    let wake = st.wake.clone();
    let out = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                if let Some(k) = &r.idempotency_key
                    && let Some(prev) = messages::find_by_idempotency_key(tx, org, k).await?
                {
                    return if prev.request_sha256.as_deref() == Some(r.fingerprint.as_str()) {
                        Ok(Submitted::Replayed(Box::new(prev)))
                    } else {
                        Err(CoreError::IdempotencyConflict)
                    };
                }
                let (body, content_sid) = match (&r.body, &r.template_key) {
                    (Some(b), _) => {
                        if b.trim().is_empty() || b.chars().count() > 1600 {
                            return Err(CoreError::invalid(
                                "invalid_field",
                                "body",
                                "body is 1 to 1,600 characters",
                            ));
                        }
                        (b.clone(), None)
                    }
                    (None, Some(key)) => {
                        let t = templates::find(tx, org, key, r.channel.as_str()).await?;
                        let (text, sid) = match t {
                            Some(t) => (t.body, t.content_sid),
                            None => match template::default_body(key) {
                                Some(b) => (b.to_string(), None),
                                None => return Err(CoreError::NotFound("template")),
                            },
                        };
                        (template::render(&text, &r.variables)?, sid)
                    }
                    (None, None) => {
                        return Err(CoreError::invalid(
                            "invalid_field",
                            "body",
                            "give either body or template_key",
                        ));
                    }
                };
                if r.channel == Channel::Whatsapp && content_sid.is_none() {
                    let since = Utc::now() - chrono::Duration::hours(24);
                    if !messages::inbound_since(tx, org, &r.to, "whatsapp", since).await? {
                        outbound::refused("whatsapp_window_closed");
                        return Err(CoreError::WhatsappWindowClosed);
                    }
                }
                let mut o = Outbound::new(kind::MANUAL, r.channel, &r.to, body);
                o.template_key = r.template_key.clone();
                o.content_sid = content_sid;
                o.send_at = r.send_at.unwrap_or_else(Utc::now);
                o.idempotency_key = r.idempotency_key.clone();
                o.request_sha256 = Some(r.fingerprint.clone());
                match outbound::enqueue(tx, &keys, org, o).await? {
                    Enqueued::Stored(row) => Ok(Submitted::Created(row)),
                    Enqueued::Duplicate => {
                        // A concurrent request with the same key won the insert.
                        let k = r.idempotency_key.clone().unwrap_or_default();
                        match messages::find_by_idempotency_key(tx, org, &k).await? {
                            Some(prev)
                                if prev.request_sha256.as_deref()
                                    == Some(r.fingerprint.as_str()) =>
                            {
                                Ok(Submitted::Replayed(Box::new(prev)))
                            }
                            _ => Err(CoreError::IdempotencyConflict),
                        }
                    }
                }
            })
        })
        .await?;
    wake.notify_one();
    Ok(out)
}

/// The digest an idempotent send is compared by.
pub fn fingerprint(parts: &[&str]) -> String {
    sha256_hex(parts.join("\u{1f}").as_bytes())
}

pub fn show(st: &AppState, org: OrgId, row: MessageRow) -> Result<Shown, CoreError> {
    let body = open_text(
        &st.keys,
        org,
        BODY_PURPOSE,
        &row.body_key_id,
        &row.body_sealed,
    )?;
    Ok(Shown { row, body })
}

pub async fn list(st: &AppState, org: OrgId, q: ListMessages) -> Result<Vec<Shown>, CoreError> {
    let rows = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move { messages::list(tx, org, &q).await.map_err(CoreError::from) })
        })
        .await?;
    rows.into_iter().map(|r| show(st, org, r)).collect()
}

pub async fn get(st: &AppState, org: OrgId, id: Uuid) -> Result<(Shown, Vec<EventRow>), CoreError> {
    let (row, history) = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let row = messages::find(tx, org, id)
                    .await?
                    .ok_or(CoreError::NotFound("message"))?;
                let history = messages::history(tx, org, id).await?;
                Ok::<_, CoreError>((row, history))
            })
        })
        .await?;
    Ok((show(st, org, row)?, history))
}

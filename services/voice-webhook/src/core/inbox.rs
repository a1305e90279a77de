//! The staff inbox of messages the agent took (`take_message`): recording one (sealed, with a
//! `voice.message_taken.v1` event in the same transaction), listing them newest first (all, or
//! only the unhandled ones), reading one and marking one handled. Every read of a message's text
//! is in the PHI access log.

use chrono::{DateTime, Utc};
use events::payloads::VoiceMessageTakenV1;
use serde::{Deserialize, Serialize};
use servicekit::page::PageRequest;
use tenancy::OrgId;
use uuid::Uuid;

use crate::core::access_log::{self, Phi, Reader};
use crate::domain::sealing;
use crate::state::VoiceState;
use crate::store::error::StoreError;
use crate::store::inbox::{self as store, MessageRow};

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("message not found")]
    NotFound,
    /// The message's text could not be sealed or opened.
    #[error("the message cannot be sealed or opened: {0}")]
    Sealing(#[source] anyhow::Error),
    #[error(transparent)]
    Store(StoreError),
}

crate::store::error::store_error_from!(InboxError);

/// What is sealed: the caller's words and the name they gave.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sealed {
    message: String,
    #[serde(default)]
    name: Option<String>,
}

/// A message as staff read it.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: Uuid,
    pub call_id: Option<Uuid>,
    pub callback_number: Option<String>,
    pub caller_name: Option<String>,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub handled_at: Option<DateTime<Utc>>,
    pub handled_by: Option<Uuid>,
}

/// Stores a message the agent took and enqueues `voice.message_taken.v1`, in one transaction.
pub async fn record_message(
    st: &VoiceState,
    org: OrgId,
    call_id: Option<Uuid>,
    callback: Option<&str>,
    text: &str,
    name: Option<&str>,
) -> Result<Uuid, InboxError> {
    let plain = serde_json::to_vec(&Sealed {
        message: text.to_string(),
        name: name.map(str::to_string),
    })
    .map_err(|e| InboxError::Sealing(e.into()))?;
    let sealed = st
        .keys
        .encrypt(org.as_uuid(), sealing::CALL_MESSAGE, &plain)
        .map_err(|e| InboxError::Sealing(e.into()))?;
    let (callback, name) = (callback.map(str::to_string), name.map(str::to_string));
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let row =
                    store::insert_message(tx, org, call_id, callback.as_deref(), &sealed).await?;
                bus::enqueue(
                    tx,
                    org,
                    &VoiceMessageTakenV1 {
                        message_id: row.id,
                        call_id: row.call_id,
                        callback_number: row.callback_number.clone(),
                        caller_name: name,
                        taken_at: row.created_at,
                    },
                )
                .await?;
                Ok::<_, InboxError>(row.id)
            })
        })
        .await
}

fn open(st: &VoiceState, org: OrgId, row: MessageRow) -> Result<Message, InboxError> {
    let plain = st
        .keys
        .decrypt(org.as_uuid(), sealing::CALL_MESSAGE, &row.sealed())
        .map_err(|e| InboxError::Sealing(e.into()))?;
    let s: Sealed = serde_json::from_slice(&plain).map_err(|e| InboxError::Sealing(e.into()))?;
    Ok(Message {
        id: row.id,
        call_id: row.call_id,
        callback_number: row.callback_number,
        caller_name: s.name,
        text: s.message,
        created_at: row.created_at,
        handled_at: row.handled_at,
        handled_by: row.handled_by,
    })
}

fn read_of(row: &MessageRow) -> Phi {
    Phi::Message {
        id: row.id,
        call_id: row.call_id,
    }
}

/// One page of the org's messages, newest first (`handled: Some(false)`: unhandled only); each
/// message on the page is a logged read.
pub async fn list(
    st: &VoiceState,
    reader: Reader,
    handled: Option<bool>,
    page: PageRequest,
) -> Result<Vec<Message>, InboxError> {
    let org = reader.org;
    let rows = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let mut rows =
                    store::list_messages(tx, org, handled, page.after, page.fetch_limit()).await?;
                // Only the page's rows are shown: the extra one (is there a next page?) is not read.
                let shown = usize::try_from(page.limit).unwrap_or(usize::MAX);
                let reads: Vec<Phi> = rows.iter().take(shown).map(read_of).collect();
                access_log::record(tx, &reader, &reads).await?;
                rows.truncate(shown.saturating_add(1));
                Ok::<_, InboxError>(rows)
            })
        })
        .await?;
    rows.into_iter().map(|r| open(st, org, r)).collect()
}

/// One message (a logged read).
pub async fn get(st: &VoiceState, reader: Reader, id: Uuid) -> Result<Message, InboxError> {
    let org = reader.org;
    let row = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let row = store::find_message(tx, org, id).await?;
                if let Some(r) = &row {
                    access_log::record(tx, &reader, &[read_of(r)]).await?;
                }
                Ok::<_, InboxError>(row)
            })
        })
        .await?
        .ok_or(InboxError::NotFound)?;
    open(st, org, row)
}

/// Marks a message handled by the reader (the first marking is kept) and returns it (a logged
/// read).
pub async fn mark_handled(
    st: &VoiceState,
    reader: Reader,
    id: Uuid,
) -> Result<Message, InboxError> {
    let org = reader.org;
    let row = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let row = store::mark_handled(tx, org, id, reader.user_id).await?;
                if let Some(r) = &row {
                    access_log::record(tx, &reader, &[read_of(r)]).await?;
                }
                Ok::<_, InboxError>(row)
            })
        })
        .await?
        .ok_or(InboxError::NotFound)?;
    open(st, org, row)
}

/// The keyset position of a message (for the page's cursor).
pub fn key(m: &Message) -> (DateTime<Utc>, Uuid) {
    (m.created_at, m.id)
}

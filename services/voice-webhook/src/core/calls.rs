//! The org's calls: the list (newest first, filters, keyset pages), one call with its sealed
//! transcript opened for staff and above, and analytics per day in the clinic's time zone.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use servicekit::page::PageRequest;
use tenancy::OrgId;
use uuid::Uuid;

use crate::core::access_log::{self, Phi, Reader};
use crate::core::clinic;
use crate::domain::call::CallDirection;
use crate::domain::fields::{self, InvalidField};
use crate::domain::{sealing, speak};
use crate::state::VoiceState;
use crate::store::calls::{self as store, CallRow, DayRow, ListCalls, ToolTotals};
use crate::store::error::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CallsError {
    /// A filter of the list that is not one of its values (`direction`).
    #[error("{detail}")]
    InvalidQuery { field: &'static str, detail: String },
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    #[error("call not found")]
    NotFound,
    /// The stored transcript could not be opened.
    #[error("the transcript cannot be opened: {0}")]
    Sealing(#[source] anyhow::Error),
    #[error(transparent)]
    Store(StoreError),
}

crate::store::error::store_error_from!(CallsError);

/// The filters of a calls list, as given.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub status: Option<String>,
    pub direction: Option<String>,
    pub ended_reason: Option<String>,
    pub phone: Option<String>,
}

/// One page of calls, newest first (rows fetched with the page's fetch limit).
pub async fn list(
    st: &VoiceState,
    org: OrgId,
    filter: CallFilter,
    page: PageRequest,
) -> Result<Vec<CallRow>, CallsError> {
    let direction = match filter.direction.as_deref() {
        None => None,
        Some(d) => Some(CallDirection::parse(d).ok_or(CallsError::InvalidQuery {
            field: "direction",
            detail: "direction must be inbound, outbound or web".into(),
        })?),
    };
    let phone = filter
        .phone
        .as_deref()
        .map(|p| fields::e164("phone", p))
        .transpose()?;
    let q = ListCalls {
        from: filter.from,
        to: filter.to,
        status: filter.status,
        direction,
        ended_reason: filter.ended_reason,
        phone,
        before: page.after,
        limit: page.fetch_limit(),
    };
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::list_calls(tx, org, &q)
                    .await
                    .map_err(CallsError::from)
            })
        })
        .await
}

/// A call, and (for staff and above) its transcript (`{"transcript", "messages"}` or `null`)
/// and recording URL.
pub struct CallDetail {
    pub call: CallRow,
    pub transcript: Option<Value>,
    /// Staff and above only (PHI).
    pub recording_url: Option<String>,
}

/// One call; with `with_phi` also its transcript and recording URL, each read recorded in the
/// PHI access log (in the transaction that reads them).
pub async fn get(
    st: &VoiceState,
    reader: Reader,
    id: Uuid,
    with_phi: bool,
) -> Result<CallDetail, CallsError> {
    let org = reader.org;
    let (call, sealed) = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let call = store::find_call(tx, org, id).await?;
                let Some(c) = call.as_ref().filter(|_| with_phi) else {
                    return Ok::<_, CallsError>((call, None));
                };
                let sealed = store::find_transcript(tx, org, id).await?;
                let mut reads = Vec::new();
                if sealed.is_some() {
                    reads.push(Phi::Transcript { call_id: c.id });
                }
                if c.recording_url.is_some() {
                    reads.push(Phi::Recording { call_id: c.id });
                }
                access_log::record(tx, &reader, &reads).await?;
                Ok((call, sealed))
            })
        })
        .await?;
    let mut call = call.ok_or(CallsError::NotFound)?;
    let recording_url = if with_phi {
        call.recording_url.take()
    } else {
        call.recording_url = None;
        None
    };
    let transcript = if with_phi {
        Some(match sealed {
            Some(s) => {
                let plain = st
                    .keys
                    .decrypt(org.as_uuid(), sealing::CALL_TRANSCRIPT, &s)
                    .map_err(|e| CallsError::Sealing(e.into()))?;
                serde_json::from_slice::<Value>(&plain)
                    .map_err(|e| CallsError::Sealing(e.into()))?
            }
            None => Value::Null,
        })
    } else {
        None
    };
    Ok(CallDetail {
        call,
        transcript,
        recording_url,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error("to must be on or after from, at most 366 days later")]
    InvalidRange,
    #[error(transparent)]
    Store(StoreError),
}

crate::store::error::store_error_from!(AnalyticsError);

/// Calls per day and tool calls of a period, in the clinic's time zone.
pub struct Analytics {
    pub timezone: String,
    pub days: Vec<DayRow>,
    pub tools: ToolTotals,
}

impl Analytics {
    pub fn calls(&self) -> i64 {
        self.days.iter().map(|d| d.calls).sum()
    }
    pub fn answered(&self) -> i64 {
        self.days.iter().map(|d| d.answered).sum()
    }
    pub fn booked(&self) -> i64 {
        self.days.iter().map(|d| d.booked).sum()
    }
    pub fn cost(&self) -> f64 {
        self.days.iter().map(|d| d.cost).sum()
    }
}

/// `a / b`, `None` when `b` is zero.
#[allow(clippy::as_conversions)] // counts of rows: far below f64's exact integer range
pub fn ratio(a: i64, b: i64) -> Option<f64> {
    if b == 0 {
        None
    } else {
        Some(a as f64 / b as f64)
    }
}

/// Days `from` to `to` inclusive (at most 367 of them), in the clinic's time zone.
pub async fn analytics(
    st: &VoiceState,
    org: OrgId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Analytics, AnalyticsError> {
    if to < from || (to - from).num_days() > 366 {
        return Err(AnalyticsError::InvalidRange);
    }
    // Days in the clinic's zone as calendar has it now (its last known zone when away).
    let timezone = clinic::current(st, org).await?.timezone;
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let tz = speak::zone(&timezone);
                let start = speak::start_of_day(from, tz);
                let end = speak::start_of_day(to.succ_opt().unwrap_or(to), tz);
                let days = store::calls_per_day(tx, org, tz.name(), start, end).await?;
                let tools = store::tool_totals(tx, org, start, end).await?;
                Ok::<_, AnalyticsError>(Analytics {
                    timezone,
                    days,
                    tools,
                })
            })
        })
        .await
}

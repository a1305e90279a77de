//! The PHI access log (HIPAA §164.312(b), ADR 0014): every read of a call's transcript or
//! recording URL, or of a message the agent took, records who read what and when — in the
//! transaction of the read itself, so there is no read without its entry. Admins list it.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use servicekit::page::PageRequest;
use tenancy::{OrgId, Role};
use uuid::Uuid;

use crate::state::VoiceState;
use crate::store::access_log::{self as store, AccessFilter, AccessRow, NewAccess};
use crate::store::error::StoreError;

/// Who is reading: a signed-in member of the org.
#[derive(Debug, Clone, Copy)]
pub struct Reader {
    pub org: OrgId,
    pub user_id: Uuid,
    pub role: Role,
    pub session_id: Option<Uuid>,
}

/// What was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phi {
    /// A call's transcript and messages.
    Transcript { call_id: Uuid },
    /// A call's recording URL.
    Recording { call_id: Uuid },
    /// A message the agent took.
    Message { id: Uuid, call_id: Option<Uuid> },
}

impl Phi {
    pub const TYPES: [&'static str; 3] = ["call_transcript", "call_recording", "call_message"];

    fn parts(self) -> (&'static str, Uuid, Option<Uuid>) {
        match self {
            Phi::Transcript { call_id } => ("call_transcript", call_id, Some(call_id)),
            Phi::Recording { call_id } => ("call_recording", call_id, Some(call_id)),
            Phi::Message { id, call_id } => ("call_message", id, call_id),
        }
    }
}

/// Records `reader`'s reads of `what`, in the caller's tenant transaction (an error aborts the
/// read with it).
pub async fn record(
    tx: &mut AsyncPgConnection,
    reader: &Reader,
    what: &[Phi],
) -> diesel::QueryResult<()> {
    let rows: Vec<NewAccess> = what
        .iter()
        .map(|p| {
            let (resource_type, resource_id, call_id) = p.parts();
            NewAccess {
                org_id: reader.org.as_uuid(),
                actor_user_id: reader.user_id,
                actor_role: reader.role.as_str().to_string(),
                session_id: reader.session_id,
                resource_type,
                resource_id,
                call_id,
                action: "read",
            }
        })
        .collect();
    store::insert_many(tx, &rows).await?;
    metrics::counter!("voice_phi_reads_total").increment(u64::try_from(rows.len()).unwrap_or(0));
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum AccessLogError {
    #[error("{detail}")]
    InvalidQuery { field: &'static str, detail: String },
    #[error(transparent)]
    Store(StoreError),
}

crate::store::error::store_error_from!(AccessLogError);

/// The filters of the list, as given.
#[derive(Debug, Clone, Default)]
pub struct AccessQuery {
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    pub call_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
}

/// One page of the org's access log, newest first.
pub async fn list(
    st: &VoiceState,
    org: OrgId,
    q: AccessQuery,
    page: PageRequest,
) -> Result<Vec<AccessRow>, AccessLogError> {
    if let Some(t) = &q.resource_type
        && !Phi::TYPES.contains(&t.as_str())
    {
        return Err(AccessLogError::InvalidQuery {
            field: "resource_type",
            detail: format!("resource_type must be one of {}", Phi::TYPES.join(", ")),
        });
    }
    let f = AccessFilter {
        resource_type: q.resource_type,
        resource_id: q.resource_id,
        call_id: q.call_id,
        actor_user_id: q.user_id,
    };
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::list(tx, org, &f, page.after, page.fetch_limit())
                    .await
                    .map_err(AccessLogError::from)
            })
        })
        .await
}

/// The keyset position of a row (for the page's cursor).
pub fn key(r: &AccessRow) -> (DateTime<Utc>, Uuid) {
    (r.accessed_at, r.id)
}

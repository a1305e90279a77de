//! What the API reads and changes: the list (sorted, filtered, searched, paged), one lead with
//! its score history, reasons, stage history, timeline and notes, a manual stage move, notes,
//! and the pages of the CSV export.

use chrono::Utc;
use servicekit::db::PoolUnavailable;
use tenancy::{Db, OrgId};
use uuid::Uuid;

use crate::domain::stage::{Stage, StageSource};
use crate::store::contacts::{self, ContactRow, ListContacts};
use crate::store::history::{self as hstore, EventRow, NoteRow, ScoreRow, StageRow};

#[derive(Debug, thiserror::Error)]
pub enum LeadsError {
    #[error("lead not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] diesel::result::Error),
    #[error(transparent)]
    Pool(#[from] PoolUnavailable),
}

pub async fn list(db: &Db, org: OrgId, q: ListContacts) -> Result<Vec<ContactRow>, LeadsError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move { Ok(contacts::list_contacts(tx, org, &q).await?) })
    })
    .await
}

/// A lead and everything the detail page shows.
pub struct Detail {
    pub contact: ContactRow,
    /// Newest first; the first is the current score.
    pub scores: Vec<ScoreRow>,
    pub stages: Vec<StageRow>,
    pub events: Vec<EventRow>,
    pub notes: Vec<NoteRow>,
}

/// How many past scores the detail shows.
pub const SCORE_HISTORY: i64 = 50;

pub async fn detail(db: &Db, org: OrgId, id: Uuid) -> Result<Detail, LeadsError> {
    // One snapshot: the score history and the timeline must agree (an event applied between
    // two reads would show in the timeline without the score it produced).
    db.tenant_snapshot(org, |tx| {
        Box::pin(async move {
            let contact = contacts::find_contact(tx, org, id, false)
                .await?
                .ok_or(LeadsError::NotFound)?;
            Ok(Detail {
                scores: hstore::list_scores(tx, org, id, SCORE_HISTORY).await?,
                stages: hstore::list_stages(tx, org, id).await?,
                events: hstore::list_events(tx, org, id).await?,
                notes: hstore::list_notes(tx, org, id).await?,
                contact,
            })
        })
    })
    .await
}

/// A person moves a lead: recorded with who and why; it holds until an appointment booked,
/// moved or kept after it (domain::stage). Moving to the stage it is already at pins it as
/// manual without a second history row.
pub async fn set_stage(
    db: &Db,
    org: OrgId,
    id: Uuid,
    stage: Stage,
    user: Uuid,
    reason: String,
) -> Result<ContactRow, LeadsError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            let c = contacts::find_contact(tx, org, id, true)
                .await?
                .ok_or(LeadsError::NotFound)?;
            let manual = StageSource::Manual.as_str();
            if c.stage == stage.as_str() && c.stage_source == manual {
                return Ok(c);
            }
            if c.stage != stage.as_str() {
                hstore::insert_stage(
                    tx,
                    org,
                    id,
                    &c.stage,
                    stage.as_str(),
                    manual,
                    &format!("user:{user}"),
                    &reason,
                )
                .await?;
            }
            contacts::update_stage(tx, org, id, stage.as_str(), manual, Utc::now()).await?;
            contacts::find_contact(tx, org, id, false)
                .await?
                .ok_or(LeadsError::NotFound)
        })
    })
    .await
}

pub async fn add_note(
    db: &Db,
    org: OrgId,
    id: Uuid,
    user: Uuid,
    body: String,
) -> Result<NoteRow, LeadsError> {
    db.tenant_tx(org, |tx| {
        Box::pin(async move {
            contacts::find_contact(tx, org, id, false)
                .await?
                .ok_or(LeadsError::NotFound)?;
            Ok(hstore::insert_note(tx, org, id, user, &body).await?)
        })
    })
    .await
}

//! `lead-scoring rescore --model vN [--org X]`: re-folds and re-scores every contact of one org
//! (or of every org this service has heard from) with model `vN`, and says what changed. Each
//! contact is recomputed in its own short transaction (locked, like the consumer does), so a
//! rescore runs beside live traffic; a tier or action change publishes lead.scored.v1 as usual.

use std::fmt;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenancy::{Db, OrgId};
use uuid::Uuid;

use crate::core::scoring::recompute;
use crate::domain::model::Model;
use crate::store::contacts::{self, ListContacts, SortBy};

/// One contact whose score moved.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub org: Uuid,
    pub contact: Uuid,
    pub before: (Option<i16>, Option<String>, Option<String>, Option<String>),
    pub after: (i16, String, String, String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub model: String,
    pub orgs: usize,
    pub contacts: usize,
    pub changes: Vec<Change>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tiers = self
            .changes
            .iter()
            .filter(|c| c.before.1.as_deref() != Some(c.after.1.as_str()))
            .count();
        writeln!(
            f,
            "rescore with model {}: {} org(s), {} contact(s), {} changed ({} changed tier)",
            self.model,
            self.orgs,
            self.contacts,
            self.changes.len(),
            tiers
        )?;
        // Ids only: no phone numbers or names in a terminal log.
        for c in &self.changes {
            let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            writeln!(
                f,
                "  org {} contact {}: {} {} {} ({}) -> {} {} {} ({})",
                c.org,
                c.contact,
                c.before.0.map_or_else(|| "-".into(), |s| s.to_string()),
                opt(&c.before.1),
                opt(&c.before.2),
                opt(&c.before.3),
                c.after.0,
                c.after.1,
                c.after.2,
                c.after.3
            )?;
        }
        Ok(())
    }
}

diesel::table! {
    inbox (consumer, event_id) {
        consumer -> Text,
        event_id -> Uuid,
        org_id -> Uuid,
    }
}

/// Every org this service has consumed an event for (the inbox is a system table: no tenant
/// needed to read it, and every contact was built from an event that went through it).
async fn known_orgs(db: &Db) -> anyhow::Result<Vec<Uuid>> {
    db.system_tx(|tx| {
        Box::pin(async move {
            inbox::table
                .select(inbox::org_id)
                .distinct()
                .load::<Uuid>(tx)
                .await
                .map_err(anyhow::Error::from)
        })
    })
    .await
}

const PAGE: i64 = 200;

pub async fn rescore(db: &Db, model: &Model, org: Option<Uuid>) -> anyhow::Result<Report> {
    let orgs = match org {
        Some(o) => vec![o],
        None => known_orgs(db).await?,
    };
    let mut report = Report {
        model: model.version.clone(),
        orgs: orgs.len(),
        ..Report::default()
    };
    for o in orgs {
        let org = OrgId(o);
        let mut after: Option<(i64, Uuid)> = None;
        loop {
            let q = ListContacts {
                sort: SortBy::LastContact,
                tier: None,
                stage: None,
                from: None,
                to: None,
                search: None,
                after,
                fetch: PAGE,
            };
            let page = crate::core::leads::list(db, org, q).await?;
            for c in &page {
                let id = c.id;
                let m = model.clone();
                let (before, out) = db
                    .tenant_tx(org, move |tx| {
                        Box::pin(async move {
                            let Some(row) = contacts::find_contact(tx, org, id, true).await? else {
                                return Ok::<_, anyhow::Error>(None);
                            };
                            let before = (
                                row.score,
                                row.tier.clone(),
                                row.next_action.clone(),
                                row.model_version.clone(),
                            );
                            let out = recompute(tx, org, &m, row, "rescore").await?;
                            Ok(Some((before, out)))
                        })
                    })
                    .await?
                    .unzip();
                let (Some(before), Some(out)) = (before, out) else {
                    continue;
                };
                report.contacts += 1;
                let now = (
                    i16::from(out.scored.score),
                    out.scored.tier.as_str().to_string(),
                    out.scored.next_action.clone(),
                    out.scored.model_version.clone(),
                );
                if before.0 != Some(now.0)
                    || before.1.as_deref() != Some(now.1.as_str())
                    || before.2.as_deref() != Some(now.2.as_str())
                    || before.3.as_deref() != Some(now.3.as_str())
                {
                    report.changes.push(Change {
                        org: o,
                        contact: id,
                        before,
                        after: now,
                    });
                }
            }
            match page.last() {
                Some(last) if i64::try_from(page.len()).unwrap_or(0) == PAGE => {
                    after = Some((last.sort_key(SortBy::LastContact), last.id));
                }
                _ => break,
            }
        }
    }
    Ok(report)
}

//! The classifier worker: claims queued calls (system table, SKIP LOCKED, leased), reads each
//! call's summary in its org's transaction, asks the classifier with no transaction open, then
//! records the answer (or why there was none) and re-scores the contact in a new transaction.
//! A failed classification is recorded, not retried: the rules' intent stands.

use std::sync::Arc;
use std::time::Duration;

use tenancy::{Db, OrgId};

use crate::clients::classifier::Classifier;
use crate::core::scoring::recompute;
use crate::domain::model::Model;
use crate::store::{classify, contacts, history};

const BATCH: i64 = 8;
/// Longer than any classifier timeout: a job claimed by a worker that died comes back after it.
const LEASE_SECS: i64 = 120;

pub fn spawn(db: Db, model: Arc<Model>, classifier: Classifier, poll: Duration) {
    tokio::spawn(async move {
        loop {
            let claimed = db
                .system_tx(|tx| {
                    Box::pin(async move {
                        Ok::<_, anyhow::Error>(classify::claim(tx, BATCH, LEASE_SECS).await?)
                    })
                })
                .await;
            match claimed {
                Ok(jobs) if !jobs.is_empty() => {
                    for job in jobs {
                        if let Err(e) = run_one(&db, &model, &classifier, &job).await {
                            tracing::warn!(error = %e, "classifying a call failed; it comes back after its lease");
                        }
                    }
                }
                Ok(_) => tokio::time::sleep(poll).await,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim classifier jobs");
                    tokio::time::sleep(poll).await;
                }
            }
        }
    });
}

async fn run_one(
    db: &Db,
    model: &Model,
    classifier: &Classifier,
    job: &classify::Job,
) -> anyhow::Result<()> {
    let org = OrgId(job.org_id);
    let call = job.call_id;
    let ended = db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                Ok::<_, anyhow::Error>(history::find_ended_call(tx, org, call).await?)
            })
        })
        .await?;
    let summary = ended.as_ref().and_then(|e| {
        e.payload["analysis"]["summary"]
            .as_str()
            .map(str::to_string)
    });
    if let (Some(ended), Some(summary)) = (ended, summary) {
        let started = std::time::Instant::now();
        let verdict = classifier.classify(&summary).await;
        metrics::histogram!("leads_classifier_seconds", "outcome" => verdict.outcome.clone())
            .record(started.elapsed().as_secs_f64());
        let m = model.clone();
        db.tenant_tx(org, move |tx| {
            Box::pin(async move {
                classify::record(tx, org, call, &verdict).await?;
                if let Some(c) = contacts::find_contact(tx, org, ended.contact_id, true).await? {
                    recompute(tx, org, &m, c, "classifier").await?;
                }
                Ok::<_, anyhow::Error>(())
            })
        })
        .await?;
    }
    let id = job.id;
    db.system_tx(|tx| {
        Box::pin(async move { Ok::<_, anyhow::Error>(classify::done(tx, id).await?) })
    })
    .await
}

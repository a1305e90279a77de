//! The webhook delivery log's writer: group commit. Every request hands its row to one task per
//! HTTP worker; the task inserts whatever has queued up meanwhile in one multi-row statement and
//! one commit, then answers each request (new or duplicate). Under load the rows of many
//! requests share a commit; alone, a row is written at once — nothing waits for a timer.
//! (A background loop: it lives in `workers`, started with the state that holds its handle.)

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use tenancy::Db;

use crate::store::deliveries::{self, LogRow};
use crate::store::error::StoreError;

/// Why a delivery could not be logged.
#[derive(Debug, thiserror::Error)]
pub enum LogWriteError {
    /// The writer task is gone (the runtime is shutting down).
    #[error("the delivery log writer stopped")]
    Stopped,
    /// The batch insert failed; the request must be retried by Vapi.
    #[error("the delivery log is unavailable")]
    Unavailable,
}

/// Rows one statement takes at most (11 parameters each, well under Postgres's 65,535).
const MAX_BATCH: usize = 500;

type Reply = oneshot::Sender<Result<bool, LogWriteError>>;

#[derive(Clone)]
pub struct Logger {
    tx: mpsc::Sender<(LogRow, Reply)>,
}

impl Logger {
    /// Starts the writer task on the current runtime; it ends when the last `Logger` is dropped.
    pub fn start(db: Db) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(write_loop(db, rx));
        Logger { tx }
    }

    /// Logs `row` durably; `Ok(false)` when a delivery with its dedupe key is logged already.
    pub async fn log(&self, row: LogRow) -> Result<bool, LogWriteError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((row, reply))
            .await
            .map_err(|_| LogWriteError::Stopped)?;
        answer.await.map_err(|_| LogWriteError::Stopped)?
    }
}

async fn write_loop(db: Db, mut rx: mpsc::Receiver<(LogRow, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (rows, replies): (Vec<LogRow>, Vec<Reply>) = batch.drain(..).unzip();
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let n = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        metrics::histogram!("voice_webhook_log_batch_rows").record(f64::from(n));
        let inserted = db
            .system_tx(|tx| {
                Box::pin(async move {
                    deliveries::insert_many(tx, &rows)
                        .await
                        .map_err(StoreError::from)
                })
            })
            .await;
        match inserted {
            Ok(new) => {
                let new: std::collections::HashSet<Uuid> = new.into_iter().collect();
                for (id, reply) in ids.iter().zip(replies) {
                    let _ = reply.send(Ok(new.contains(id)));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, rows = ids.len(), "logging webhook deliveries failed");
                for reply in replies {
                    let _ = reply.send(Err(LogWriteError::Unavailable));
                }
            }
        }
    }
}

//! Graceful stop of the bus's background tasks (consumers, relay). On SIGTERM a consumer cancels
//! its subscription, applies and acks what it already holds and closes its channels; the relay
//! publishes what is due and stops. Without it the tasks died with the runtime: the deliveries a
//! consumer held went back to the queue (one more towards `x-delivery-limit`, the handler ran
//! twice) and due outbox rows waited for the next pod.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

pub struct Shutdown {
    signal: watch::Sender<bool>,
    tasks: Mutex<Vec<(oneshot::Receiver<()>, tokio::task::AbortHandle)>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            signal: watch::channel(false).0,
            tasks: Mutex::new(Vec::new()),
        }
    }
}

/// A task's view of the signal.
#[derive(Clone)]
pub struct Stopping(watch::Receiver<bool>);

impl Stopping {
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown has been signalled.
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

impl Shutdown {
    pub fn subscribe(&self) -> Stopping {
        Stopping(self.signal.subscribe())
    }

    /// Spawns a task that `stop` waits for.
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (done, finished) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            // Dropped when the task ends, however it ends (return, abort, panic).
            let _done = done;
            task.await;
        });
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.retain_mut(|(t, _)| {
                matches!(t.try_recv(), Err(oneshot::error::TryRecvError::Empty))
            });
            tasks.push((finished, handle.abort_handle()));
        }
        handle
    }

    /// Signals every task to stop and waits up to `grace` for them; aborts the ones still
    /// running then. Returns whether all of them finished in time.
    pub async fn stop(&self, grace: Duration) -> bool {
        let _ = self.signal.send(true);
        let (waits, aborts): (Vec<_>, Vec<_>) = self
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default()
            .into_iter()
            .unzip();
        let all = futures_util::future::join_all(waits);
        let finished = tokio::time::timeout(grace, all).await.is_ok();
        if !finished {
            tracing::warn!(
                grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
                "bus tasks did not stop in time; aborting them"
            );
            aborts.iter().for_each(tokio::task::AbortHandle::abort);
        }
        finished
    }
}

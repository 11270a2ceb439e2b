//! The persister: one writer that group-commits. Every request waiting in its queue when
//! a commit starts goes into that commit, so the cost of a durable commit (an fsync on
//! SQLite, a round trip on PostgreSQL) is shared by everything that arrived meanwhile.
//!
//! It is a tokio task, not a ractor actor, because group commit must drain its queue in
//! one go and its queue must be bounded; a ractor mailbox can do neither. It ends when
//! every sender is dropped, after committing what is queued: that is how shutdown
//! finishes in-flight commits.

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::domain::change::AlertChange;
use crate::domain::lifecycle::AlertWrite;
use crate::store::Store;
use crate::telemetry::Metrics;

/// Most writes folded into one transaction; more waits for the next commit.
const MAX_WRITES_PER_COMMIT: usize = 8_192;

#[derive(Clone, Debug, thiserror::Error)]
#[error("the store did not commit: {0}")]
pub struct CommitFailed(pub String);

/// Resolves once the writes it was given are durable (or failed to be).
pub type CommitReceipt = oneshot::Receiver<Result<(), CommitFailed>>;

struct CommitRequest {
    writes: Vec<AlertWrite>,
    done: oneshot::Sender<Result<(), CommitFailed>>,
}

/// A cheap handle to the persister's queue.
#[derive(Clone)]
pub struct Persister {
    queue: mpsc::Sender<CommitRequest>,
    metrics: Arc<Metrics>,
}

impl Persister {
    /// Starts the persister. `changes` hears of every committed change.
    pub fn spawn(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        changes: broadcast::Sender<AlertChange>,
        queue_capacity: usize,
    ) -> (Persister, JoinHandle<()>) {
        let (queue, inbox) = mpsc::channel(queue_capacity.max(1));
        let task = tokio::spawn(run(store, metrics.clone(), changes, inbox));
        (Persister { queue, metrics }, task)
    }

    /// Queues writes in the order given; the receipt resolves after their commit.
    pub async fn submit(&self, writes: Vec<AlertWrite>) -> Result<CommitReceipt, CommitFailed> {
        let (done, receipt) = oneshot::channel();
        if writes.is_empty() {
            let _ = done.send(Ok(()));
            return Ok(receipt);
        }
        self.metrics.persister_queue.inc();
        self.queue
            .send(CommitRequest { writes, done })
            .await
            .map_err(|_| CommitFailed("the persister has stopped".into()))?;
        Ok(receipt)
    }
}

async fn run(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    changes: broadcast::Sender<AlertChange>,
    mut inbox: mpsc::Receiver<CommitRequest>,
) {
    while let Some(first) = inbox.recv().await {
        let mut waiting = vec![first.done];
        let mut writes = first.writes;
        while writes.len() < MAX_WRITES_PER_COMMIT {
            match inbox.try_recv() {
                Ok(next) => {
                    writes.extend(next.writes);
                    waiting.push(next.done);
                }
                Err(_) => break,
            }
        }
        metrics.persister_queue.dec_by(waiting.len() as i64);
        let outcome = store.commit(&writes).await;
        match &outcome {
            Ok(()) => {
                metrics.commit_done(writes.len());
                if changes.receiver_count() > 0 {
                    for change in writes.iter().filter_map(AlertWrite::change) {
                        // No watcher listening is fine: changes are a courtesy feed.
                        let _ = changes.send(change);
                    }
                }
            }
            Err(error) => metrics.commit_failed(writes.len(), error),
        }
        let result = outcome.map_err(|e| CommitFailed(e.to_string()));
        for done in waiting {
            // A caller that gave up waiting no longer needs the answer.
            let _ = done.send(result.clone());
        }
    }
}

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

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
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
        if writes.is_empty() {
            let (done, receipt) = oneshot::channel();
            let _ = done.send(Ok(()));
            return Ok(receipt);
        }
        self.enqueue(writes).await
    }

    /// Resolves once everything queued before it is committed: a restarted shard waits
    /// on this so it reloads what its predecessor decided, not what it had yet to write.
    pub async fn barrier(&self) -> Result<(), CommitFailed> {
        self.enqueue(Vec::new())
            .await?
            .await
            .map_err(|_| CommitFailed("the persister has stopped".into()))?
    }

    async fn enqueue(&self, writes: Vec<AlertWrite>) -> Result<CommitReceipt, CommitFailed> {
        let (done, receipt) = oneshot::channel();
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
        // Each request's writes are a range of `writes`, so a failed group can be
        // retried request by request.
        let mut requests = vec![(0..first.writes.len(), first.done)];
        let mut writes = first.writes;
        while writes.len() < MAX_WRITES_PER_COMMIT {
            match inbox.try_recv() {
                Ok(next) => {
                    let start = writes.len();
                    writes.extend(next.writes);
                    requests.push((start..writes.len(), next.done));
                }
                Err(_) => break,
            }
        }
        metrics.persister_queue.dec_by(requests.len() as i64);
        if writes.is_empty() {
            for (_, done) in requests {
                let _ = done.send(Ok(()));
            }
            continue;
        }
        match commit(store.as_ref(), &metrics, &changes, &writes).await {
            Ok(()) => {
                for (_, done) in requests {
                    // A caller that gave up waiting no longer needs the answer.
                    let _ = done.send(Ok(()));
                }
            }
            // One bad request must not fail the others it was grouped with.
            Err(_) if requests.len() > 1 => {
                for (range, done) in requests {
                    let alone = commit(store.as_ref(), &metrics, &changes, &writes[range]).await;
                    let _ = done.send(alone);
                }
            }
            Err(failed) => {
                for (_, done) in requests {
                    let _ = done.send(Err(failed.clone()));
                }
            }
        }
    }
}

async fn commit(
    store: &dyn Store,
    metrics: &Metrics,
    changes: &broadcast::Sender<AlertChange>,
    writes: &[AlertWrite],
) -> Result<(), CommitFailed> {
    if writes.is_empty() {
        return Ok(());
    }
    match store.commit(writes).await {
        Ok(()) => {
            metrics.commit_done(writes.len());
            if changes.receiver_count() > 0 {
                for change in writes.iter().filter_map(AlertWrite::change) {
                    // No watcher listening is fine: changes are a courtesy feed.
                    let _ = changes.send(change);
                }
            }
            Ok(())
        }
        Err(error) => {
            metrics.commit_failed(writes.len(), &error);
            Err(CommitFailed(error.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::domain::alert::{Alert, AlertStatus};
    use crate::domain::fingerprint::AlertKey;
    use crate::domain::lifecycle::AlertRef;
    use crate::domain::severity::Severity;

    fn open(number: i64) -> AlertWrite {
        let now = Utc::now();
        AlertWrite::Open(Box::new(Alert {
            id: Uuid::new_v4(),
            number,
            service_id: Uuid::nil(),
            fingerprint: format!("fp{number}"),
            summary: "down".into(),
            details: String::new(),
            severity: Severity::High,
            source: "test".into(),
            source_instance: String::new(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            status: AlertStatus::Triggered,
            triggered_at: now,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
            resolution_note: None,
            created_at: now,
            updated_at: now,
            last_seen_at: now,
            occurrence_count: 1,
            previous_alert_id: None,
        }))
    }

    #[tokio::test]
    async fn a_bad_request_fails_alone_and_barriers_wait_for_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/oncall.db", dir.path().display());
        let store = crate::store::open(&url).await.unwrap();
        let (changes, _) = broadcast::channel(16);
        let (persister, task) = Persister::spawn(store.clone(), Metrics::new(), changes, 16);
        let stale = AlertWrite::Repeat {
            alert: AlertRef {
                id: Uuid::new_v4(),
                number: 99,
                key: AlertKey {
                    service_id: Uuid::nil(),
                    fingerprint: "gone".into(),
                },
            },
            seen_at: Utc::now(),
            annotations: None,
        };
        let good = persister.submit(vec![open(1)]).await.unwrap();
        let bad = persister.submit(vec![open(2), stale]).await.unwrap();
        let later = persister.submit(vec![open(3)]).await.unwrap();
        persister.barrier().await.unwrap();
        assert_eq!(good.await.unwrap(), Ok(()));
        assert!(bad.await.unwrap().is_err());
        assert_eq!(later.await.unwrap(), Ok(()));
        assert_eq!(store.max_alert_number().await.unwrap(), 3);
        assert_eq!(
            store.open_alerts().await.unwrap().len(),
            2,
            "alert 2 was not stored"
        );
        drop(persister);
        task.await.unwrap();
    }
}

//! The delivery log writer: one task that group-commits new deliveries, state changes
//! and attempts, so a storm's thousands of records cost a few transactions. Entries are
//! written in the order they were sent, so a delivery's creation lands before its
//! updates. A failed commit is retried (a database outage delays the log, never drops
//! it).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{
    DeliveryAttempt, DeliveryLog, DeliveryUpdate, Store, StoreError, StoredDelivery,
};

/// Entries one commit takes at most.
const BATCH: usize = 5_000;
const QUEUE: usize = 100_000;

#[derive(Debug)]
pub enum Entry {
    Created(StoredDelivery),
    Update(DeliveryUpdate),
    Attempt(DeliveryAttempt),
    /// Shutdown: commit what came before, then stop.
    Close,
}

#[derive(Clone)]
pub struct DeliveryLogWriter {
    tx: mpsc::Sender<Entry>,
}

impl DeliveryLogWriter {
    pub fn spawn(store: Arc<dyn Store>) -> (DeliveryLogWriter, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (DeliveryLogWriter { tx }, tokio::spawn(run(store, rx)))
    }

    /// Commits what was written before and stops the writer (at shutdown, when actors
    /// that hold a handle may still be stopping).
    pub async fn close(&self) {
        let _ = self.tx.send(Entry::Close).await;
    }

    pub async fn write(&self, entries: Vec<Entry>) {
        for entry in entries {
            if self.tx.send(entry).await.is_err() {
                tracing::warn!("the delivery log writer has stopped; an entry is not recorded");
                return;
            }
        }
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Entry>) {
    let mut buffer = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut buffer, BATCH).await > 0 {
        let mut log = DeliveryLog::default();
        let mut closing = false;
        for entry in buffer.drain(..) {
            match entry {
                Entry::Created(d) => log.created.push(d),
                Entry::Update(u) => log.updates.push(u),
                Entry::Attempt(a) => log.attempts.push(a),
                Entry::Close => {
                    closing = true;
                    break;
                }
            }
        }
        commit(store.as_ref(), log).await;
        if closing {
            return;
        }
    }
}

async fn commit(store: &dyn Store, log: DeliveryLog) {
    let mut wait = Duration::from_millis(200);
    loop {
        match store.write_delivery_log(&log).await {
            Ok(()) => return,
            Err(StoreError::Conflict(_)) => {
                // A repeated request id among the new deliveries: write them one by one
                // so only the repeat is refused.
                for created in &log.created {
                    let one = DeliveryLog {
                        created: vec![created.clone()],
                        ..DeliveryLog::default()
                    };
                    if let Err(error) = store.write_delivery_log(&one).await {
                        tracing::warn!(delivery = %created.id, %error, "delivery not recorded");
                    }
                }
                let rest = DeliveryLog {
                    created: Vec::new(),
                    ..log
                };
                Box::pin(commit(store, rest)).await;
                return;
            }
            Err(error) => {
                tracing::error!(%error, entries = log.created.len() + log.updates.len() + log.attempts.len(),
                    "could not write the delivery log; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
}

//! One snapshot type for every book the engine decides with (rules and defaults,
//! maintenance windows, enrichment, compiled schedules and policies): built from the
//! store, swapped in whole, read without a lock.
//!
//! Readers take the current `Arc` and keep it for as long as they decide; a reload
//! builds a new value beside it and swaps it in. There is no lock, so a panicking
//! reader or writer cannot leave a book that later reloads skip. Every swap bumps a
//! version on a watch channel: a watcher that was busy when a change landed sees it on
//! its next wait instead of missing it.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::watch;

pub struct Snapshot<T> {
    current: ArcSwap<T>,
    version: watch::Sender<u64>,
}

/// Wakes when a snapshot is swapped; changes made while its holder was busy are kept.
pub struct Changes(watch::Receiver<u64>);

impl<T> Snapshot<T> {
    pub fn new(initial: T) -> Snapshot<T> {
        Snapshot {
            current: ArcSwap::from_pointee(initial),
            version: watch::Sender::new(0),
        }
    }

    /// The value in force now.
    pub fn current(&self) -> Arc<T> {
        self.current.load_full()
    }

    /// Swaps `value` in and tells every watcher.
    pub fn replace(&self, value: T) {
        self.current.store(Arc::new(value));
        self.version
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    /// Follows the swaps from now on.
    pub fn changes(&self) -> Changes {
        Changes(self.version.subscribe())
    }
}

impl Changes {
    /// Resolves at the next swap, or at once if one happened since the last call
    /// (or since `changes()` for the first call).
    pub async fn changed(&mut self) {
        if self.0.changed().await.is_err() {
            // The snapshot is gone: nothing will ever change again.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_swap_made_while_nobody_waits_wakes_the_next_wait() {
        let book = Snapshot::new(1);
        let mut changes = book.changes();
        // The watcher is busy (holding, releasing) when the change lands.
        book.replace(2);
        tokio::time::timeout(Duration::from_secs(5), changes.changed())
            .await
            .expect("the change made while busy is not lost");
        assert_eq!(*book.current(), 2);
    }

    #[tokio::test]
    async fn a_wait_with_nothing_new_waits() {
        let book = Snapshot::new(1);
        let mut changes = book.changes();
        book.replace(2);
        changes.changed().await;
        let waited = tokio::time::timeout(Duration::from_millis(50), changes.changed()).await;
        assert!(waited.is_err(), "no second change was made");
    }
}

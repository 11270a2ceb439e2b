//! The actor shell around the domain: the engine supervises fingerprint shards; each
//! shard owns the open alerts whose keys hash to it, passive as compact records and
//! active as [`alert::AlertActor`]s; the [`persister`] group-commits every decision.
//!
//! Architecture invariant: an open alert's state lives in exactly one place at a time,
//! its shard's passive map or its live actor, and only that owner decides its next
//! write. Writes for one key reach the persister in the order they were decided.

pub mod aggregator;
pub mod alert;
pub mod engine;
pub mod escalation;
pub mod flap_dampener;
pub mod inhibition_watcher;
pub mod maintenance_watcher;
pub mod persister;
pub mod router;
pub mod schedule;
pub mod service_timeouts;
pub mod shard;
pub mod suppression_expiry;

use crate::domain::lifecycle::{AlertRef, IngestOutcome, LifecycleError};
use crate::store::StoreError;

pub use engine::{Admission, Engine, EngineSettings, RunningEngine};
pub use persister::{CommitFailed, CommitReceipt};

/// Why the engine could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the engine is at capacity; retry shortly")]
    Overloaded,
    #[error("alert {0} not found")]
    AlertNotFound(uuid::Uuid),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Commit(#[from] CommitFailed),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// An actor did not answer: it stopped or timed out. Nothing was acknowledged.
    #[error("engine unavailable: {0}")]
    Unavailable(String),
}

/// What became of one ingested alert.
#[derive(Clone, Debug, PartialEq)]
pub struct IngestResult {
    pub outcome: IngestOutcome,
    pub alert: Option<AlertRef>,
}

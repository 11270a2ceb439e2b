//! The pure core: plain data and decisions, no I/O, no async, no clock reads.
//!
//! Everything that depends on time takes `now`. Nothing here imports tokio, sqlx, tonic,
//! axum or ractor, and no type here carries a wire derive: the edges convert.

pub mod access;
pub mod alert;
pub mod backoff;
pub mod catalog;
pub mod change;
pub mod directory;
pub mod enrich;
pub mod escalation;
pub mod fingerprint;
pub mod holder;
pub mod incoming;
pub mod inhibition;
pub mod lifecycle;
pub mod maintenance;
pub mod matcher;
pub mod notify;
pub mod routing;
pub mod schedule;
pub mod severity;
pub mod timeline;

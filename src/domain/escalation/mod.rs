//! Escalation: who is paged, when, for an alert nobody has acknowledged.
//!
//! A policy is ordered steps, each a delay and targets; after the last step it repeats,
//! then runs its exhausted action. A chain is one alert's walk through one policy. The
//! step to fire, the targets it pages and the next fire time are pure functions of
//! (policy, chain state, now); the actors around them own the timers, the store and
//! the delivery. Every page has an idempotency key, so a chain replayed after a crash
//! never pages one target twice for one step.

pub mod chain;
pub mod graph;
pub mod policy;

pub use chain::{Chain, ChainStatus, Fired, PageKey};
pub use graph::find_cycle;
pub use policy::{Exhausted, Policy, Step, Target};

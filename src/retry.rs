//! Work the store failed, tried again: after the store's backoff for the failures so far
//! (`Backoff::STORE`: 200 ms doubling to 30 s, never giving up), counted on `/metrics`,
//! as a message to the actor that does the work. Every supervisor restarts what the
//! store kept it from restarting this way.

use std::fmt::Display;

use ractor::{ActorRef, Message};

use crate::domain::backoff::Backoff;
use crate::telemetry::Metrics;

/// Sends `message(failures)` to `actor` once the backoff for `failures` failures in a
/// row has passed.
pub fn retry_later<M: Message>(
    actor: &ActorRef<M>,
    metrics: &Metrics,
    work: &'static str,
    failures: u32,
    error: &dyn Display,
    message: impl FnOnce(u32) -> M + Send + 'static,
) {
    let delay = Backoff::STORE.delay(failures);
    metrics.store_retry(work, delay, error);
    actor.send_after(delay, move || message(failures));
}

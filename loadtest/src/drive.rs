//! Drives a storm through a set of connections: each connection sends one batch at a
//! time (so its latency is the server's answer time, not time spent queued in the
//! harness), batches are taken in order from a shared counter, and an optional pace
//! holds the whole run to a steady rate.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::report::Tally;
use crate::storm::Storm;

/// What the target said to one batch.
pub enum Outcome {
    /// Every alert of the batch is durably stored.
    Acked,
    /// The target answered with an error status (`HTTP 429`, `UNAVAILABLE`, ...).
    Rejected(String),
    /// No answer: connection refused, reset, timed out.
    Failed(String),
}

/// One connection to a target (an HTTP keep-alive connection, a gRPC stream).
pub trait Connection: Send + 'static {
    fn send(&mut self, storm: &Storm, batch: u64) -> impl Future<Output = Outcome> + Send;
}

/// What a run measured: its wall time, every batch's latency, and the identities of the
/// alerts the target acknowledged.
pub struct Driven {
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
    pub acked_keys: Vec<u64>,
}

/// Sends every batch of `storm` over `connections`; with `rate` (alerts per second), no
/// faster than that.
pub async fn drive<C: Connection>(
    connections: Vec<C>,
    storm: &Storm,
    rate: Option<f64>,
    tally: &Arc<Tally>,
) -> anyhow::Result<Driven> {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let per_batch = rate.map(|r| Duration::from_secs_f64(storm.args.batch as f64 / r));
    let mut workers = Vec::with_capacity(connections.len());
    for mut connection in connections {
        let (next, storm, tally) = (next.clone(), storm.clone(), tally.clone());
        workers.push(tokio::spawn(async move {
            let mut latency = new_histogram();
            let mut acked_keys = Vec::new();
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= storm.batches() {
                    break;
                }
                if let Some(per_batch) = per_batch {
                    let due = started + per_batch.mul_f64(b as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let alerts = storm.batch_len(b);
                tally.sent(alerts);
                let sent_at = Instant::now();
                let outcome = connection.send(&storm, b).await;
                let micros = sent_at.elapsed().as_micros().max(1) as u64;
                latency.saturating_record(micros);
                match outcome {
                    Outcome::Acked => {
                        tally.acked(alerts);
                        acked_keys.extend(storm.keys(b));
                    }
                    Outcome::Rejected(code) => tally.rejected(alerts, code),
                    Outcome::Failed(error) => tally.failed(alerts, error),
                }
            }
            (latency, acked_keys)
        }));
    }
    let mut latency = new_histogram();
    let mut acked_keys = Vec::new();
    for worker in workers {
        let (theirs, keys) = worker.await?;
        latency.add(theirs)?;
        acked_keys.extend(keys);
    }
    Ok(Driven {
        elapsed: started.elapsed(),
        latency,
        acked_keys,
    })
}

/// Microseconds from 1 µs to an hour, three significant digits.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds are valid")
}

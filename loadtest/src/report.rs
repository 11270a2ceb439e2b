//! Counting while a run goes (a progress line every second) and the summary after it,
//! for people and as JSON.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Running counts, shared by every connection of a run.
#[derive(Default)]
pub struct Tally {
    sent: AtomicU64,
    acked: AtomicU64,
    rejected: Mutex<BTreeMap<String, u64>>,
    failed: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    pub fn sent(&self, alerts: u64) {
        self.sent.fetch_add(alerts, Ordering::Relaxed);
    }

    pub fn acked(&self, alerts: u64) {
        self.acked.fetch_add(alerts, Ordering::Relaxed);
    }

    pub fn rejected(&self, alerts: u64, code: String) {
        *lock(&self.rejected).entry(code).or_default() += alerts;
    }

    pub fn failed(&self, alerts: u64, error: String) {
        *lock(&self.failed).entry(error).or_default() += alerts;
    }

    fn counts(&self) -> Counts {
        Counts {
            sent: self.sent.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            rejected: lock(&self.rejected).clone(),
            failed: lock(&self.failed).clone(),
        }
    }
}

/// A poisoned tally lock only means a worker panicked mid-count; the counts stay usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Clone)]
struct Counts {
    sent: u64,
    acked: u64,
    rejected: BTreeMap<String, u64>,
    failed: BTreeMap<String, u64>,
}

impl Counts {
    fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }
}

/// Prints a progress line to stderr every `every` until dropped.
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    pub fn start(label: String, tally: std::sync::Arc<Tally>, every: Duration) -> Self {
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            let mut last_acked = 0;
            loop {
                ticks.tick().await;
                let c = tally.counts();
                let rate = (c.acked - last_acked) as f64 / every.as_secs_f64();
                last_acked = c.acked;
                eprintln!(
                    "[{label} {:>6.1}s] sent {} acked {} rejected {} errors {} | {:.0} alerts/s",
                    started.elapsed().as_secs_f64(),
                    c.sent,
                    c.acked,
                    c.rejected_total(),
                    c.failed_total(),
                    rate
                );
            }
        });
        Self { task }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The check after a run: the acked alerts the target holds.
pub struct Presence {
    /// Distinct alerts (by fingerprint) the target acknowledged.
    pub acked_distinct: u64,
    /// How many of the run's alerts the target lists.
    pub present: u64,
}

impl Presence {
    pub fn missing(&self) -> u64 {
        self.acked_distinct.saturating_sub(self.present)
    }
}

/// What a run was: its scenario, target, id and shape.
pub struct RunInfo {
    pub scenario: String,
    pub target: String,
    pub run: String,
    pub batch: u64,
    pub connections: u64,
}

/// Everything one run against one target measured.
pub struct Summary {
    pub info: RunInfo,
    counts: Counts,
    pub elapsed: Duration,
    latency: Histogram<u64>,
    pub rss_kib: Option<(u64, u64)>,
    pub presence: Option<Presence>,
    /// With a notify rule: how long after the last ack the server finished routing.
    pub routing_drained: Option<Duration>,
}

impl Summary {
    pub fn new(info: RunInfo, tally: &Tally, elapsed: Duration, latency: Histogram<u64>) -> Self {
        Self {
            info,
            counts: tally.counts(),
            elapsed,
            latency,
            rss_kib: None,
            presence: None,
            routing_drained: None,
        }
    }

    /// Acknowledged alerts per second of wall time.
    pub fn rate(&self) -> f64 {
        self.counts.acked as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn millis(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn bytes_per_open_alert(&self) -> Option<f64> {
        let (before, after) = self.rss_kib?;
        let open = self.presence.as_ref()?.present.max(1);
        Some(after.saturating_sub(before) as f64 * 1024.0 / open as f64)
    }

    /// True when the run lost nothing it was told was stored.
    pub fn complete(&self) -> bool {
        self.presence.as_ref().is_none_or(|p| p.missing() == 0)
    }

    pub fn print(&self) {
        let c = &self.counts;
        let info = &self.info;
        println!("{} → {} (run {})", info.scenario, info.target, info.run);
        println!(
            "  alerts       sent {}  acked {}  rejected {}  errors {}",
            c.sent,
            c.acked,
            c.rejected_total(),
            c.failed_total()
        );
        for (code, n) in &c.rejected {
            println!("    rejected {n} with {code}");
        }
        for (error, n) in &c.failed {
            println!("    {n} not answered: {error}");
        }
        println!(
            "  rate         {:.0} alerts/s over {:.2} s ({} per batch, {} connections)",
            self.rate(),
            self.elapsed.as_secs_f64(),
            info.batch,
            info.connections
        );
        println!(
            "  ack latency  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            self.millis(0.5),
            self.millis(0.9),
            self.millis(0.99),
            self.latency.max() as f64 / 1000.0
        );
        if let Some((before, after)) = self.rss_kib {
            let per = self
                .bytes_per_open_alert()
                .map(|b| format!(" ({b:.0} B per open alert)"))
                .unwrap_or_default();
            println!(
                "  server RSS   {:.1} MiB → {:.1} MiB{per}",
                before as f64 / 1024.0,
                after as f64 / 1024.0
            );
        }
        if let Some(drained) = self.routing_drained {
            println!(
                "  routing      every alert routed {:.2} s after the last ack",
                drained.as_secs_f64()
            );
        }
        if let Some(p) = &self.presence {
            let verdict = match p.missing() {
                0 => "none missing".to_string(),
                n => format!("{n} MISSING"),
            };
            println!(
                "  check        {} distinct alerts acked, {} present: {verdict}",
                p.acked_distinct, p.present
            );
        }
    }

    pub fn json(&self) -> Value {
        let c = &self.counts;
        let info = &self.info;
        json!({
            "scenario": info.scenario,
            "target": info.target,
            "run": info.run,
            "batch": info.batch,
            "connections": info.connections,
            "alerts": {
                "sent": c.sent,
                "acked": c.acked,
                "rejected": c.rejected_total(),
                "rejected_by_code": c.rejected,
                "errors": c.failed_total(),
                "errors_by_kind": c.failed,
            },
            "seconds": self.elapsed.as_secs_f64(),
            "alerts_per_second": self.rate(),
            "ack_latency_ms": {
                "p50": self.millis(0.5),
                "p90": self.millis(0.9),
                "p99": self.millis(0.99),
                "max": self.latency.max() as f64 / 1000.0,
            },
            "server_rss_kib": self.rss_kib.map(|(before, after)| json!({
                "before": before,
                "after": after,
                "bytes_per_open_alert": self.bytes_per_open_alert(),
            })),
            "routing_drained_seconds": self.routing_drained.map(|d| d.as_secs_f64()),
            "check": self.presence.as_ref().map(|p| json!({
                "acked_distinct": p.acked_distinct,
                "present": p.present,
                "missing": p.missing(),
            })),
        })
    }
}

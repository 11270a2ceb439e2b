//! Metrics and the typed telemetry events that feed them: each function here writes the
//! tracing line and bumps the metric together, so the two never disagree.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::domain::lifecycle::IngestOutcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabel {
    channel: &'static str,
    /// sent, retrying, failed, dropped.
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkLabel {
    /// What was being done: `shard`, `escalation_step`, `chain_actor`...
    work: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Why the engine turned work away.
#[derive(Clone, Copy, Debug)]
pub enum Rejection {
    /// The engine's admission bound was full.
    Backpressure,
    /// The integration key was over its configured rate.
    FloodGuard,
}

pub struct Metrics {
    registry: Registry,
    received: Family<SourceLabel, Counter>,
    deduplicated: Family<SourceLabel, Counter>,
    stored: Family<SourceLabel, Counter>,
    rejected: Family<ReasonLabel, Counter>,
    ingest_latency: Histogram,
    commit_batch: Histogram,
    commit_failures: Counter,
    /// Alerts admitted and not yet answered.
    pub in_flight: Gauge,
    /// Commit requests waiting for the persister.
    pub persister_queue: Gauge,
    /// Committed alerts waiting to be routed, or being routed.
    pub routing_queue: Gauge,
    /// Alert actors alive now (the rest are passivated in their shards).
    pub active_actors: Gauge,
    /// Open alerts held by the shards, active or passive.
    pub open_alerts: Gauge,
    /// Escalation chains with a live actor.
    pub chains_live: Gauge,
    /// Escalation chains passivated until their next step is near.
    pub chains_passive: Gauge,
    deliveries: Family<DeliveryLabel, Counter>,
    /// Destinations with a live delivery actor.
    pub delivery_actors: Gauge,
    /// Messages sent as digests, and the messages they stood for.
    digests: Counter,
    digested: Counter,
    /// Work put off because the store failed, to be tried again after a backoff.
    store_retries: Family<WorkLabel, Counter>,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("oncall");
        let received = Family::<SourceLabel, Counter>::default();
        let deduplicated = Family::<SourceLabel, Counter>::default();
        let stored = Family::<SourceLabel, Counter>::default();
        let rejected = Family::<ReasonLabel, Counter>::default();
        let ingest_latency = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let commit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 16));
        let commit_failures = Counter::default();
        let in_flight = Gauge::default();
        let persister_queue = Gauge::default();
        let routing_queue = Gauge::default();
        let active_actors = Gauge::default();
        let open_alerts = Gauge::default();
        let chains_live = Gauge::default();
        let chains_passive = Gauge::default();
        registry.register(
            "alerts_received",
            "Alerts received, by source",
            received.clone(),
        );
        registry.register(
            "alerts_deduplicated",
            "Alerts that repeated an open alert, by source",
            deduplicated.clone(),
        );
        registry.register(
            "alerts_stored",
            "New alerts stored, by source",
            stored.clone(),
        );
        registry.register(
            "ingest_rejected",
            "Alerts turned away, by reason (backpressure, flood_guard)",
            rejected.clone(),
        );
        registry.register(
            "ingest_latency_seconds",
            "From admission to durable commit, per request",
            ingest_latency.clone(),
        );
        registry.register(
            "commit_batch_writes",
            "Writes per group commit",
            commit_batch.clone(),
        );
        registry.register(
            "commit_failures",
            "Group commits the store refused",
            commit_failures.clone(),
        );
        registry.register(
            "ingest_in_flight_alerts",
            "Alerts admitted and not yet answered",
            in_flight.clone(),
        );
        registry.register(
            "persister_queue_depth",
            "Commit requests waiting for the persister",
            persister_queue.clone(),
        );
        registry.register(
            "routing_queue_depth",
            "Committed alerts waiting to be routed, or being routed",
            routing_queue.clone(),
        );
        registry.register(
            "alert_actors_active",
            "Alert actors alive (the rest are passivated)",
            active_actors.clone(),
        );
        registry.register(
            "open_alerts",
            "Open alerts held by the engine",
            open_alerts.clone(),
        );
        registry.register(
            "escalation_chains_live",
            "Active escalation chains with a live actor",
            chains_live.clone(),
        );
        registry.register(
            "escalation_chains_passive",
            "Active escalation chains passivated until their next step is near",
            chains_passive.clone(),
        );
        let deliveries = Family::<DeliveryLabel, Counter>::default();
        registry.register(
            "delivery_attempts",
            "Attempts to send a message, by channel and outcome (sent, retrying, failed, dropped)",
            deliveries.clone(),
        );
        let delivery_actors = Gauge::default();
        registry.register(
            "delivery_actors",
            "Destinations with a live delivery actor (idle ones stop)",
            delivery_actors.clone(),
        );
        let digests = Counter::default();
        registry.register(
            "digests",
            "Digests sent because a destination was at its rate limit",
            digests.clone(),
        );
        let digested = Counter::default();
        registry.register(
            "digested_messages",
            "Waiting messages that went out inside a digest",
            digested.clone(),
        );
        let store_retries = Family::<WorkLabel, Counter>::default();
        registry.register(
            "store_retries",
            "Work put off because the store failed and tried again after a backoff, by work \
             (shard restart, escalation step, chain actor restart...)",
            store_retries.clone(),
        );
        Arc::new(Metrics {
            registry,
            store_retries,
            deliveries,
            delivery_actors,
            digests,
            digested,
            received,
            deduplicated,
            stored,
            rejected,
            ingest_latency,
            commit_batch,
            commit_failures,
            in_flight,
            persister_queue,
            routing_queue,
            active_actors,
            open_alerts,
            chains_live,
            chains_passive,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn alert_ingested(&self, source: &str, outcome: IngestOutcome) {
        // gRPC senders name their own source; the metric keeps the known ones and folds
        // the rest, so a sender cannot create series without bound.
        let source = match source {
            "alertmanager" | "grafana" | "generic" | "pagerduty" | "grpc" => source,
            _ => "other",
        };
        let label = SourceLabel {
            source: source.to_string(),
        };
        self.received.get_or_create(&label).inc();
        match outcome {
            IngestOutcome::Created => {
                self.stored.get_or_create(&label).inc();
            }
            IngestOutcome::Deduplicated => {
                self.deduplicated.get_or_create(&label).inc();
            }
            IngestOutcome::Acknowledged | IngestOutcome::Resolved | IngestOutcome::Ignored => {}
        }
    }

    /// One attempt to send a message (`members` messages when it is a digest).
    pub fn delivery_attempt(&self, channel: &'static str, outcome: &'static str) {
        self.deliveries
            .get_or_create(&DeliveryLabel { channel, outcome })
            .inc();
    }

    pub fn digest_made(&self, members: usize) {
        tracing::info!(members, "waiting messages coalesced into a digest");
        self.digests.inc();
        self.digested.inc_by(members as u64);
    }

    pub fn request_committed(&self, alerts: usize, seconds: f64) {
        tracing::debug!(alerts, seconds, "ingest committed");
        self.ingest_latency.observe(seconds);
    }

    pub fn commit_done(&self, writes: usize) {
        self.commit_batch.observe(writes as f64);
    }

    pub fn commit_failed(&self, writes: usize, error: &dyn std::fmt::Display) {
        tracing::error!(writes, %error, "group commit failed");
        self.commit_failures.inc();
    }

    /// Work that failed on the store and will be tried again after `delay`.
    pub fn store_retry(
        &self,
        work: &'static str,
        delay: std::time::Duration,
        error: &dyn std::fmt::Display,
    ) {
        tracing::error!(work, ?delay, %error, "the store failed; trying again after a backoff");
        self.store_retries.get_or_create(&WorkLabel { work }).inc();
    }

    pub fn rejected(&self, reason: Rejection, alerts: usize) {
        let reason = match reason {
            Rejection::Backpressure => "backpressure",
            Rejection::FloodGuard => "flood_guard",
        };
        tracing::warn!(reason, alerts, "ingest rejected");
        self.rejected
            .get_or_create(&ReasonLabel { reason })
            .inc_by(alerts as u64);
    }
}

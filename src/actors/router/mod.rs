//! The router: takes each new alert after its commit, decides with the compiled rule
//! book (the same pure decision SimulateRouting shows), carries out the actions that
//! exist today, and records the whole decision and every outcome in the audit log.
//!
//! It is a tokio task with a bounded queue, like the persister, and routes in batches.
//! An alert is marked routed only together with its audit entry, so one whose routing was
//! cut short by a stop is routed on the next start; that can repeat an action, never
//! skip one.

use std::sync::Arc;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Engine;
use super::aggregator::AggregatorMsg;
use super::escalation::EscalationActors;
use super::flap_dampener::{FlapMsg, PeerSummary};
use crate::books::WindowBook;
use crate::books::inhibitions::InhibitionBook;
use crate::books::rules::RuleBook;
use crate::books::service_defaults::ServiceDefaults;
use crate::domain::alert::Alert;
use crate::notify::webhook::WebhookSender;
use crate::paging::Pager;
use crate::store::Store;
use ractor::ActorRef;

mod actions;
mod pipeline;

use pipeline::route_batch;

/// Alerts of a batch routed at once; each may be waiting on a webhook.
const CONCURRENCY: usize = 64;
/// Most alerts routed in one batch.
const MAX_BATCH: usize = 2_000;

#[derive(Clone)]
pub struct Router {
    queue: mpsc::Sender<RouteRequest>,
    /// The routing queue's depth, for /metrics (and the load harness, which waits for
    /// routing to finish before it tidies up).
    waiting: Gauge,
}

/// An alert to route; `expired` names the rule whose timed suppression just ended, so
/// that rule's suppress action does not hold the alert again; `flaps` is the summary of
/// a route-flap window whose first held alert this is.
#[derive(Clone, Debug)]
struct RouteRequest {
    alert: Uuid,
    /// The alert as it opened, when the request comes straight from ingest; used unless
    /// the alert changed since.
    opened: Option<Box<Alert>>,
    expired: Option<Uuid>,
    flaps: Option<PeerSummary>,
}

pub struct RouterParts {
    pub aggregator: ActorRef<AggregatorMsg>,
    pub windows: WindowBook,
    pub inhibitions: InhibitionBook,
    /// Told when a rule holds an alert for a time, so the expiry watcher wakes for it.
    pub timed_holds: Arc<tokio::sync::Notify>,
    pub store: Arc<dyn Store>,
    pub rules: RuleBook,
    pub engine: Engine,
    pub webhooks: WebhookSender,
    pub pager: Pager,
    pub escalations: EscalationActors,
    /// Asked about every route-flap alert before its actions run.
    pub flaps: ActorRef<FlapMsg>,
    /// Default escalation policies of services and teams.
    pub service_defaults: ServiceDefaults,
    pub shutdown: CancellationToken,
}

impl Router {
    pub fn spawn(parts: RouterParts, queue_capacity: usize) -> (Router, JoinHandle<()>) {
        let (queue, inbox) = mpsc::channel(queue_capacity.max(1));
        let waiting = parts.engine.metrics().routing_queue.clone();
        let task = tokio::spawn(run(Arc::new(parts), inbox));
        (Router { queue, waiting }, task)
    }

    /// Queues a committed alert for routing; waits while the queue is full, which slows
    /// the ingest that produced it instead of growing memory.
    pub async fn route(&self, alert_id: Uuid) {
        self.send(RouteRequest {
            alert: alert_id,
            opened: None,
            expired: None,
            flaps: None,
        })
        .await;
    }

    /// Queues an alert ingest has just opened and committed, with its opening copy.
    pub async fn route_opened(&self, alert: Alert) {
        self.send(RouteRequest {
            alert: alert.id,
            opened: Some(Box::new(alert)),
            expired: None,
            flaps: None,
        })
        .await;
    }

    /// Runs the actions of a route-flap window's first held alert, carrying the window's
    /// summary: the one notification for the flaps it held.
    pub async fn route_flap_summary(&self, summary: PeerSummary) {
        self.send(RouteRequest {
            alert: summary.summary.first_held,
            opened: None,
            expired: None,
            flaps: Some(summary),
        })
        .await;
    }

    /// Routes every summary the flap dampener sends, until it stops.
    pub fn follow_flap_summaries(
        &self,
        mut summaries: mpsc::Receiver<PeerSummary>,
    ) -> JoinHandle<()> {
        let router = self.clone();
        tokio::spawn(async move {
            while let Some(summary) = summaries.recv().await {
                router.route_flap_summary(summary).await;
            }
        })
    }

    /// Routes an alert whose timed suppression by `rule` ended: the rule's other actions
    /// run, its suppress action does not.
    pub async fn route_after_suppression(&self, alert_id: Uuid, rule: Uuid) {
        self.send(RouteRequest {
            alert: alert_id,
            opened: None,
            expired: Some(rule),
            flaps: None,
        })
        .await;
    }

    async fn send(&self, request: RouteRequest) {
        let alert = request.alert;
        self.waiting.inc();
        if self.queue.send(request).await.is_err() {
            self.waiting.dec();
            tracing::warn!(%alert, "router stopped; the alert is routed on the next start");
        }
    }
}

async fn run(parts: Arc<RouterParts>, mut inbox: mpsc::Receiver<RouteRequest>) {
    loop {
        let first = tokio::select! {
            () = parts.shutdown.cancelled() => break,
            next = inbox.recv() => match next {
                Some(id) => id,
                None => break,
            },
        };
        // Route in batches: one read and one write for the lot, so a storm's routing
        // costs a share of a transaction per alert, not a transaction each.
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(id) => batch.push(id),
                Err(_) => break,
            }
        }
        if let Err(error) = route_batch(&parts, &batch).await {
            tracing::error!(alerts = batch.len(), %error, "routing failed; retried on the next start");
        }
        parts
            .engine
            .metrics()
            .routing_queue
            .dec_by(batch.len() as i64);
    }
}

//! The router: takes each new alert after its commit, decides with the compiled rule
//! book (the same pure decision SimulateRouting shows), carries out the actions that
//! exist today, and records the whole decision and every outcome in the audit log.
//!
//! It is a tokio task with a bounded queue, like the persister. An alert is marked routed
//! only together with its audit entry, so one whose routing was cut short by a stop is
//! routed on the next start; that can repeat an action, never skip one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use prost::Message;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Engine;
use crate::domain::alert::{ACTOR_ROUTING, Alert, TimelineKind};
use crate::domain::lifecycle::{AlertChanges, Command};
use crate::grpc::pb::alerting::routing::v1 as pb;
use crate::grpc::routing::{evaluation_to_pb, routed_from_domain};
use crate::notify::webhook::{WebhookError, WebhookSender, alert_payload};
use crate::rulebook::RuleBook;
use crate::store::{Store, StoredAudit};

/// Alerts routed at once; each may be waiting on a webhook.
const CONCURRENCY: usize = 64;

#[derive(Clone)]
pub struct Router {
    queue: mpsc::Sender<Uuid>,
}

pub struct RouterParts {
    pub store: Arc<dyn Store>,
    pub rules: RuleBook,
    pub engine: Engine,
    pub webhooks: WebhookSender,
    pub shutdown: CancellationToken,
}

impl Router {
    pub fn spawn(parts: RouterParts, queue_capacity: usize) -> (Router, JoinHandle<()>) {
        let (queue, inbox) = mpsc::channel(queue_capacity.max(1));
        let task = tokio::spawn(run(Arc::new(parts), inbox));
        (Router { queue }, task)
    }

    /// Queues a committed alert for routing; waits while the queue is full, which slows
    /// the ingest that produced it instead of growing memory.
    pub async fn route(&self, alert_id: Uuid) {
        if self.queue.send(alert_id).await.is_err() {
            tracing::warn!(alert = %alert_id, "router stopped; the alert is routed on the next start");
        }
    }
}

async fn run(parts: Arc<RouterParts>, mut inbox: mpsc::Receiver<Uuid>) {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    loop {
        let alert_id = tokio::select! {
            () = parts.shutdown.cancelled() => break,
            next = inbox.recv() => match next {
                Some(id) => id,
                None => break,
            },
        };
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let parts = parts.clone();
        tokio::spawn(async move {
            if let Err(error) = route(&parts, alert_id).await {
                tracing::error!(alert = %alert_id, %error, "routing failed; retried on the next start");
            }
            drop(slot);
        });
    }
    // Let routings in flight finish (bounded), so their audit entries are written.
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        slots.acquire_many(CONCURRENCY as u32),
    )
    .await;
}

async fn route(parts: &RouterParts, alert_id: Uuid) -> Result<(), crate::store::StoreError> {
    let Some(alert) = parts.store.get_alert(alert_id).await? else {
        return Ok(());
    };
    let now = Utc::now();
    let rules = parts.rules.current();
    let decision = rules.decide(&routed_from_domain(&alert), now, false);
    let suppressing = decision
        .actions
        .iter()
        .any(|(_, a)| a.r#type == pb::ActionType::Suppress as i32);
    let mut outcomes = Vec::with_capacity(decision.actions.len());
    for (rule_id, action) in &decision.actions {
        let rule_name = rule_id
            .and_then(|id| rules.rules().iter().find(|r| r.id == id))
            .map(|r| r.name.as_str());
        let (outcome, detail) =
            act(parts, &alert, action, rule_id.zip(rule_name), suppressing).await;
        outcomes.push(pb::ActionOutcome {
            rule_id: rule_id.map(|r| r.to_string()).unwrap_or_default(),
            action: Some((*action).clone()),
            outcome,
            detail,
        });
    }
    let log = pb::RoutingAuditLog {
        id: Uuid::now_v7().to_string(),
        alert_id: alert.id.to_string(),
        evaluated_at: Some(crate::grpc::convert::timestamp(now)),
        evaluations: decision.evaluations.iter().map(evaluation_to_pb).collect(),
        actions: outcomes,
        used_default_actions: decision.used_defaults,
    };
    let matched = decision
        .evaluations
        .iter()
        .filter(|e| e.matched)
        .map(|e| e.rule_id)
        .collect();
    parts
        .store
        .record_routing(&StoredAudit {
            id: Uuid::parse_str(&log.id).unwrap_or_else(|_| Uuid::now_v7()),
            alert_id: alert.id,
            matched_rule_ids: matched,
            body: log.encode_to_vec(),
            created_at: now,
        })
        .await
}

/// Carries out one action; returns its outcome and a detail for the audit log.
async fn act(
    parts: &RouterParts,
    alert: &Alert,
    action: &pb::RoutingAction,
    rule: Option<(Uuid, &str)>,
    suppressing: bool,
) -> (String, String) {
    use pb::ActionType as A;
    let pending = |capability: &str| (format!("pending: {capability}"), String::new());
    let notify = |url: String| async move {
        if suppressing {
            return (
                "skipped".to_string(),
                "a suppress action matched".to_string(),
            );
        }
        let rule = rule.map(|(id, name)| (id.to_string(), name.to_string()));
        let payload = alert_payload(
            alert,
            rule.as_ref().map(|(id, name)| (id.as_str(), name.as_str())),
        );
        let (outcome, kind, detail) = match parts.webhooks.post(&url, &payload).await {
            Ok(status) => (
                "sent",
                TimelineKind::Notified,
                format!("webhook {url}: HTTP {status}"),
            ),
            Err(WebhookError::Permanent(why)) => ("refused", TimelineKind::DeliveryFailed, why),
            Err(WebhookError::Retryable(why)) => ("failed", TimelineKind::DeliveryFailed, why),
        };
        let record = Command::Record {
            kind,
            actor: ACTOR_ROUTING.into(),
            message: detail.clone(),
        };
        if let Err(error) = parts.engine.apply(alert, record).await {
            tracing::warn!(alert = %alert.id, %error, "could not record a notification");
        }
        (outcome.to_string(), detail)
    };
    match A::try_from(action.r#type) {
        Ok(A::NotifyWebhook) => match &action.notify_webhook {
            Some(hook) => notify(hook.webhook_url.clone()).await,
            None => ("refused".into(), "no webhook URL".into()),
        },
        Ok(A::NotifyChannel) => {
            let target = action
                .notify_channel
                .as_ref()
                .and_then(|c| c.target.as_ref());
            match target {
                Some(t) if t.channel == pb::ChannelType::Webhook as i32 => {
                    let url = t
                        .webhook
                        .as_ref()
                        .map(|w| w.url.clone())
                        .filter(|u| !u.is_empty())
                        .unwrap_or_else(|| t.address.clone());
                    notify(url).await
                }
                _ => pending("notifications for this channel"),
            }
        }
        Ok(A::Suppress) => {
            let reason = action
                .suppress
                .as_ref()
                .map(|s| s.reason.clone())
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "suppressed by a routing rule".into());
            let command = Command::Suppress {
                by: ACTOR_ROUTING.into(),
                reason: reason.clone(),
            };
            match parts.engine.apply(alert, command).await {
                Ok(()) => ("suppressed".into(), reason),
                Err(error) => ("failed".into(), error.to_string()),
            }
        }
        Ok(A::SetLabel) => {
            let Some(set) = &action.set_label else {
                return ("refused".into(), "no label".into());
            };
            let mut labels: BTreeMap<String, String> = alert.labels.clone();
            labels.insert(set.key.clone(), set.value.clone());
            let command = Command::Update {
                by: ACTOR_ROUTING.into(),
                changes: AlertChanges {
                    labels: Some(labels),
                    ..AlertChanges::default()
                },
            };
            match parts.engine.apply(alert, command).await {
                Ok(()) => ("label_set".into(), format!("{}={}", set.key, set.value)),
                Err(error) => ("failed".into(), error.to_string()),
            }
        }
        Ok(A::Aggregate) => pending("aggregation"),
        Ok(A::Escalate) => pending("escalation"),
        Ok(A::NotifyOncall) => pending("on-call schedules"),
        Ok(A::NotifyTeam) => pending("teams"),
        Ok(A::NotifyUser) => pending("notifications"),
        Ok(A::CreateTicket) => pending("tickets"),
        Ok(A::Unspecified) | Err(_) => ("refused".into(), "unknown action type".into()),
    }
}

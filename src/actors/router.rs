//! The router: takes each new alert after its commit, decides with the compiled rule
//! book (the same pure decision SimulateRouting shows), carries out the actions that
//! exist today, and records the whole decision and every outcome in the audit log.
//!
//! It is a tokio task with a bounded queue, like the persister, and routes in batches.
//! An alert is marked routed only together with its audit entry, so one whose routing was
//! cut short by a stop is routed on the next start; that can repeat an action, never
//! skip one.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use prometheus_client::metrics::gauge::Gauge;
use prost::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Engine;
use super::aggregator::{AggregatorMsg, GroupKey, Member};
use super::escalation::EscalationActors;
use super::flap_dampener::{FlapMsg, PeerSummary};
use super::inhibition_watcher::hold_targets;
use crate::books::WindowBook;
use crate::books::inhibitions::InhibitionBook;
use crate::books::rules::{CompiledRules, RuleBook};
use crate::books::service_defaults::ServiceDefaults;
use crate::definitions::audit::{check_result, evaluation_to_pb};
use crate::definitions::routing::destination_of;
use crate::domain::alert::{ACTOR_ROUTING, Alert, AlertStatus, TimelineKind};
use crate::domain::enrich::{
    BgpKind, FlapVerdict, LABEL_BGP_KIND, LABEL_BGP_PEER, LABEL_ESCALATE, LABEL_FLAPPING,
};
use crate::domain::escalation::Target;
use crate::domain::holder::Holder;
use crate::domain::inhibition::InhibitionRule;
use crate::domain::lifecycle::{AlertChanges, Command};
use crate::domain::maintenance::{MaintenanceAction, applicable};
use crate::domain::notify::message::Kind;
use crate::domain::routing::Explain;
use crate::domain::severity::Severity;
use crate::notify::notifier::Chosen;
use crate::notify::webhook::{WebhookError, WebhookSender, alert_payload};
use crate::paging::Pager;
use crate::pb::alerting::routing::v1 as pb;
use crate::store::{Store, StoredAudit};
use ractor::ActorRef;

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

async fn route_batch(
    parts: &RouterParts,
    batch: &[RouteRequest],
) -> Result<(), crate::store::StoreError> {
    let ids: Vec<Uuid> = batch.iter().map(|r| r.alert).collect();
    let expired: BTreeMap<Uuid, Uuid> = batch
        .iter()
        .filter_map(|r| Some((r.alert, r.expired?)))
        .collect();
    let flaps: BTreeMap<Uuid, &PeerSummary> = batch
        .iter()
        .filter_map(|r| Some((r.alert, r.flaps.as_ref()?)))
        .collect();
    let alerts = current_alerts(&*parts.store, batch).await?;
    let now = crate::clock::now();
    let rules = parts.rules.current();
    // Sources first, so a target routed beside its source in one batch is held by it.
    // Without inhibition rules (the common storm case) the pass is skipped whole.
    let inhibiting = parts.inhibitions.has_rules();
    let sources: Vec<(&Alert, Vec<InhibitionRule>)> = alerts
        .iter()
        .filter(|a| inhibiting && a.status != AlertStatus::Resolved)
        .map(|a| (a, parts.inhibitions.add_source(a.id, &a.labels)))
        .filter(|(_, rules)| !rules.is_empty())
        .collect();
    // Collected first: a lazily mapped stream of borrowing futures trips the compiler's
    // higher-ranked lifetime check under `tokio::spawn`.
    let routings: Vec<_> = alerts
        .iter()
        .map(|alert| {
            let request = Request {
                expired: expired.get(&alert.id).copied(),
                flaps: flaps.get(&alert.id).copied(),
            };
            route_one(parts, &rules, alert, request, now)
        })
        .collect();
    let decided = futures_util::stream::iter(routings)
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let audits: Vec<StoredAudit> = decided.into_iter().flatten().collect();
    parts.store.record_routing(&audits, &ids, now).await?;
    // A source that opens after its targets holds the open, unacknowledged ones too.
    for (source, rules) in sources {
        hold_targets(&*parts.store, &parts.engine, source, &rules).await;
    }
    Ok(())
}

/// The batch's alerts as they are now: the opening copies of those still unchanged
/// (the storm case: one narrow read), the rest read whole.
async fn current_alerts(
    store: &dyn Store,
    batch: &[RouteRequest],
) -> Result<Vec<Alert>, crate::store::StoreError> {
    let with_copy: Vec<Uuid> = batch
        .iter()
        .filter(|r| r.opened.is_some())
        .map(|r| r.alert)
        .collect();
    let unchanged: HashSet<Uuid> = if with_copy.is_empty() {
        HashSet::new()
    } else {
        store
            .unchanged_since_open(&with_copy)
            .await?
            .into_iter()
            .collect()
    };
    let mut alerts = Vec::with_capacity(batch.len());
    let mut read = Vec::new();
    for request in batch {
        match &request.opened {
            Some(copy) if unchanged.contains(&request.alert) => alerts.push(Alert::clone(copy)),
            _ => read.push(request.alert),
        }
    }
    if !read.is_empty() {
        alerts.extend(store.get_alerts(&read).await?);
    }
    Ok(alerts)
}

/// What a routing request says beyond the alert.
#[derive(Clone, Copy)]
struct Request<'a> {
    expired: Option<Uuid>,
    flaps: Option<&'a PeerSummary>,
}

/// Decides for one alert and carries out its actions; `None` when no rule had anything
/// to say (no rules, no defaults): there is nothing to audit.
async fn route_one(
    parts: &RouterParts,
    rules: &CompiledRules,
    alert: &Alert,
    request: Request<'_>,
    now: chrono::DateTime<Utc>,
) -> Option<StoredAudit> {
    let expired = request.expired;
    let mut routed = parts.engine.enrichment().routed(alert);
    // What the rules' actions see: the alert as maintenance left it.
    let mut current = alert.clone();
    // Maintenance comes before the rules.
    let windows = parts.windows.current();
    let held = applicable(&windows, &routed, alert.service_id, now);
    if let Some(window) = held {
        let command = match window.action {
            MaintenanceAction::Suppress => Command::Suppress {
                by: ACTOR_ROUTING.into(),
                reason: format!("maintenance window {:?}", window.name),
                held_by: Some(Holder::Window(window.id)),
            },
            MaintenanceAction::Annotate => {
                routed
                    .labels
                    .insert("maintenance".into(), window.name.clone());
                current.labels = routed.labels.clone();
                Command::Update {
                    by: ACTOR_ROUTING.into(),
                    changes: AlertChanges {
                        labels: Some(routed.labels.clone()),
                        ..AlertChanges::default()
                    },
                }
            }
            MaintenanceAction::ReduceSeverity => {
                routed.severity = one_level_down(routed.severity);
                current.severity = routed.severity;
                Command::Update {
                    by: ACTOR_ROUTING.into(),
                    changes: AlertChanges {
                        severity: Some(routed.severity),
                        ..AlertChanges::default()
                    },
                }
            }
        };
        if let Err(error) = parts.engine.apply(alert, command).await {
            tracing::warn!(alert = %alert.id, %error, "could not apply a maintenance window");
        }
    }
    let maintenance = check_result(held);
    let maintenance = maintenance.in_maintenance.then_some(maintenance);
    if held.is_some_and(|w| w.action == MaintenanceAction::Suppress) {
        let log = pb::RoutingAuditLog {
            maintenance,
            ..pb::RoutingAuditLog::default()
        };
        return Some(audit(alert, now, log, Vec::new()));
    }
    // Inhibition comes after maintenance and before the rules: an alert an open source
    // inhibits is held by that source, and routed when it lets go.
    if let Some(inhibitor) = parts.inhibitions.inhibitor(alert.id, &current.labels) {
        let command = Command::Suppress {
            by: ACTOR_ROUTING.into(),
            reason: format!(
                "inhibited by alert {} (inhibition rule {:?})",
                inhibitor.source, inhibitor.rule_name
            ),
            held_by: Some(Holder::Inhibitor(inhibitor.source)),
        };
        if let Err(error) = parts.engine.apply(alert, command).await {
            tracing::warn!(alert = %alert.id, %error, "could not inhibit an alert");
        }
        let log = pb::RoutingAuditLog {
            maintenance,
            inhibition: Some(inhibitor.to_pb()),
            ..pb::RoutingAuditLog::default()
        };
        return Some(audit(alert, now, log, Vec::new()));
    }
    // Route flaps: the first of a window notifies, the rest wait for its summary.
    let held = match request.flaps {
        Some(flaps) => {
            carry_flap_summary(&mut current, flaps);
            None
        }
        None => dampen(parts, alert, &mut current, &mut routed).await,
    };
    let decision = rules.decide(&routed, now, false, Explain::Matches);
    let default_policy = parts.service_defaults.policy_for(alert.service_id).await;
    if maintenance.is_none()
        && decision.rules_evaluated == 0
        && decision.actions.is_empty()
        && default_policy.is_none()
    {
        return None;
    }
    let suppressing = decision.actions.iter().any(|(rule, a)| {
        a.r#type == pb::ActionType::Suppress as i32 && (rule.is_none() || *rule != expired)
    });
    let mut outcomes = Vec::with_capacity(decision.actions.len());
    for (rule_id, action) in &decision.actions {
        let rule_name = rule_id
            .and_then(|id| rules.rules().iter().find(|r| r.id == id))
            .map(|r| r.name.as_str());
        let (outcome, detail) = if let Some(peer) = &held {
            (
                "held".into(),
                format!("route flap of peer {peer}: summarised when its window ends"),
            )
        } else if expired.is_some()
            && *rule_id == expired
            && action.r#type == pb::ActionType::Suppress as i32
        {
            ("expired".into(), "the timed suppression ended".into())
        } else {
            act(parts, &current, action, rule_id.zip(rule_name), suppressing).await
        };
        outcomes.push(pb::ActionOutcome {
            rule_id: rule_id.map(|r| r.to_string()).unwrap_or_default(),
            action: Some((*action).clone()),
            outcome,
            detail,
        });
    }
    if held.is_none() && !suppressing {
        outcomes.extend(escalate_at_once(parts, &routed, &current, &outcomes).await);
        if let Some(policy) = default_policy
            && !outcomes.iter().any(|o| o.outcome == "escalating")
        {
            outcomes.push(escalate_by_default(parts, &current, policy).await);
        }
    }
    let matched = decision
        .evaluations
        .iter()
        .filter(|e| e.matched)
        .map(|e| e.rule_id)
        .collect();
    let log = pb::RoutingAuditLog {
        evaluations: decision.evaluations.iter().map(evaluation_to_pb).collect(),
        actions: outcomes,
        used_default_actions: decision.used_defaults,
        rules_evaluated: i32::try_from(decision.rules_evaluated).unwrap_or(i32::MAX),
        maintenance,
        ..pb::RoutingAuditLog::default()
    };
    Some(audit(alert, now, log, matched))
}

/// The audit entry of one routing decision, explained by `log`.
fn audit(
    alert: &Alert,
    now: chrono::DateTime<Utc>,
    log: pb::RoutingAuditLog,
    matched_rule_ids: Vec<Uuid>,
) -> StoredAudit {
    let id = Uuid::now_v7();
    let log = pb::RoutingAuditLog {
        id: id.to_string(),
        alert_id: alert.id.to_string(),
        evaluated_at: Some(crate::pb::timestamp(now)),
        ..log
    };
    StoredAudit {
        id,
        alert_id: alert.id,
        matched_rule_ids,
        body: log.encode_to_vec(),
        created_at: now,
    }
}

/// Asks the flap dampener about a route-flap alert; the peer when the alert is held for
/// its window's summary. A peer that is flapping marks the alert `oncall_flapping=true`.
async fn dampen(
    parts: &RouterParts,
    alert: &Alert,
    current: &mut Alert,
    routed: &mut crate::domain::routing::RoutedAlert,
) -> Option<String> {
    let peer = current.labels.get(LABEL_BGP_PEER)?.clone();
    if current.labels.get(LABEL_BGP_KIND).map(String::as_str) != Some(BgpKind::RouteFlap.as_str()) {
        return None;
    }
    let answer = parts
        .flaps
        .call(
            |reply| FlapMsg::Observe {
                peer: peer.clone(),
                alert: alert.id,
                reply,
            },
            Some(Duration::from_secs(5)),
        )
        .await;
    let answer = match answer {
        Ok(ractor::rpc::CallResult::Success(answer)) => answer,
        _ => {
            tracing::warn!(alert = %alert.id, "the flap dampener did not answer; routing undampened");
            return None;
        }
    };
    if answer.flapping && !current.labels.contains_key(LABEL_FLAPPING) {
        current.labels.insert(LABEL_FLAPPING.into(), "true".into());
        // The rules decide on the mark too.
        routed.labels.insert(LABEL_FLAPPING.into(), "true".into());
        let command = Command::Update {
            by: ACTOR_ROUTING.into(),
            changes: AlertChanges {
                labels: Some(current.labels.clone()),
                ..AlertChanges::default()
            },
        };
        if let Err(error) = parts.engine.apply(alert, command).await {
            tracing::warn!(alert = %alert.id, %error, "could not mark a flapping peer");
        }
    }
    (answer.verdict == FlapVerdict::Hold).then_some(peer)
}

/// Makes the alert that carries a window's summary say so: its summary line counts the
/// flaps, and an annotation gives the count for templates.
fn carry_flap_summary(current: &mut Alert, flaps: &PeerSummary) {
    let summary = &flaps.summary;
    current.summary = format!(
        "{} more route flaps of peer {} between {} and {}{}",
        summary.held,
        flaps.peer,
        summary.window_start.to_rfc3339(),
        summary.window_end.to_rfc3339(),
        if summary.flapping { " (flapping)" } else { "" },
    );
    current
        .annotations
        .insert("oncall_flap_count".into(), summary.held.to_string());
}

/// A hijack is escalated at once: when no rule started a chain, one starts on the
/// policy of the alert's equipment type, else of its site.
async fn escalate_at_once(
    parts: &RouterParts,
    routed: &crate::domain::routing::RoutedAlert,
    current: &Alert,
    outcomes: &[pb::ActionOutcome],
) -> Option<pb::ActionOutcome> {
    if current.labels.get(LABEL_ESCALATE).map(String::as_str) != Some("immediate") {
        return None;
    }
    let escalating = outcomes.iter().any(|o| o.outcome == "escalating");
    let facts = &routed.reference;
    let (policy, whose) = match (
        facts.equipment.as_ref().and_then(|e| e.escalation_policy),
        facts.site.as_ref().and_then(|s| s.escalation_policy),
    ) {
        _ if escalating => return None,
        (Some(policy), _) => (policy, "the equipment type's"),
        (None, Some(policy)) => (policy, "the site's"),
        (None, None) => return None,
    };
    let (outcome, detail) = match parts.escalations.start(current.id, policy).await {
        Ok(chain) => (
            "escalating".to_string(),
            format!(
                "hijack: escalated at once on {whose} policy, chain {}",
                chain.id
            ),
        ),
        Err(why) => ("failed".to_string(), why),
    };
    Some(pb::ActionOutcome {
        rule_id: String::new(),
        action: Some(escalate_action(policy)),
        outcome,
        detail,
    })
}

/// Starts the service's (or its team's) default policy for an alert no rule escalated.
async fn escalate_by_default(
    parts: &RouterParts,
    alert: &Alert,
    policy: Uuid,
) -> pb::ActionOutcome {
    let (outcome, detail) = match parts.escalations.start(alert.id, policy).await {
        Ok(chain) => (
            "escalating".to_string(),
            format!("the service's default policy, chain {}", chain.id),
        ),
        Err(why) => ("failed".to_string(), why),
    };
    pb::ActionOutcome {
        rule_id: String::new(),
        action: Some(escalate_action(policy)),
        outcome,
        detail,
    }
}

fn escalate_action(policy: Uuid) -> pb::RoutingAction {
    pb::RoutingAction {
        r#type: pb::ActionType::Escalate as i32,
        escalate: Some(pb::EscalateAction {
            escalation_policy_id: policy.to_string(),
        }),
        ..pb::RoutingAction::default()
    }
}

fn one_level_down(severity: Severity) -> Severity {
    match severity {
        Severity::Critical => Severity::High,
        Severity::High => Severity::Medium,
        Severity::Medium => Severity::Low,
        Severity::Low | Severity::Info => Severity::Info,
    }
}

/// Hands the alert to its aggregation group; the grouped message goes out when the
/// window ends.
fn aggregate(
    parts: &RouterParts,
    alert: &Alert,
    action: &pb::RoutingAction,
    rule: Option<(Uuid, &str)>,
    suppressing: bool,
) -> (String, String) {
    if suppressing {
        return ("skipped".into(), "a suppress action matched".into());
    }
    let Some(aggregate) = &action.aggregate else {
        return ("refused".into(), "no aggregate settings".into());
    };
    let Some(Ok(to)) = aggregate.target.as_ref().map(destination_of) else {
        return ("refused".into(), "no valid target".into());
    };
    let window = aggregate
        .window
        .as_ref()
        .map_or(Duration::from_secs(60), |w| {
            Duration::new(w.seconds.max(0) as u64, w.nanos.max(0) as u32)
        });
    let (rule_id, rule_name) = rule.unwrap_or((Uuid::nil(), "default"));
    let values: BTreeMap<String, String> = aggregate
        .group_by
        .iter()
        .map(|label| {
            (
                label.clone(),
                alert.labels.get(label).cloned().unwrap_or_default(),
            )
        })
        .collect();
    let detail = format!(
        "group {} (window {window:?})",
        values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let message = AggregatorMsg::Add {
        key: GroupKey { rule_id, values },
        rule_name: rule_name.to_string(),
        to,
        window,
        max_alerts: usize::try_from(aggregate.max_alerts).unwrap_or(0),
        member: Box::new(Member {
            id: alert.id,
            number: alert.number,
            summary: alert.summary.clone(),
            severity: alert.severity.as_str(),
            fingerprint: alert.fingerprint.clone(),
            site: alert.labels.get("oncall_site").cloned().unwrap_or_default(),
            service_id: alert.service_id,
        }),
    };
    match parts.aggregator.cast(message) {
        Ok(()) => ("aggregated".into(), detail),
        Err(_) => ("failed".into(), "the aggregator has stopped".into()),
    }
}

/// Pages whoever is on call on a schedule at a level (falling back to the next level
/// when it is empty), once, without a chain.
async fn notify_oncall(
    parts: &RouterParts,
    alert: &Alert,
    action: &pb::RoutingAction,
) -> (String, String) {
    let Some((schedule, level)) = action.notify_oncall.as_ref().and_then(|n| {
        Some((
            Uuid::parse_str(&n.schedule_id).ok()?,
            u32::try_from(n.level.max(1)).ok()?,
        ))
    }) else {
        return ("refused".into(), "no schedule".into());
    };
    let target = Target::Schedule {
        id: schedule,
        level,
    };
    page_target(
        parts,
        alert,
        &target,
        serde_json::json!({"schedule_id": schedule.to_string()}),
        format!("nobody is on call on schedule {schedule}"),
    )
    .await
}

/// Pages a user, or everyone on call for a team, once, without a chain.
async fn notify_person(
    parts: &RouterParts,
    alert: &Alert,
    action: &pb::RoutingAction,
) -> (String, String) {
    let user = action
        .notify_user
        .as_ref()
        .and_then(|n| Uuid::parse_str(&n.user_id).ok());
    let team = action
        .notify_team
        .as_ref()
        .and_then(|n| Uuid::parse_str(&n.team_id).ok());
    let (target, context, empty) = match (
        action.r#type == pb::ActionType::NotifyUser as i32,
        user,
        team,
    ) {
        (true, Some(user), _) => (
            Target::User(user),
            serde_json::json!({"user_id": user.to_string()}),
            String::new(),
        ),
        (false, _, Some(team)) => (
            Target::Team(team),
            serde_json::json!({"team_id": team.to_string()}),
            format!("nobody on team {team} is on call"),
        ),
        _ => return ("refused".into(), "no user or team".into()),
    };
    page_target(parts, alert, &target, context, empty).await
}

/// Pages every recipient a target stands for now, recording each page on the alert's
/// timeline.
async fn page_target(
    parts: &RouterParts,
    alert: &Alert,
    target: &Target,
    context: serde_json::Value,
    empty: String,
) -> (String, String) {
    let recipients = match parts.pager.expand(target, crate::clock::now()).await {
        Ok(recipients) => recipients,
        Err(error) => return ("failed".into(), format!("who to page is unknown: {error}")),
    };
    if recipients.is_empty() {
        return ("failed".into(), empty);
    }
    let mut details = Vec::new();
    let mut sent = false;
    for recipient in &recipients {
        let outcome = parts
            .pager
            .page(recipient, alert, context.clone(), None)
            .await;
        sent |= outcome.outcome == "sent";
        details.push(format!(
            "{}: {} ({})",
            recipient.key(),
            outcome.outcome,
            outcome.detail
        ));
        let record = Command::Record {
            kind: if outcome.outcome == "sent" {
                TimelineKind::Notified
            } else {
                TimelineKind::DeliveryFailed
            },
            actor: ACTOR_ROUTING.into(),
            message: format!("paged {}: {}", recipient.key(), outcome.detail),
        };
        if let Err(error) = parts.engine.apply(alert, record).await {
            tracing::warn!(alert = %alert.id, %error, "could not record a page");
        }
    }
    let outcome = if sent { "sent" } else { "failed" };
    (outcome.into(), details.join("; "))
}

/// Posts the alert to a channel (Slack, Teams, email, SMS, voice, webhook) through the
/// notifier, with the rule's template or the built-in one.
async fn notify_channel(
    parts: &RouterParts,
    alert: &Alert,
    action: &pb::RoutingAction,
) -> (String, String) {
    let Some(notify) = action.notify_channel.as_ref() else {
        return ("refused".into(), "no channel".into());
    };
    let Some(Ok((channel, address))) = notify.target.as_ref().map(destination_of) else {
        return ("refused".into(), "no valid channel target".into());
    };
    let notifier = &parts.pager.notifier;
    let template = match Uuid::parse_str(&notify.template_id) {
        Ok(id) => match notifier.template(id).await {
            Some(found) => Some((id, found)),
            None => {
                tracing::warn!(template = %id, "a rule names a template that does not exist; the built-in one is used");
                None
            }
        },
        Err(_) => None,
    };
    let chosen = template.as_ref().map(|(id, (def, version))| Chosen {
        def,
        id: *id,
        version: *version,
    });
    let request = notifier.alert_request(alert, Kind::Page, channel, &address, None, chosen);
    let ids = notifier.submit(vec![request]).await;
    let delivery = ids.first().map(Uuid::to_string).unwrap_or_default();
    (
        "queued".into(),
        format!("{} {address}: delivery {delivery}", channel.as_str()),
    )
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
        Ok(A::NotifyChannel) if suppressing => {
            ("skipped".into(), "a suppress action matched".into())
        }
        Ok(A::NotifyChannel) => notify_channel(parts, alert, action).await,
        Ok(A::Suppress) => {
            let reason = action
                .suppress
                .as_ref()
                .map(|s| s.reason.clone())
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "suppressed by a routing rule".into());
            let until = action
                .suppress
                .as_ref()
                .and_then(|s| s.duration)
                .filter(|d| d.seconds > 0 || d.nanos > 0)
                .and_then(|d| chrono::Duration::try_seconds(d.seconds))
                .map(|d| crate::clock::now() + d);
            let command = Command::Suppress {
                by: ACTOR_ROUTING.into(),
                reason: reason.clone(),
                held_by: rule.map(|(id, _)| Holder::Rule { rule: id, until }),
            };
            match parts.engine.apply(alert, command).await {
                Ok(()) => {
                    if until.is_some() {
                        parts.timed_holds.notify_one();
                    }
                    let detail = match until {
                        Some(until) => format!("{reason} (until {})", until.to_rfc3339()),
                        None => reason,
                    };
                    ("suppressed".into(), detail)
                }
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
        Ok(A::Aggregate) => aggregate(parts, alert, action, rule, suppressing),
        Ok(A::Escalate) if suppressing => ("skipped".into(), "a suppress action matched".into()),
        Ok(A::Escalate) => {
            let policy = action
                .escalate
                .as_ref()
                .and_then(|e| Uuid::parse_str(&e.escalation_policy_id).ok());
            match policy {
                Some(policy) => match parts.escalations.start(alert.id, policy).await {
                    Ok(chain) => ("escalating".into(), format!("chain {}", chain.id)),
                    Err(why) => ("failed".into(), why),
                },
                None => ("refused".into(), "no escalation policy".into()),
            }
        }
        Ok(A::NotifyOncall) if suppressing => {
            ("skipped".into(), "a suppress action matched".into())
        }
        Ok(A::NotifyOncall) => notify_oncall(parts, alert, action).await,
        Ok(A::NotifyTeam | A::NotifyUser) if suppressing => {
            ("skipped".into(), "a suppress action matched".into())
        }
        Ok(A::NotifyTeam | A::NotifyUser) => notify_person(parts, alert, action).await,
        Ok(A::CreateTicket) => pending("tickets"),
        Ok(A::Unspecified) | Err(_) => ("refused".into(), "unknown action type".into()),
    }
}

//! Routing a batch: read the alerts once, then for each: maintenance, inhibition,
//! the rules (or the defaults), flap dampening; the actions carried out; the audit
//! entries and routed marks written in one transaction.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use prost::Message;
use uuid::Uuid;

use crate::actors::flap_dampener::{FlapMsg, PeerSummary};
use crate::actors::inhibition_watcher::hold_targets;
use crate::books::rules::CompiledRules;
use crate::definitions::audit::{check_result, evaluation_to_pb};
use crate::domain::alert::{ACTOR_ROUTING, Alert, AlertStatus};
use crate::domain::enrich::{BgpKind, FlapVerdict, LABEL_BGP_KIND, LABEL_BGP_PEER, LABEL_FLAPPING};
use crate::domain::holder::Holder;
use crate::domain::inhibition::InhibitionRule;
use crate::domain::lifecycle::{AlertChanges, Command};
use crate::domain::maintenance::{MaintenanceAction, applicable};
use crate::domain::routing::Explain;
use crate::pb::alerting::routing::v1 as pb;
use crate::store::{Store, StoredAudit};

use super::actions::{act, escalate_at_once, escalate_by_default, one_level_down};
use super::{CONCURRENCY, RouteRequest, RouterParts};

pub(super) async fn route_batch(
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

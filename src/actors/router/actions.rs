//! Carrying out one routing action: webhooks, channels, aggregation, suppression,
//! labels, escalation, paging whoever is on call; each returns its outcome and a
//! detail for the audit log.

use std::collections::BTreeMap;
use std::time::Duration;

use uuid::Uuid;

use crate::actors::aggregator::{AggregatorMsg, GroupKey, Member};
use crate::definitions::routing::destination_of;
use crate::domain::alert::{ACTOR_ROUTING, Alert, TimelineKind};
use crate::domain::enrich::LABEL_ESCALATE;
use crate::domain::escalation::Target;
use crate::domain::holder::Holder;
use crate::domain::lifecycle::{AlertChanges, Command};
use crate::domain::notify::message::Kind;
use crate::domain::severity::Severity;
use crate::notify::notifier::Chosen;
use crate::notify::webhook::{WebhookError, alert_payload};
use crate::pb::alerting::routing::v1 as pb;

use super::RouterParts;

/// A hijack is escalated at once: when no rule started a chain, one starts on the
/// policy of the alert's equipment type, else of its site.
pub(super) async fn escalate_at_once(
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
pub(super) async fn escalate_by_default(
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

pub(super) fn one_level_down(severity: Severity) -> Severity {
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
pub(super) async fn act(
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

//! The aggregator: routing's `aggregate` action. Alerts of one group (the rule and the
//! values of its `group_by` labels) arriving within the window become one grouped
//! message when the window ends, or as soon as the group holds `max_alerts`.
//!
//! Each group's window is a timer on this actor (tokio time), the `now` of the timer is
//! what the flush uses. Groups are capped; past the cap an alert is sent on its own
//! rather than held, and the metric says so.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::notify::channel::Channel;
use crate::domain::notify::digest;
use crate::domain::notify::format::Content;
use crate::domain::notify::message::{AlertRef, Kind, Priority};
use crate::notify::notifier::Notifier;
use crate::notify::outgoing::{ContextMeta, Outgoing, Request};
use crate::notify::webhook::WebhookSender;

/// Most groups held open at once.
const MAX_GROUPS: usize = 10_000;

/// Which group an alert joins.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupKey {
    pub rule_id: Uuid,
    /// The `group_by` labels and the alert's values for them (empty when missing).
    pub values: BTreeMap<String, String>,
}

/// One alert as a grouped message lists it.
#[derive(Clone, Debug)]
pub struct Member {
    pub id: Uuid,
    pub number: i64,
    pub summary: String,
    pub severity: &'static str,
    pub fingerprint: String,
    pub site: String,
    pub service_id: Uuid,
}

pub enum AggregatorMsg {
    Add {
        key: GroupKey,
        rule_name: String,
        to: (Channel, String),
        window: Duration,
        max_alerts: usize,
        member: Box<Member>,
    },
    /// A group's window ended.
    Flush(GroupKey),
}

struct Group {
    rule_name: String,
    to: (Channel, String),
    opened_at: DateTime<Utc>,
    members: Vec<Member>,
}

pub struct Aggregator;

pub struct AggregatorState {
    webhooks: WebhookSender,
    notifier: Notifier,
    groups: HashMap<GroupKey, Group>,
}

impl Actor for Aggregator {
    type Msg = AggregatorMsg;
    type State = AggregatorState;
    type Arguments = (WebhookSender, Notifier);

    async fn pre_start(
        &self,
        _myself: ActorRef<AggregatorMsg>,
        (webhooks, notifier): (WebhookSender, Notifier),
    ) -> Result<AggregatorState, ActorProcessingErr> {
        Ok(AggregatorState {
            webhooks,
            notifier,
            groups: HashMap::new(),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<AggregatorMsg>,
        state: &mut AggregatorState,
    ) -> Result<(), ActorProcessingErr> {
        Aggregator::flush_all(state).await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<AggregatorMsg>,
        message: AggregatorMsg,
        state: &mut AggregatorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AggregatorMsg::Add {
                key,
                rule_name,
                to,
                window,
                max_alerts,
                member,
            } => {
                if !state.groups.contains_key(&key) {
                    if state.groups.len() >= MAX_GROUPS {
                        tracing::warn!(
                            groups = MAX_GROUPS,
                            "aggregation groups at their cap; sending alone"
                        );
                        let alone = Group {
                            rule_name,
                            to,
                            opened_at: crate::clock::now(),
                            members: vec![*member],
                        };
                        send(state, &key, alone, crate::clock::now());
                        return Ok(());
                    }
                    state.groups.insert(
                        key.clone(),
                        Group {
                            rule_name,
                            to,
                            opened_at: crate::clock::now(),
                            members: Vec::new(),
                        },
                    );
                    let flush = key.clone();
                    myself.send_after(window, move || AggregatorMsg::Flush(flush));
                }
                let full = match state.groups.get_mut(&key) {
                    Some(group) => {
                        group.members.push(*member);
                        max_alerts > 0 && group.members.len() >= max_alerts
                    }
                    None => false,
                };
                if full && let Some(group) = state.groups.remove(&key) {
                    send(state, &key, group, crate::clock::now());
                }
            }
            AggregatorMsg::Flush(key) => {
                // A group flushed early for being full may have been reopened since; its
                // own timer flushes it, and this one finds either it or nothing.
                if let Some(group) = state.groups.remove(&key) {
                    send(state, &key, group, crate::clock::now());
                }
            }
        }
        Ok(())
    }
}

impl Aggregator {
    /// At shutdown, open groups go out now rather than being lost with the process.
    async fn flush_all(state: &mut AggregatorState) {
        let now = crate::clock::now();
        let groups: Vec<(GroupKey, Group)> = state.groups.drain().collect();
        let sends = groups.into_iter().map(|(key, group)| {
            let webhooks = state.webhooks.clone();
            let notifier = state.notifier.clone();
            async move { deliver(&webhooks, &notifier, &key, group, now).await }
        });
        let all = futures_util::future::join_all(sends);
        if tokio::time::timeout(Duration::from_secs(5), all)
            .await
            .is_err()
        {
            tracing::warn!("some grouped notifications did not go out before shutdown");
        }
    }
}

/// Sends a group's message without holding the actor while the destination answers.
fn send(state: &AggregatorState, key: &GroupKey, group: Group, now: DateTime<Utc>) {
    let webhooks = state.webhooks.clone();
    let notifier = state.notifier.clone();
    let key = key.clone();
    tokio::spawn(async move { deliver(&webhooks, &notifier, &key, group, now).await });
}

/// A webhook gets the group as JSON at once; other channels get it as a status message
/// through the notifier (rate-limited and retried with the rest of that destination's
/// messages).
async fn deliver(
    webhooks: &WebhookSender,
    notifier: &Notifier,
    key: &GroupKey,
    group: Group,
    now: DateTime<Utc>,
) {
    let (channel, address) = group.to.clone();
    if channel == Channel::Webhook {
        let body = grouped_message(key, &group, now);
        match webhooks.post(&address, &body).await {
            Ok(status) => tracing::info!(url = %address, status, "grouped notification sent"),
            Err(error) => tracing::warn!(url = %address, %error, "grouped notification failed"),
        }
        return;
    }
    let alerts: Vec<AlertRef> = group
        .members
        .iter()
        .map(|m| AlertRef {
            id: m.id,
            number: m.number,
            summary: m.summary.clone(),
            severity: m.severity.to_string(),
            site: m.site.clone(),
            service_id: m.service_id,
        })
        .collect();
    let text = grouped_text(key, &group, &alerts);
    let message = Outgoing::new(
        Kind::Status,
        Content {
            subject: text.lines().next().unwrap_or_default().replace('*', ""),
            text,
            html: None,
        },
        ContextMeta {
            alerts,
            actionable: None,
            link: None,
        },
    );
    let request = Request {
        request_id: String::new(),
        priority: Priority::Normal,
        channel,
        address,
        user_id: None,
        template: None,
        message,
    };
    notifier.submit(vec![request]).await;
}

/// The group as text: its size, rule and group values, then up to 20 alerts.
fn grouped_text(key: &GroupKey, group: &Group, alerts: &[AlertRef]) -> String {
    let values = key
        .values
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut text = format!(
        "*{} alert{}* grouped by rule {}{}\n",
        alerts.len(),
        if alerts.len() == 1 { "" } else { "s" },
        group.rule_name,
        if values.is_empty() {
            String::new()
        } else {
            format!(" ({values})")
        }
    );
    for alert in alerts.iter().take(digest::LISTED) {
        text.push_str(&format!(
            "• #{} [{}] {}\n",
            alert.number,
            alert.severity.to_uppercase(),
            alert.summary
        ));
    }
    if alerts.len() > digest::LISTED {
        text.push_str(&format!("{} more alerts\n", alerts.len() - digest::LISTED));
    }
    text.trim_end().to_string()
}

fn grouped_message(key: &GroupKey, group: &Group, now: DateTime<Utc>) -> Value {
    json!({
        "type": "aggregate",
        "rule": {"id": key.rule_id.to_string(), "name": group.rule_name},
        "group": key.values,
        "count": group.members.len(),
        "window_start": group.opened_at.to_rfc3339(),
        "window_end": now.to_rfc3339(),
        "alerts": group.members.iter().map(|m| json!({
            "id": m.id.to_string(),
            "number": m.number,
            "summary": m.summary,
            "severity": m.severity,
            "fingerprint": m.fingerprint,
        })).collect::<Vec<_>>(),
    })
}

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
}

pub enum AggregatorMsg {
    Add {
        key: GroupKey,
        rule_name: String,
        url: String,
        window: Duration,
        max_alerts: usize,
        member: Member,
    },
    /// A group's window ended.
    Flush(GroupKey),
}

struct Group {
    rule_name: String,
    url: String,
    opened_at: DateTime<Utc>,
    members: Vec<Member>,
}

pub struct Aggregator;

pub struct AggregatorState {
    webhooks: WebhookSender,
    groups: HashMap<GroupKey, Group>,
}

impl Actor for Aggregator {
    type Msg = AggregatorMsg;
    type State = AggregatorState;
    type Arguments = WebhookSender;

    async fn pre_start(
        &self,
        _myself: ActorRef<AggregatorMsg>,
        webhooks: WebhookSender,
    ) -> Result<AggregatorState, ActorProcessingErr> {
        Ok(AggregatorState {
            webhooks,
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
                url,
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
                            url,
                            opened_at: Utc::now(),
                            members: vec![member],
                        };
                        send(&state.webhooks, &key, alone, Utc::now());
                        return Ok(());
                    }
                    state.groups.insert(
                        key.clone(),
                        Group {
                            rule_name,
                            url,
                            opened_at: Utc::now(),
                            members: Vec::new(),
                        },
                    );
                    let flush = key.clone();
                    myself.send_after(window, move || AggregatorMsg::Flush(flush));
                }
                let full = match state.groups.get_mut(&key) {
                    Some(group) => {
                        group.members.push(member);
                        max_alerts > 0 && group.members.len() >= max_alerts
                    }
                    None => false,
                };
                if full && let Some(group) = state.groups.remove(&key) {
                    send(&state.webhooks, &key, group, Utc::now());
                }
            }
            AggregatorMsg::Flush(key) => {
                // A group flushed early for being full may have been reopened since; its
                // own timer flushes it, and this one finds either it or nothing.
                if let Some(group) = state.groups.remove(&key) {
                    send(&state.webhooks, &key, group, Utc::now());
                }
            }
        }
        Ok(())
    }
}

impl Aggregator {
    /// At shutdown, open groups go out now rather than being lost with the process.
    async fn flush_all(state: &mut AggregatorState) {
        let now = Utc::now();
        let sends = state.groups.drain().map(|(key, group)| {
            let body = grouped_message(&key, &group, now);
            let webhooks = state.webhooks.clone();
            async move { webhooks.post(&group.url, &body).await }
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

/// Posts a group's message without holding the actor while the destination answers.
fn send(webhooks: &WebhookSender, key: &GroupKey, group: Group, now: DateTime<Utc>) {
    let body = grouped_message(key, &group, now);
    let webhooks = webhooks.clone();
    let url = group.url;
    tokio::spawn(async move {
        match webhooks.post(&url, &body).await {
            Ok(status) => tracing::info!(%url, status, "grouped notification sent"),
            Err(error) => tracing::warn!(%url, %error, "grouped notification failed"),
        }
    });
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

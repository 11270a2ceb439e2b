//! Paging: turning escalation targets into the people and channels to reach now, and
//! reaching them. Used by escalation chains and by routing's `notify_oncall`.
//!
//! Until the notification service lands, a user is paged through their verified
//! webhook contact method (a real POST); a user without one is recorded as not paged,
//! with the reason, never silently skipped.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::domain::alert::Alert;
use crate::domain::directory::ContactKind;
use crate::domain::escalation::Target;
use crate::grpc::definitions::Definitions;
use crate::grpc::pb::alerting::routing::v1 as pb;
use crate::grpc::schedules::compile;
use crate::notify::notifier::Notifier;
use crate::notify::webhook::{WebhookError, WebhookSender, alert_payload};
use crate::store::Store;

/// Someone or something to page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipient {
    User(Uuid),
    Channel(String),
}

impl Recipient {
    /// How a page key names it.
    pub fn key(&self) -> String {
        match self {
            Recipient::User(id) => format!("user:{id}"),
            Recipient::Channel(url) => format!("channel:{url}"),
        }
    }

    pub fn parse(key: &str) -> Option<Recipient> {
        if let Some(id) = key.strip_prefix("user:") {
            return Uuid::parse_str(id).ok().map(Recipient::User);
        }
        key.strip_prefix("channel:")
            .map(|url| Recipient::Channel(url.to_string()))
    }
}

/// What a delivery attempt came to: `sent`, `failed` or `not sent`, and why.
pub struct Outcome {
    pub outcome: &'static str,
    pub detail: String,
}

#[derive(Clone)]
pub struct Pager {
    pub store: Arc<dyn Store>,
    pub webhooks: WebhookSender,
    pub notifier: Notifier,
}

impl Pager {
    /// Who is on call on a schedule at `level` at `now`; an empty level falls back to
    /// the next one down (2, 3...).
    async fn on_call(&self, schedule: Uuid, level: u32, now: DateTime<Utc>) -> Vec<Uuid> {
        let schedules: Definitions<pb::Schedule> = Definitions::new(self.store.clone());
        let Ok(Some(stored)) = schedules.find(schedule).await else {
            tracing::warn!(%schedule, "paging a schedule that does not exist");
            return Vec::new();
        };
        let Ok(compiled) = compile(&stored) else {
            return Vec::new();
        };
        let answer = compiled.on_call_at(now);
        answer
            .levels
            .range(level.max(1)..)
            .map(|(_, users)| users)
            .find(|users| !users.is_empty())
            .cloned()
            .unwrap_or_default()
    }

    /// The recipients a target stands for at `now`. Policy targets stand for none: they
    /// hand the alert over instead.
    pub async fn expand(&self, target: &Target, now: DateTime<Utc>) -> Vec<Recipient> {
        match target {
            Target::User(id) => vec![Recipient::User(*id)],
            Target::Channel(url) => vec![Recipient::Channel(url.clone())],
            Target::Schedule { id, level } => self
                .on_call(*id, *level, now)
                .await
                .into_iter()
                .map(Recipient::User)
                .collect(),
            Target::Team(team) => {
                let schedules: Definitions<pb::Schedule> = Definitions::new(self.store.clone());
                let team_key = team.to_string();
                let mut users = Vec::new();
                for schedule in schedules.list().await.unwrap_or_default() {
                    if schedule.team_id != team_key {
                        continue;
                    }
                    let Ok(id) = Uuid::parse_str(&schedule.id) else {
                        continue;
                    };
                    for user in self.on_call(id, 1, now).await {
                        if !users.contains(&user) {
                            users.push(user);
                        }
                    }
                }
                users.into_iter().map(Recipient::User).collect()
            }
            Target::Policy(_) => Vec::new(),
        }
    }

    /// Pages one recipient about an alert.
    pub async fn page(
        &self,
        recipient: &Recipient,
        alert: &Alert,
        context: serde_json::Value,
    ) -> Outcome {
        let url = match recipient {
            Recipient::Channel(url) => url.clone(),
            Recipient::User(user) => match self.store.list_contact_methods(*user).await {
                Ok(methods) => match methods
                    .into_iter()
                    .find(|m| m.kind == ContactKind::Webhook && m.verified)
                {
                    Some(method) => method.address,
                    None => {
                        return Outcome {
                            outcome: "not sent",
                            detail: format!(
                                "user {user} has no verified webhook contact method (other channels wait for the notification service)"
                            ),
                        };
                    }
                },
                Err(error) => {
                    return Outcome {
                        outcome: "failed",
                        detail: format!("storage unavailable: {error}"),
                    };
                }
            },
        };
        let body = json!({
            "type": "page",
            "recipient": recipient.key(),
            "alert": alert_payload(alert, None),
            "escalation": context,
        });
        match self.webhooks.post(&url, &body).await {
            Ok(status) => Outcome {
                outcome: "sent",
                detail: format!("webhook {url}: HTTP {status}"),
            },
            Err(WebhookError::Permanent(why)) | Err(WebhookError::Retryable(why)) => Outcome {
                outcome: "failed",
                detail: why,
            },
        }
    }
}

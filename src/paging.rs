//! Paging: turning escalation targets into the people and channels to reach now, and
//! reaching them. Used by escalation chains and by routing's `notify_oncall`.
//!
//! A user is paged through every verified contact method a provider can reach; a user
//! without one is recorded as not paged, with the reason, never silently skipped.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::definitions::{Definitions, LoadError, schedule};
use crate::directory::Directory;
use crate::domain::alert::Alert;
use crate::domain::escalation::Target;
use crate::domain::notify::channel::Channel;
use crate::domain::notify::message::Kind;
use crate::notify::notifier::{Notifier, pageable};
use crate::notify::webhook::{WebhookError, WebhookSender, alert_payload};
use crate::pb::alerting::routing::v1 as pb;
use crate::store::{Store, StoreError};

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
    /// Where users' contact methods come from: this server's store or kneutral-api.
    pub directory: Directory,
    pub webhooks: WebhookSender,
    pub notifier: Notifier,
}

/// Why the recipients of a target could not be worked out now. Never "nobody is on
/// call": that is an answer, an empty list; this is the lack of one, and the caller
/// tries again rather than page nobody.
#[derive(Debug, thiserror::Error)]
pub enum PagingError {
    #[error("reading schedules: {0}")]
    Read(String),
    #[error("schedule {id} cannot be read: {why}")]
    Schedule { id: Uuid, why: String },
}

fn unreadable(error: LoadError) -> PagingError {
    PagingError::Read(error.to_string())
}

impl Pager {
    /// Who is on call on a schedule at `level` at `now`; an empty level falls back to
    /// the next one down (2, 3...). A schedule that does not exist has nobody on call.
    async fn on_call(
        &self,
        schedule: Uuid,
        level: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, PagingError> {
        let schedules: Definitions<pb::Schedule> = Definitions::new(self.store.clone());
        let Some(stored) = schedules.find(schedule).await.map_err(unreadable)? else {
            tracing::warn!(%schedule, "paging a schedule that does not exist");
            return Ok(Vec::new());
        };
        let compiled = schedule::compile(&stored).map_err(|invalid| PagingError::Schedule {
            id: schedule,
            why: invalid.to_string(),
        })?;
        let answer = compiled.on_call_at(now);
        Ok(answer
            .levels
            .range(level.max(1)..)
            .map(|(_, users)| users)
            .find(|users| !users.is_empty())
            .cloned()
            .unwrap_or_default())
    }

    /// The recipients a target stands for at `now`. Policy targets stand for none: they
    /// hand the alert over instead.
    pub async fn expand(
        &self,
        target: &Target,
        now: DateTime<Utc>,
    ) -> Result<Vec<Recipient>, PagingError> {
        Ok(match target {
            Target::User(id) => vec![Recipient::User(*id)],
            Target::Channel(url) => vec![Recipient::Channel(url.clone())],
            Target::Schedule { id, level } => self
                .on_call(*id, *level, now)
                .await?
                .into_iter()
                .map(Recipient::User)
                .collect(),
            Target::Team(team) => {
                let schedules: Definitions<pb::Schedule> = Definitions::new(self.store.clone());
                let team_key = team.to_string();
                let mut users = Vec::new();
                for schedule in schedules.list().await.map_err(unreadable)? {
                    if schedule.team_id != team_key {
                        continue;
                    }
                    let Ok(id) = Uuid::parse_str(&schedule.id) else {
                        continue;
                    };
                    for user in self.on_call(id, 1, now).await? {
                        if !users.contains(&user) {
                            users.push(user);
                        }
                    }
                }
                users.into_iter().map(Recipient::User).collect()
            }
            Target::Policy(_) => Vec::new(),
        })
    }

    /// Pages one recipient about an alert. A channel (a URL) and a user's webhook
    /// methods get the alert's JSON by a signed POST at once; the user's other verified
    /// methods (Slack, email, SMS, voice) get it through the notifier, rate-limited and
    /// retried by their destination's delivery actor. `key` makes the page idempotent:
    /// a page key already delivered to a destination is not queued again.
    pub async fn page(
        &self,
        recipient: &Recipient,
        alert: &Alert,
        context: serde_json::Value,
        key: Option<&str>,
    ) -> Outcome {
        let body = json!({
            "type": "page",
            "recipient": recipient.key(),
            "alert": alert_payload(alert, None),
            "escalation": context,
        });
        let user = match recipient {
            Recipient::Channel(url) => return self.post(url, &body).await,
            Recipient::User(user) => *user,
        };
        let methods = match self.directory.contact_methods(user).await {
            Ok(methods) => methods,
            Err(error) => {
                return Outcome {
                    outcome: "failed",
                    detail: error.to_string(),
                };
            }
        };
        let reachable = pageable(&methods);
        if reachable.is_empty() {
            return Outcome {
                outcome: "not sent",
                detail: format!("user {user} has no verified contact method a provider can reach"),
            };
        }
        let mut details = Vec::new();
        let mut handed_over = false;
        for (channel, method) in reachable {
            if channel == Channel::Webhook {
                let posted = self.post(&method.address, &body).await;
                handed_over |= posted.outcome == "sent";
                details.push(posted.detail);
                continue;
            }
            let mut request = self.notifier.alert_request(
                alert,
                Kind::Page,
                channel,
                &method.address,
                Some(user),
                None,
            );
            request.request_id = key.map(|k| format!("page:{k}")).unwrap_or_default();
            match self.notifier.submit_durable(&[request]).await {
                Ok(records) => {
                    handed_over = true;
                    let id = records
                        .first()
                        .map(|r| r.id.to_string())
                        .unwrap_or_default();
                    details.push(format!(
                        "{} {}: queued delivery {id}",
                        channel.as_str(),
                        method.address
                    ));
                }
                Err(StoreError::Conflict(_)) => {
                    handed_over = true;
                    details.push(format!(
                        "{} {}: already paged for this step",
                        channel.as_str(),
                        method.address
                    ));
                }
                Err(error) => details.push(format!(
                    "{} {}: not queued: {error}",
                    channel.as_str(),
                    method.address
                )),
            }
        }
        Outcome {
            outcome: if handed_over { "sent" } else { "failed" },
            detail: details.join("; "),
        }
    }

    async fn post(&self, url: &str, body: &serde_json::Value) -> Outcome {
        match self.webhooks.post(url, body).await {
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

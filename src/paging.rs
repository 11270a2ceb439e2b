//! Paging: turning escalation targets into the people and channels to reach now, and
//! reaching them. Used by escalation chains and by routing's `notify_oncall`.
//!
//! A user is paged through every verified contact method a provider can reach; a user
//! without one is recorded as not paged, with the reason, never silently skipped.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::books::ScheduleBook;
use crate::definitions::LoadError;
use crate::directory::Directory;
use crate::domain::alert::Alert;
use crate::domain::escalation::Target;
use crate::domain::notify::channel::Channel;
use crate::domain::notify::message::Kind;
use crate::domain::schedule::Schedule;
use crate::notify::notifier::{Notifier, pageable};
use crate::notify::webhook::{WebhookError, WebhookSender, alert_payload};
use crate::store::{Store, StoreError};

/// Who is on call at `level` at `now`, falling back to the next level down when it is
/// empty.
fn at_level(schedule: &Schedule, level: u32, now: DateTime<Utc>) -> Vec<Uuid> {
    schedule
        .on_call_at(now)
        .levels
        .range(level.max(1)..)
        .map(|(_, users)| users)
        .find(|users| !users.is_empty())
        .cloned()
        .unwrap_or_default()
}

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
    /// Every schedule, compiled: who is on call is worked out without a store read.
    pub schedules: Arc<ScheduleBook>,
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

impl Pager {
    /// Who is on call on a schedule at `level` at `now`; an empty level falls back to
    /// the next one down (2, 3...). A schedule that does not exist has nobody on call.
    async fn on_call(
        &self,
        schedule: Uuid,
        level: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, PagingError> {
        let compiled = match self.schedules.get(schedule).await {
            Ok(Some(compiled)) => compiled,
            Ok(None) => {
                tracing::warn!(%schedule, "paging a schedule that does not exist");
                return Ok(Vec::new());
            }
            Err(LoadError::Invalid(invalid)) => {
                return Err(PagingError::Schedule {
                    id: schedule,
                    why: invalid.to_string(),
                });
            }
            Err(error) => return Err(PagingError::Read(error.to_string())),
        };
        Ok(at_level(&compiled.schedule, level, now))
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
                let schedules = self
                    .schedules
                    .all()
                    .await
                    .map_err(|error| PagingError::Read(error.to_string()))?;
                let mut users = Vec::new();
                for (_, paged) in schedules.items().filter(|(_, s)| s.team == Some(*team)) {
                    for user in at_level(&paged.schedule, 1, now) {
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

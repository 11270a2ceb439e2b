//! A provider carries a formatted message to one address. Each speaks its service's
//! real wire format; the delivery actors decide when to call it and what to do with
//! its answer.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::email::EmailProvider;
use super::settings::NotifySettings;
use super::slack::SlackProvider;
use super::teams::TeamsProvider;
use super::twilio::TwilioProvider;
use super::webhook::WebhookSender;
use crate::domain::notify::channel::Channel;
use crate::domain::notify::format::Body;

/// What a provider answered when it took the message.
#[derive(Clone, Debug)]
pub struct Receipt {
    pub http_status: u16,
    pub body: String,
}

/// Why a send failed, and whether trying again could help.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub message: String,
    /// 5xx, 429, timeouts and connection errors are; other refusals are not.
    pub retryable: bool,
    /// The provider's HTTP status, or 0.
    pub http_status: u16,
    /// What the provider asked us to wait (429 Retry-After).
    pub retry_after: Option<Duration>,
}

impl SendError {
    pub fn permanent(message: String) -> SendError {
        SendError {
            message,
            retryable: false,
            http_status: 0,
            retry_after: None,
        }
    }
}

#[async_trait]
pub trait Provider: Send + Sync {
    async fn send(&self, address: &str, body: &Body) -> Result<Receipt, SendError>;
}

/// The provider of each channel; a channel whose provider is not configured refuses
/// with a message naming the setting.
#[derive(Clone)]
pub struct Providers {
    webhook: Arc<dyn Provider>,
    teams: Arc<dyn Provider>,
    slack: Option<Arc<dyn Provider>>,
    email: Option<Arc<dyn Provider>>,
    twilio: Option<Arc<dyn Provider>>,
}

impl Providers {
    pub fn new(settings: &NotifySettings, webhooks: WebhookSender) -> anyhow::Result<Providers> {
        Ok(Providers {
            webhook: Arc::new(webhooks.clone()),
            teams: Arc::new(TeamsProvider { webhooks }),
            slack: match &settings.slack {
                Some(slack) => Some(Arc::new(SlackProvider::new(slack.clone())?)),
                None => None,
            },
            email: match &settings.smtp {
                Some(smtp) => Some(Arc::new(EmailProvider::new(smtp)?)),
                None => None,
            },
            twilio: match &settings.twilio {
                Some(twilio) => Some(Arc::new(TwilioProvider::new(twilio.clone())?)),
                None => None,
            },
        })
    }

    pub fn get(&self, channel: Channel) -> Result<Arc<dyn Provider>, SendError> {
        let missing = |what: &str| SendError::permanent(format!("{what} is not configured"));
        match channel {
            Channel::Webhook => Ok(self.webhook.clone()),
            Channel::Teams => Ok(self.teams.clone()),
            Channel::Slack => self
                .slack
                .clone()
                .ok_or_else(|| missing("Slack ([notify.slack] bot_token)")),
            Channel::Email => self
                .email
                .clone()
                .ok_or_else(|| missing("email ([notify.smtp] host and from)")),
            Channel::Sms | Channel::Voice => self
                .twilio
                .clone()
                .ok_or_else(|| missing("Twilio ([notify.twilio])")),
        }
    }
}

#[async_trait]
impl Provider for WebhookSender {
    async fn send(&self, address: &str, body: &Body) -> Result<Receipt, SendError> {
        match body {
            Body::Json(bytes) => self.post_json(address, bytes.clone()).await,
            _ => Err(SendError::permanent("a webhook takes a JSON body".into())),
        }
    }
}

//! A message on its way: rendered content plus what the formatter needs (the alerts it
//! is about, buttons, a link), kept with its delivery record so a restart can send it.
//! `meta_of_context` derives the formatter's inputs from a render context, the same
//! way for RenderPreview and for real sends, so a preview is the sent body.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::notify::channel::Channel;
use crate::domain::notify::format::{self, Body, Content, Meta};
use crate::domain::notify::message::{AlertRef, Class, Kind, Priority};
use crate::store::StoredDelivery;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    pub kind: String,
    pub text: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub alerts: Vec<AlertWire>,
    /// The alert whose Ack/Resolve buttons the message carries.
    #[serde(default)]
    pub actionable: Option<Uuid>,
    #[serde(default)]
    pub link: Option<String>,
    /// The alert is the first of its service to page this destination lately: it
    /// jumps ahead of the rest. Set by the destination's actor.
    #[serde(default)]
    pub first_of_service: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertWire {
    pub id: Uuid,
    pub number: i64,
    pub summary: String,
    pub severity: String,
    #[serde(default)]
    pub site: String,
    #[serde(default)]
    pub service_id: Uuid,
}

impl From<&AlertRef> for AlertWire {
    fn from(a: &AlertRef) -> AlertWire {
        AlertWire {
            id: a.id,
            number: a.number,
            summary: a.summary.clone(),
            severity: a.severity.clone(),
            site: a.site.clone(),
            service_id: a.service_id,
        }
    }
}

impl From<&AlertWire> for AlertRef {
    fn from(a: &AlertWire) -> AlertRef {
        AlertRef {
            id: a.id,
            number: a.number,
            summary: a.summary.clone(),
            severity: a.severity.clone(),
            site: a.site.clone(),
            service_id: a.service_id,
        }
    }
}

/// The formatter's inputs a render context implies: the alert it names (buttons act on
/// it) and its first link.
pub struct ContextMeta {
    pub alerts: Vec<AlertRef>,
    pub actionable: Option<Uuid>,
    pub link: Option<String>,
}

pub fn meta_of_context(context: &Value) -> ContextMeta {
    let alert = &context["alert"];
    let alert_ref = alert["id"]
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok())
        .map(|id| AlertRef {
            id,
            number: alert["number"].as_i64().unwrap_or_default(),
            summary: alert["summary"].as_str().unwrap_or_default().to_string(),
            severity: alert["severity"].as_str().unwrap_or_default().to_string(),
            site: context["enrichment"]["site"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            service_id: alert["service_id"]
                .as_str()
                .and_then(|id| Uuid::parse_str(id).ok())
                .unwrap_or_default(),
        });
    let link = context["links"].as_object().and_then(|links| {
        links
            .get("runbook")
            .or_else(|| links.values().next())
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    ContextMeta {
        actionable: alert_ref.as_ref().map(|a| a.id),
        alerts: alert_ref.into_iter().collect(),
        link,
    }
}

impl Outgoing {
    pub fn new(kind: Kind, content: Content, meta: ContextMeta) -> Outgoing {
        Outgoing {
            kind: kind.as_str().into(),
            text: content.text,
            subject: content.subject,
            html: content.html,
            alerts: meta.alerts.iter().map(AlertWire::from).collect(),
            actionable: meta.actionable,
            link: meta.link,
            first_of_service: false,
        }
    }

    pub fn kind(&self) -> Kind {
        Kind::parse(&self.kind).unwrap_or(Kind::Status)
    }

    pub fn class(&self) -> Class {
        Class::of(self.kind(), self.first_of_service)
    }

    pub fn alert_refs(&self) -> Vec<AlertRef> {
        self.alerts.iter().map(AlertRef::from).collect()
    }

    /// The request body for `channel` at `address`: the one code path of previews and
    /// sends.
    pub fn body(&self, channel: Channel, address: &str) -> (Body, bool) {
        let alerts = self.alert_refs();
        let content = Content {
            text: self.text.clone(),
            subject: self.subject.clone(),
            html: self.html.clone(),
        };
        let meta = Meta {
            kind: Some(self.kind()),
            alerts: &alerts,
            link: self.link.clone(),
            actionable: self.actionable,
        };
        let formatted = format::format(channel, address, &content, &meta);
        (formatted.body, formatted.truncated)
    }
}

/// One message for one destination, before it is recorded.
#[derive(Clone, Debug)]
pub struct Request {
    pub request_id: String,
    pub priority: Priority,
    pub channel: Channel,
    pub address: String,
    pub user_id: Option<Uuid>,
    pub template: Option<(Uuid, i32)>,
    pub message: Outgoing,
}

impl Request {
    /// The delivery record it starts as.
    pub fn record(&self, now: chrono::DateTime<chrono::Utc>) -> StoredDelivery {
        StoredDelivery {
            id: Uuid::now_v7(),
            request_id: self.request_id.clone(),
            kind: self.message.kind.clone(),
            priority: self.priority.as_i32(),
            channel: self.channel.as_str().into(),
            address: self.address.clone(),
            user_id: self.user_id,
            alert_id: self.message.alerts.first().map(|a| a.id),
            template_id: self.template.map(|(id, _)| id),
            template_version: self.template.map_or(0, |(_, v)| v),
            state: "pending".into(),
            attempts: 0,
            last_error: String::new(),
            merged_into: None,
            message: serde_json::to_vec(&self.message).unwrap_or_default(),
            created_at: now,
            updated_at: now,
        }
    }
}

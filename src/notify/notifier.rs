//! The notifier: the one path every message takes. It renders (a stored template or the
//! built-in one), records a delivery per destination and hands it to that destination's
//! delivery actor. SendNotification, routing's channel actions, escalation pages,
//! handoffs and contact-method codes all come through here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::log::{DeliveryLogWriter, Entry};
use super::outgoing::{ContextMeta, Outgoing, Request, meta_of_context};
use super::provider::Providers;
use crate::domain::alert::Alert;
use crate::domain::directory::{ContactKind, ContactMethod};
use crate::domain::notify::channel::Channel;
use crate::domain::notify::context::alert_context;
use crate::domain::notify::definition::TemplateDef;
use crate::domain::notify::format::Content;
use crate::domain::notify::message::{Kind, Priority};
use crate::domain::notify::template::Budget;
use crate::notify::delivery::{DeliveryActors, Queued};
use crate::store::{DeliveryLog, Store, StoreError, StoredDelivery};

/// How long a looked-up template is reused before it is read again (an update makes a
/// new version; messages after this long use it).
const TEMPLATE_TTL: Duration = Duration::from_secs(10);

type TemplateCache = HashMap<Uuid, (Instant, Option<(TemplateDef, i32)>)>;

#[derive(Clone)]
pub struct Notifier {
    store: Arc<dyn Store>,
    log: DeliveryLogWriter,
    actors: DeliveryActors,
    providers: Providers,
    templates: Arc<Mutex<TemplateCache>>,
    pub budget: Budget,
}

/// A template chosen for a message: its definition, id and version.
#[derive(Clone, Copy)]
pub struct Chosen<'a> {
    pub def: &'a TemplateDef,
    pub id: Uuid,
    pub version: i32,
}

impl Notifier {
    pub fn new(
        store: Arc<dyn Store>,
        log: DeliveryLogWriter,
        actors: DeliveryActors,
        providers: Providers,
    ) -> Notifier {
        Notifier {
            store,
            log,
            actors,
            providers,
            templates: Arc::new(Mutex::new(HashMap::new())),
            budget: Budget::default(),
        }
    }

    /// Whether a provider for `channel` is configured; why not otherwise.
    pub fn can_reach(&self, channel: Channel) -> Result<(), String> {
        self.providers
            .get(channel)
            .map(|_| ())
            .map_err(|e| e.message)
    }

    /// A template's latest version, cached briefly so a storm reads it once.
    pub async fn template(&self, id: Uuid) -> Option<(TemplateDef, i32)> {
        if let Some((at, cached)) = self.lock().get(&id)
            && at.elapsed() < TEMPLATE_TTL
        {
            return cached.clone();
        }
        let loaded = match crate::definitions::template::load(self.store.as_ref(), id, None).await {
            Ok(found) => found.map(|(template, def)| (def, template.version)),
            Err(error) => {
                tracing::warn!(template = %id, %error, "could not load a template");
                None
            }
        };
        self.lock().insert(id, (Instant::now(), loaded.clone()));
        loaded
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TemplateCache> {
        self.templates.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the deliveries in one commit and queues them; a repeated request id for
    /// a destination is a `Conflict` and queues nothing.
    pub async fn submit_durable(
        &self,
        requests: &[Request],
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        let now = crate::clock::now();
        let records: Vec<StoredDelivery> = requests.iter().map(|r| r.record(now)).collect();
        self.store
            .write_delivery_log(&DeliveryLog {
                created: records.clone(),
                ..DeliveryLog::default()
            })
            .await?;
        let queued = records
            .iter()
            .zip(requests)
            .filter_map(|(record, request)| Queued::of(record, request.message.clone()))
            .collect();
        self.actors.dispatch(queued);
        Ok(records)
    }

    /// Records (through the log writer) and queues; for messages the engine makes,
    /// whose cause (the alert, the handoff) is already stored.
    pub async fn submit(&self, requests: Vec<Request>) -> Vec<Uuid> {
        let now = crate::clock::now();
        let mut entries = Vec::with_capacity(requests.len());
        let mut queued = Vec::with_capacity(requests.len());
        for request in requests {
            let record = request.record(now);
            if let Some(q) = Queued::of(&record, request.message) {
                queued.push(q);
            }
            entries.push(Entry::Created(record));
        }
        let ids = queued.iter().map(|q| q.id).collect();
        self.log.write(entries).await;
        self.actors.dispatch(queued);
        ids
    }

    /// A message about `alert` for one destination, rendered from `template` or the
    /// built-in one. A template that fails to render falls back to the built-in one:
    /// a broken template must not stop a page.
    pub fn alert_request(
        &self,
        alert: &Alert,
        kind: Kind,
        channel: Channel,
        address: &str,
        user_id: Option<Uuid>,
        template: Option<Chosen<'_>>,
    ) -> Request {
        let context = alert_context(alert);
        let (content, chosen) =
            match template.map(|t| (t.def.render(channel, &context, self.budget), t)) {
                Some((Ok(content), t)) => (content, Some((t.id, t.version))),
                Some((Err(error), t)) => {
                    tracing::warn!(template = %t.id, version = t.version, %error,
                    "template failed to render; the built-in template is used");
                    (self.render_builtin(channel, &context, alert), None)
                }
                None => (self.render_builtin(channel, &context, alert), None),
            };
        let message = Outgoing::new(kind, content, meta_of_context(&context));
        Request {
            request_id: String::new(),
            priority: priority_of(alert),
            channel,
            address: address.to_string(),
            user_id,
            template: chosen,
            message,
        }
    }

    fn render_builtin(
        &self,
        channel: Channel,
        context: &serde_json::Value,
        alert: &Alert,
    ) -> Content {
        builtin_template()
            .render(channel, context, self.budget)
            .unwrap_or_else(|_| Content {
                text: format!(
                    "[{}] #{} {}",
                    alert.severity.as_str().to_uppercase(),
                    alert.number,
                    alert.summary
                ),
                subject: format!("#{} {}", alert.number, alert.summary),
                html: None,
            })
    }

    /// A plain message (a handoff, a code, a notice) for one destination.
    pub fn text_request(
        kind: Kind,
        priority: Priority,
        channel: Channel,
        address: &str,
        user_id: Option<Uuid>,
        subject: &str,
        text: &str,
    ) -> Request {
        Request {
            request_id: String::new(),
            priority,
            channel,
            address: address.to_string(),
            user_id,
            template: None,
            message: Outgoing::new(
                kind,
                Content {
                    text: text.to_string(),
                    subject: subject.to_string(),
                    html: None,
                },
                ContextMeta {
                    alerts: Vec::new(),
                    actionable: None,
                    link: None,
                },
            ),
        }
    }
}

/// The built-in alert template, built once.
fn builtin_template() -> &'static TemplateDef {
    static BUILTIN: std::sync::OnceLock<TemplateDef> = std::sync::OnceLock::new();
    BUILTIN.get_or_init(TemplateDef::default_for_alerts)
}

/// How urgent a message about the alert is: critical alerts go through quiet hours.
pub fn priority_of(alert: &Alert) -> Priority {
    use crate::domain::severity::Severity;
    match alert.severity {
        Severity::Critical => Priority::Critical,
        Severity::High => Priority::High,
        Severity::Medium => Priority::Normal,
        Severity::Low | Severity::Info => Priority::Low,
    }
}

/// The channel that reaches a contact method, if a provider carries its kind.
pub fn channel_of(kind: ContactKind) -> Option<Channel> {
    match kind {
        ContactKind::Email => Some(Channel::Email),
        ContactKind::Sms => Some(Channel::Sms),
        ContactKind::Voice => Some(Channel::Voice),
        ContactKind::Slack => Some(Channel::Slack),
        ContactKind::Webhook => Some(Channel::Webhook),
        ContactKind::Teams | ContactKind::Push => None,
    }
}

/// A user's methods that may receive pages: verified, with a provider.
pub fn pageable(methods: &[ContactMethod]) -> Vec<(Channel, &ContactMethod)> {
    methods
        .iter()
        .filter(|m| m.verified)
        .filter_map(|m| channel_of(m.kind).map(|c| (c, m)))
        .collect()
}

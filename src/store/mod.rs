//! Persistence: the [`Store`] trait, implemented on SQLite (the embedded default) and on
//! PostgreSQL (production). Both run the same conformance suite (`tests/store.rs`).
//!
//! [`Store`] is the sum of one trait per aggregate: [`AlertStore`], [`CatalogStore`],
//! [`DirectoryStore`], [`DefinitionStore`], [`RoutingStore`], [`EscalationStore`],
//! [`HandoffStore`] and [`NotificationStore`]. Through an `Arc<dyn Store>` their methods
//! need no import; on a concrete store type, `use crate::store::prelude::*;`.
//!
//! The store knows rows, not rules: it never decides a lifecycle transition, it records
//! the [`AlertWrite`]s the engine decided, in order, in one transaction per commit.

mod changes;
mod delivery;
mod faulty;
mod postgres;
mod sql;
mod sqlite;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::alert::{Alert, AlertStatus, TimelineEntry};
use crate::domain::catalog::{IntegrationKey, Service};
use crate::domain::directory::{ApiToken, ContactKind, ContactMethod, User};
use crate::domain::escalation::{Chain, PageKey};
use crate::domain::fingerprint::AlertKey;
use crate::domain::lifecycle::{AlertState, AlertWrite};
use crate::domain::severity::Severity;

pub use changes::Changes;
pub use delivery::{
    DeliveryAttempt, DeliveryLog, DeliveryQuery, DeliveryUpdate, StoredDelivery, StoredTemplate,
};
pub use faulty::{Faults, FaultyStore};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the row (a duplicate name, say).
    #[error("already exists: {0}")]
    Conflict(String),
    /// A write found its alert missing or resolved: it was decided on a state the store
    /// does not hold (a race the engine lost), so the commit holding it is refused.
    #[error("stale write: {0}")]
    Stale(String),
    /// A stored value the code cannot read back (an unknown status name, say).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("preparing the data directory: {0}")]
    Io(#[from] std::io::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One page of a listing plus the number of rows that match in all.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// A routing rule as stored: its definition is an opaque encoding the gRPC edge owns;
/// the store keeps the columns listings use beside it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRule {
    pub id: Uuid,
    pub name: String,
    pub priority: i32,
    pub enabled: bool,
    pub tags: Vec<String>,
    pub body: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a stored definition defines: each kind has its own table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    MaintenanceWindow,
    InhibitionRule,
    Schedule,
    Team,
    EscalationPolicy,
    Site,
    CustomerTier,
    EquipmentType,
    Carrier,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::MaintenanceWindow,
        Kind::InhibitionRule,
        Kind::Schedule,
        Kind::Team,
        Kind::EscalationPolicy,
        Kind::Site,
        Kind::CustomerTier,
        Kind::EquipmentType,
        Kind::Carrier,
    ];

    /// Its place in [`Kind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn table(self) -> &'static str {
        match self {
            Kind::MaintenanceWindow => "maintenance_windows",
            Kind::InhibitionRule => "inhibition_rules",
            Kind::Schedule => "schedules",
            Kind::Team => "teams",
            Kind::EscalationPolicy => "escalation_policies",
            Kind::Site => "sites",
            Kind::CustomerTier => "customer_tiers",
            Kind::EquipmentType => "equipment_types",
            Kind::Carrier => "carriers",
        }
    }

    /// Inhibition rules are checked oldest first; the rest list by name.
    pub fn order_by(self) -> &'static str {
        match self {
            Kind::InhibitionRule => "created_at, id",
            _ => "name, id",
        }
    }

    /// How the kind names itself in errors.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::MaintenanceWindow => "a maintenance window",
            Kind::InhibitionRule => "an inhibition rule",
            Kind::Schedule => "a schedule",
            Kind::Team => "a team",
            Kind::EscalationPolicy => "an escalation policy",
            Kind::Site => "a site",
            Kind::CustomerTier => "a customer tier",
            Kind::EquipmentType => "an equipment type",
            Kind::Carrier => "a carrier",
        }
    }
}

/// One handoff of a schedule's rotation, recorded when the schedule actor meets it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredHandoff {
    pub id: Uuid,
    pub schedule_id: Uuid,
    pub rotation_id: Uuid,
    pub level: i32,
    pub at: DateTime<Utc>,
    pub outgoing_user_id: Uuid,
    pub incoming_user_id: Uuid,
    pub require_ack: bool,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub escalated_at: Option<DateTime<Utc>>,
}

/// Something sent (or not) about a handoff: a reminder, the handoff message, an
/// acknowledgement, the unacknowledged notice.
#[derive(Clone, Debug, PartialEq)]
pub struct HandoffEvent {
    pub kind: String,
    pub at: DateTime<Utc>,
    /// Where it went and what came back, or why it was not sent.
    pub detail: String,
}

/// One page of an escalation chain, keyed so that it is sent at most once.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredPage {
    pub id: Uuid,
    pub chain_id: Uuid,
    pub key: PageKey,
    /// `pending` until delivery answers: `sent`, `failed`, or why it was not sent.
    pub outcome: String,
    pub detail: String,
    pub created_at: DateTime<Utc>,
}

/// A named definition as stored (a maintenance window, an inhibition rule): its body is
/// an opaque encoding the gRPC edge owns.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredDefinition {
    pub id: Uuid,
    pub name: String,
    pub body: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One routing decision as stored: its explanation is an opaque encoding the gRPC edge
/// owns.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAudit {
    pub id: Uuid,
    pub alert_id: Uuid,
    pub matched_rule_ids: Vec<Uuid>,
    pub body: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

/// Which audit entries to list; every given criterion must hold.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub alert_id: Option<Uuid>,
    pub rule_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: i64,
    pub offset: i64,
}

/// Which alerts to list. Every non-empty criterion must hold.
#[derive(Clone, Debug, Default)]
pub struct AlertQuery {
    pub statuses: Vec<AlertStatus>,
    pub severities: Vec<Severity>,
    pub sources: Vec<String>,
    pub service_id: Option<Uuid>,
    /// Exact `key = value` matches on labels.
    pub labels: BTreeMap<String, String>,
    pub triggered_from: Option<DateTime<Utc>>,
    pub triggered_to: Option<DateTime<Utc>>,
    /// Case-insensitive substring of summary, details or fingerprint.
    pub search: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// The whole store: every aggregate's trait, plus what belongs to none of them. Through an
/// `Arc<dyn Store>` (or an `S: Store` bound) every sub-trait's methods can be called as
/// they are; code that calls them on a concrete store type imports [`prelude`].
#[async_trait]
pub trait Store:
    AlertStore
    + CatalogStore
    + DirectoryStore
    + DefinitionStore
    + RoutingStore
    + EscalationStore
    + HandoffStore
    + NotificationStore
    + Send
    + Sync
    + 'static
{
    /// The change signal: bumped by every definition write on this node.
    fn changes(&self) -> &Changes;

    /// Answers when the database does: the readiness check.
    async fn ping(&self) -> StoreResult<()>;
}

/// Alerts and their timelines: the engine's commits, and what it and the edges read back.
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Records the writes, in order, in one transaction: all or none.
    async fn commit(&self, writes: &[AlertWrite]) -> StoreResult<()>;
    async fn get_alert(&self, id: Uuid) -> StoreResult<Option<Alert>>;
    /// The alert with this number (the short id people type: `ack 42`).
    async fn find_alert_by_number(&self, number: i64) -> StoreResult<Option<Alert>>;
    async fn list_alerts(&self, query: &AlertQuery) -> StoreResult<Page<Alert>>;
    /// The alert's timeline, oldest first.
    async fn alert_timeline(&self, id: Uuid) -> StoreResult<Vec<TimelineEntry>>;
    /// Every open alert, compactly: what the engine rebuilds its shards from.
    async fn open_alerts(&self) -> StoreResult<Vec<(AlertKey, AlertState)>>;
    async fn count_open_alerts(&self, service_id: Uuid) -> StoreResult<i64>;
    /// Open alerts of a service last seen before `before`, oldest first: what
    /// auto-resolve closes.
    async fn silent_alerts(
        &self,
        service_id: Uuid,
        before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Alert>>;
    /// Acknowledged alerts of a service acknowledged before `before`, oldest first: what
    /// an ack timeout triggers again.
    async fn stale_acknowledgements(
        &self,
        service_id: Uuid,
        before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Alert>>;
    /// The highest alert number handed out, 0 when there is none.
    async fn max_alert_number(&self) -> StoreResult<i64>;
}

/// The service catalog: services and the integration keys senders present.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    async fn insert_service(&self, service: &Service) -> StoreResult<()>;
    async fn get_service(&self, id: Uuid) -> StoreResult<Option<Service>>;
    async fn list_services(
        &self,
        name_contains: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Page<Service>>;
    /// False when no such service exists.
    async fn update_service(&self, service: &Service) -> StoreResult<bool>;
    /// Deletes the service and its keys; false when no such service exists.
    async fn delete_service(&self, id: Uuid) -> StoreResult<bool>;

    async fn insert_integration_key(&self, key: &IntegrationKey) -> StoreResult<()>;
    async fn get_integration_key(&self, id: Uuid) -> StoreResult<Option<IntegrationKey>>;
    async fn find_integration_key(&self, key_hash: &str) -> StoreResult<Option<IntegrationKey>>;
    async fn list_integration_keys(&self, service_id: Uuid) -> StoreResult<Vec<IntegrationKey>>;
    /// Sets when a key stops working (rotation) or that it stopped (revocation).
    async fn retire_integration_key(
        &self,
        id: Uuid,
        expires_at: Option<DateTime<Utc>>,
        revoked_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()>;
}

/// The directory: users, their API tokens and their contact methods.
#[async_trait]
pub trait DirectoryStore: Send + Sync {
    async fn insert_user(&self, user: &User) -> StoreResult<()>;
    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>>;
    async fn update_user(&self, user: &User) -> StoreResult<bool>;
    async fn find_user_by_name(&self, name: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self, limit: i64, offset: i64) -> StoreResult<Page<User>>;
    async fn insert_api_token(&self, token: &ApiToken) -> StoreResult<()>;
    async fn get_api_token(&self, id: Uuid) -> StoreResult<Option<ApiToken>>;
    async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<ApiToken>>;
    async fn list_api_tokens(&self, user_id: Option<Uuid>) -> StoreResult<Vec<ApiToken>>;
    async fn revoke_api_token(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<()>;

    /// Fails with `Conflict` when the user already has this kind and address.
    async fn insert_contact_method(&self, method: &ContactMethod) -> StoreResult<()>;
    async fn get_contact_method(&self, id: Uuid) -> StoreResult<Option<ContactMethod>>;
    /// A user's methods, oldest first.
    async fn list_contact_methods(&self, user_id: Uuid) -> StoreResult<Vec<ContactMethod>>;
    /// Every user's methods of this kind at this address (a Slack member id, a number):
    /// how an inbound chat action or SMS finds its user.
    async fn find_contact_methods(
        &self,
        kind: ContactKind,
        address: &str,
    ) -> StoreResult<Vec<ContactMethod>>;
    /// Replaces verified, code_hash, code_sent and code_detail.
    async fn update_contact_method(&self, method: &ContactMethod) -> StoreResult<bool>;
    async fn delete_contact_method(&self, id: Uuid) -> StoreResult<bool>;
}

/// Named definitions, one table per [`Kind`], and settings documents. Every definition
/// write bumps [`Store::changes`].
#[async_trait]
pub trait DefinitionStore: Send + Sync {
    async fn insert_definition(&self, kind: Kind, definition: &StoredDefinition)
    -> StoreResult<()>;
    async fn get_definition(&self, kind: Kind, id: Uuid) -> StoreResult<Option<StoredDefinition>>;
    /// Every definition of a kind, in the kind's order (see [`Kind::order_by`]).
    async fn list_definitions(&self, kind: Kind) -> StoreResult<Vec<StoredDefinition>>;
    /// Replaces name, body and updated_at; false when no such definition exists.
    async fn update_definition(
        &self,
        kind: Kind,
        definition: &StoredDefinition,
    ) -> StoreResult<bool>;
    async fn delete_definition(&self, kind: Kind, id: Uuid) -> StoreResult<bool>;

    /// A settings document by name (`routing_defaults`), if one was saved.
    async fn get_document(&self, name: &str) -> StoreResult<Option<Vec<u8>>>;
    async fn put_document(&self, name: &str, body: &[u8], at: DateTime<Utc>) -> StoreResult<()>;
}

/// Routing: the rules, the decisions recorded against alerts (audit and routed marks),
/// and the holds on suppressed alerts.
#[async_trait]
pub trait RoutingStore: Send + Sync {
    async fn insert_rule(&self, rule: &StoredRule) -> StoreResult<()>;
    async fn get_rule(&self, id: Uuid) -> StoreResult<Option<StoredRule>>;
    /// Every rule, in priority order.
    async fn list_rules(&self) -> StoreResult<Vec<StoredRule>>;
    /// False when no such rule exists.
    async fn update_rule(&self, rule: &StoredRule) -> StoreResult<bool>;
    async fn delete_rule(&self, id: Uuid) -> StoreResult<bool>;

    /// Records routing decisions and marks their alerts routed, in one transaction.
    /// `routed` may name alerts without an audit entry (no rule had anything to say).
    async fn record_routing(
        &self,
        audits: &[StoredAudit],
        routed: &[Uuid],
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The alerts with these ids that exist, in no particular order.
    async fn get_alerts(&self, ids: &[Uuid]) -> StoreResult<Vec<Alert>>;
    /// Which of these alerts are exactly as they opened: not repeated, acknowledged,
    /// resolved, suppressed, updated or noted since. A caller that holds the alert as it
    /// opened can use its copy for those, without reading them back.
    async fn unchanged_since_open(&self, ids: &[Uuid]) -> StoreResult<Vec<Uuid>>;
    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Page<StoredAudit>>;
    /// Suppressed alerts that `holder` (`window:<id>`) holds.
    async fn held_by(&self, holder: &str) -> StoreResult<Vec<Uuid>>;
    /// The holders, starting with `prefix` (`inhibit:`), of suppressed alerts.
    async fn holders(&self, prefix: &str) -> StoreResult<Vec<String>>;
    /// Open alerts routing has not acted on yet, oldest first.
    async fn unrouted_alerts(&self) -> StoreResult<Vec<Uuid>>;
}

/// Escalation: each alert's chains on its policies, and the pages their steps decided.
#[async_trait]
pub trait EscalationStore: Send + Sync {
    /// Records a new chain; false when the alert already has one on that policy in that
    /// generation.
    async fn insert_chain(&self, chain: &Chain) -> StoreResult<bool>;
    async fn get_chain(&self, id: Uuid) -> StoreResult<Option<Chain>>;
    /// An alert's chains, oldest first.
    async fn chains_of_alert(&self, alert_id: Uuid) -> StoreResult<Vec<Chain>>;
    /// Every active chain, soonest due first.
    async fn active_chains(&self) -> StoreResult<Vec<Chain>>;
    /// Stores a chain's new state and the pages its step decided, in one transaction;
    /// a page whose key is already stored is left as it is.
    async fn save_chain(&self, chain: &Chain, pages: &[StoredPage]) -> StoreResult<()>;
    /// A chain's pages, oldest first.
    async fn pages_of_chain(&self, chain_id: Uuid) -> StoreResult<Vec<StoredPage>>;
    async fn mark_page(&self, id: Uuid, outcome: &str, detail: &str) -> StoreResult<()>;
}

/// Schedule handoffs, and what was sent (or not) about each.
#[async_trait]
pub trait HandoffStore: Send + Sync {
    /// Records a handoff once: false when this schedule's rotation already has one at
    /// that instant (a restarted schedule actor meeting it again).
    async fn insert_handoff(&self, handoff: &StoredHandoff) -> StoreResult<bool>;
    async fn get_handoff(&self, id: Uuid) -> StoreResult<Option<StoredHandoff>>;
    /// A schedule's handoffs, newest first.
    async fn list_handoffs(&self, schedule_id: Uuid, limit: i64)
    -> StoreResult<Vec<StoredHandoff>>;
    /// Marks a handoff acknowledged; false when it already was (or does not exist).
    async fn acknowledge_handoff(&self, id: Uuid, by: &str, at: DateTime<Utc>)
    -> StoreResult<bool>;
    /// Marks a handoff escalated; false when it was acknowledged or escalated first, so
    /// an acknowledgement racing the deadline wins.
    async fn escalate_handoff(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool>;
    async fn add_handoff_event(&self, handoff_id: Uuid, event: &HandoffEvent) -> StoreResult<()>;
    /// A handoff's events, oldest first.
    async fn handoff_events(&self, handoff_id: Uuid) -> StoreResult<Vec<HandoffEvent>>;
}

/// Notifications: versioned message templates, and deliveries with their attempts.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    // Notification templates: a new version never replaces an old one.
    /// Fails with `Conflict` when that id and version exist (a concurrent update).
    async fn insert_template_version(&self, template: &StoredTemplate) -> StoreResult<()>;
    /// A live template's version, or its latest when `version` is None.
    async fn get_template(
        &self,
        id: Uuid,
        version: Option<i32>,
    ) -> StoreResult<Option<StoredTemplate>>;
    /// The latest version of every live template, by name.
    async fn list_templates(&self) -> StoreResult<Vec<StoredTemplate>>;
    async fn delete_template(&self, id: Uuid) -> StoreResult<bool>;

    // Deliveries.
    /// Commits new deliveries, state changes and attempts in one transaction. Fails with
    /// `Conflict` when a new delivery repeats a request id for its destination.
    async fn write_delivery_log(&self, log: &DeliveryLog) -> StoreResult<()>;
    async fn get_delivery(&self, id: Uuid) -> StoreResult<Option<StoredDelivery>>;
    async fn list_deliveries(&self, query: &DeliveryQuery) -> StoreResult<Page<StoredDelivery>>;
    async fn delivery_attempts(&self, id: Uuid) -> StoreResult<Vec<DeliveryAttempt>>;
    /// Deliveries still waiting to be sent (pending or retrying, not in a digest).
    async fn unfinished_deliveries(&self) -> StoreResult<Vec<StoredDelivery>>;
}

/// The sub-traits, imported anonymously: `use crate::store::prelude::*;` brings every
/// aggregate's methods into scope without naming the traits. A `dyn Store` needs none of
/// it (a trait object's supertrait methods are always in scope); a concrete store type
/// (`SqliteStore`, `FaultyStore`) does.
pub mod prelude {
    pub use super::AlertStore as _;
    pub use super::CatalogStore as _;
    pub use super::DefinitionStore as _;
    pub use super::DirectoryStore as _;
    pub use super::EscalationStore as _;
    pub use super::HandoffStore as _;
    pub use super::NotificationStore as _;
    pub use super::RoutingStore as _;
}

/// Opens the store a URL names, creating and migrating it as needed.
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}

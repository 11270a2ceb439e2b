//! A store that fails on demand: a wrapper over a real store whose calls, by name or all
//! of them, answer a database error until healed. Tests use it to show what the engine
//! does when its database fails under it (a chain stays pending, a shard comes back),
//! without stopping a real database.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    AlertQuery, AlertStore, AuditQuery, CatalogStore, Changes, DefinitionStore, DeliveryAttempt,
    DeliveryLog, DeliveryQuery, DirectoryStore, EscalationStore, HandoffEvent, HandoffStore, Kind,
    NotificationStore, Page, RoutingStore, Store, StoreError, StoreResult, StoredAudit,
    StoredDefinition, StoredDelivery, StoredHandoff, StoredPage, StoredRule, StoredTemplate,
};
use crate::domain::alert::{Alert, TimelineEntry};
use crate::domain::catalog::{IntegrationKey, Service};
use crate::domain::directory::{ApiToken, ContactKind, ContactMethod, User};
use crate::domain::escalation::Chain;
use crate::domain::fingerprint::AlertKey;
use crate::domain::lifecycle::{AlertState, AlertWrite};

/// Which calls fail now, and how many were refused so far.
#[derive(Default)]
pub struct Faults {
    state: Mutex<FaultState>,
}

#[derive(Default)]
struct FaultState {
    all: bool,
    /// Store method names (`commit`, `get_definition`, `get_definition:schedules`...)
    /// that fail.
    failing: BTreeSet<String>,
    refused: HashMap<String, u64>,
}

impl Faults {
    /// Every call fails until [`Faults::heal`].
    pub fn fail_all(&self) {
        self.with(|state| state.all = true);
    }

    /// Calls to these store methods fail until [`Faults::heal`].
    pub fn fail(&self, methods: &[&'static str]) {
        self.with(|state| state.failing.extend(methods.iter().map(|m| m.to_string())));
    }

    /// Every call reaches the real store again.
    pub fn heal(&self) {
        self.with(|state| {
            state.all = false;
            state.failing.clear();
        });
    }

    /// How many calls to `method` were refused so far.
    pub fn refused(&self, method: &str) -> u64 {
        self.with(|state| state.refused.get(method).copied().unwrap_or(0))
    }

    fn check_kind(&self, method: &str, kind: Kind) -> StoreResult<()> {
        let keyed = format!("{method}:{}", kind.table());
        if self.with(|state| state.failing.contains(&keyed)) {
            self.check(&keyed)
        } else {
            Ok(())
        }
    }

    fn check(&self, method: &str) -> StoreResult<()> {
        self.with(|state| {
            if state.all || state.failing.contains(method) {
                *state.refused.entry(method.to_string()).or_default() += 1;
                Err(StoreError::Database(sqlx::Error::PoolTimedOut))
            } else {
                Ok(())
            }
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut FaultState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The wrapper: each call checks the faults, then goes to the real store.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    faults: Arc<Faults>,
}

impl FaultyStore {
    /// Wraps `inner`; the returned [`Faults`] switch failures on and off.
    pub fn wrap(inner: Arc<dyn Store>) -> (Arc<dyn Store>, Arc<Faults>) {
        let faults = Arc::new(Faults::default());
        let store = FaultyStore {
            inner,
            faults: faults.clone(),
        };
        (Arc::new(store), faults)
    }
}

/// Implements a store trait for [`FaultyStore`] by checking the faults, then delegating
/// each method; the methods written out first check more than their name.
macro_rules! delegate {
    (
        impl $trait:ident;
        $(written_out { $($written:tt)* })?
        $(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*
    ) => {
        #[async_trait]
        impl $trait for FaultyStore {
            $($($written)*)?
            $(
                async fn $name(&self, $($arg: $ty),*) -> $ret {
                    self.faults.check(stringify!($name))?;
                    self.inner.$name($($arg),*).await
                }
            )*
        }
    };
}

delegate! {
    impl Store;
    written_out {
        fn changes(&self) -> &Changes {
            self.inner.changes()
        }
    }
    fn ping() -> StoreResult<()>;
}

delegate! {
    impl AlertStore;
    fn commit(writes: &[AlertWrite]) -> StoreResult<()>;
    fn get_alert(id: Uuid) -> StoreResult<Option<Alert>>;
    fn find_alert_by_number(number: i64) -> StoreResult<Option<Alert>>;
    fn list_alerts(query: &AlertQuery) -> StoreResult<Page<Alert>>;
    fn alert_timeline(id: Uuid) -> StoreResult<Vec<TimelineEntry>>;
    fn open_alerts() -> StoreResult<Vec<(AlertKey, AlertState)>>;
    fn count_open_alerts(service_id: Uuid) -> StoreResult<i64>;
    fn silent_alerts(service_id: Uuid, before: DateTime<Utc>, limit: i64) -> StoreResult<Vec<Alert>>;
    fn stale_acknowledgements(service_id: Uuid, before: DateTime<Utc>, limit: i64) -> StoreResult<Vec<Alert>>;
    fn max_alert_number() -> StoreResult<i64>;
}

delegate! {
    impl CatalogStore;
    fn insert_service(service: &Service) -> StoreResult<()>;
    fn get_service(id: Uuid) -> StoreResult<Option<Service>>;
    fn list_services(name_contains: Option<&str>, limit: i64, offset: i64) -> StoreResult<Page<Service>>;
    fn update_service(service: &Service) -> StoreResult<bool>;
    fn delete_service(id: Uuid) -> StoreResult<bool>;
    fn insert_integration_key(key: &IntegrationKey) -> StoreResult<()>;
    fn get_integration_key(id: Uuid) -> StoreResult<Option<IntegrationKey>>;
    fn find_integration_key(key_hash: &str) -> StoreResult<Option<IntegrationKey>>;
    fn list_integration_keys(service_id: Uuid) -> StoreResult<Vec<IntegrationKey>>;
    fn retire_integration_key(id: Uuid, expires_at: Option<DateTime<Utc>>, revoked_at: Option<DateTime<Utc>>) -> StoreResult<()>;
}

delegate! {
    impl DirectoryStore;
    fn insert_user(user: &User) -> StoreResult<()>;
    fn get_user(id: Uuid) -> StoreResult<Option<User>>;
    fn update_user(user: &User) -> StoreResult<bool>;
    fn find_user_by_name(name: &str) -> StoreResult<Option<User>>;
    fn list_users(limit: i64, offset: i64) -> StoreResult<Page<User>>;
    fn insert_api_token(token: &ApiToken) -> StoreResult<()>;
    fn get_api_token(id: Uuid) -> StoreResult<Option<ApiToken>>;
    fn find_api_token(token_hash: &str) -> StoreResult<Option<ApiToken>>;
    fn list_api_tokens(user_id: Option<Uuid>) -> StoreResult<Vec<ApiToken>>;
    fn revoke_api_token(id: Uuid, at: DateTime<Utc>) -> StoreResult<()>;
    fn insert_contact_method(method: &ContactMethod) -> StoreResult<()>;
    fn get_contact_method(id: Uuid) -> StoreResult<Option<ContactMethod>>;
    fn list_contact_methods(user_id: Uuid) -> StoreResult<Vec<ContactMethod>>;
    fn find_contact_methods(kind: ContactKind, address: &str) -> StoreResult<Vec<ContactMethod>>;
    fn update_contact_method(method: &ContactMethod) -> StoreResult<bool>;
    fn delete_contact_method(id: Uuid) -> StoreResult<bool>;
}

delegate! {
    impl DefinitionStore;
    written_out {
        // A definition read fails by method (`get_definition`) or by method and table
        // (`get_definition:schedules`), so a test can fail schedules but not policies.
        async fn get_definition(&self, kind: Kind, id: Uuid) -> StoreResult<Option<StoredDefinition>> {
            self.faults.check("get_definition")?;
            self.faults.check_kind("get_definition", kind)?;
            self.inner.get_definition(kind, id).await
        }

        async fn list_definitions(&self, kind: Kind) -> StoreResult<Vec<StoredDefinition>> {
            self.faults.check("list_definitions")?;
            self.faults.check_kind("list_definitions", kind)?;
            self.inner.list_definitions(kind).await
        }
    }
    fn insert_definition(kind: Kind, definition: &StoredDefinition) -> StoreResult<()>;
    fn update_definition(kind: Kind, definition: &StoredDefinition) -> StoreResult<bool>;
    fn delete_definition(kind: Kind, id: Uuid) -> StoreResult<bool>;
    fn get_document(name: &str) -> StoreResult<Option<Vec<u8>>>;
    fn put_document(name: &str, body: &[u8], at: DateTime<Utc>) -> StoreResult<()>;
}

delegate! {
    impl RoutingStore;
    fn insert_rule(rule: &StoredRule) -> StoreResult<()>;
    fn get_rule(id: Uuid) -> StoreResult<Option<StoredRule>>;
    fn list_rules() -> StoreResult<Vec<StoredRule>>;
    fn update_rule(rule: &StoredRule) -> StoreResult<bool>;
    fn delete_rule(id: Uuid) -> StoreResult<bool>;
    fn record_routing(audits: &[StoredAudit], routed: &[Uuid], at: DateTime<Utc>) -> StoreResult<()>;
    fn get_alerts(ids: &[Uuid]) -> StoreResult<Vec<Alert>>;
    fn unchanged_since_open(ids: &[Uuid]) -> StoreResult<Vec<Uuid>>;
    fn list_audit(query: &AuditQuery) -> StoreResult<Page<StoredAudit>>;
    fn held_by(holder: &str) -> StoreResult<Vec<Uuid>>;
    fn holders(prefix: &str) -> StoreResult<Vec<String>>;
    fn unrouted_alerts() -> StoreResult<Vec<Uuid>>;
}

delegate! {
    impl EscalationStore;
    fn insert_chain(chain: &Chain) -> StoreResult<bool>;
    fn get_chain(id: Uuid) -> StoreResult<Option<Chain>>;
    fn chains_of_alert(alert_id: Uuid) -> StoreResult<Vec<Chain>>;
    fn active_chains() -> StoreResult<Vec<Chain>>;
    fn save_chain(chain: &Chain, pages: &[StoredPage]) -> StoreResult<()>;
    fn pages_of_chain(chain_id: Uuid) -> StoreResult<Vec<StoredPage>>;
    fn mark_page(id: Uuid, outcome: &str, detail: &str) -> StoreResult<()>;
}

delegate! {
    impl HandoffStore;
    fn insert_handoff(handoff: &StoredHandoff) -> StoreResult<bool>;
    fn get_handoff(id: Uuid) -> StoreResult<Option<StoredHandoff>>;
    fn list_handoffs(schedule_id: Uuid, limit: i64) -> StoreResult<Vec<StoredHandoff>>;
    fn acknowledge_handoff(id: Uuid, by: &str, at: DateTime<Utc>) -> StoreResult<bool>;
    fn escalate_handoff(id: Uuid, at: DateTime<Utc>) -> StoreResult<bool>;
    fn add_handoff_event(handoff_id: Uuid, event: &HandoffEvent) -> StoreResult<()>;
    fn handoff_events(handoff_id: Uuid) -> StoreResult<Vec<HandoffEvent>>;
}

delegate! {
    impl NotificationStore;
    fn insert_template_version(template: &StoredTemplate) -> StoreResult<()>;
    fn get_template(id: Uuid, version: Option<i32>) -> StoreResult<Option<StoredTemplate>>;
    fn list_templates() -> StoreResult<Vec<StoredTemplate>>;
    fn delete_template(id: Uuid) -> StoreResult<bool>;
    fn write_delivery_log(log: &DeliveryLog) -> StoreResult<()>;
    fn get_delivery(id: Uuid) -> StoreResult<Option<StoredDelivery>>;
    fn list_deliveries(query: &DeliveryQuery) -> StoreResult<Page<StoredDelivery>>;
    fn delivery_attempts(id: Uuid) -> StoreResult<Vec<DeliveryAttempt>>;
    fn unfinished_deliveries() -> StoreResult<Vec<StoredDelivery>>;
}

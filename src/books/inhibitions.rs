//! The inhibition book: the compiled inhibition rules and the open alerts that are
//! their sources, shared by the router (which checks and adds) and the inhibition
//! watcher (which removes sources as they resolve and lets go of what they held).
//!
//! Rebuilt from the store at start and whenever the rules change, so what it holds is
//! always what the database says is open; between rebuilds it follows the engine.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use uuid::Uuid;

use crate::definitions::inhibition;
use crate::domain::alert::AlertStatus;
use crate::domain::inhibition::{InhibitionRule, SourceIndex};
use crate::pb::alerting::routing::v1 as pb;
use crate::store::{AlertQuery, Kind, Store, StoreError, StoredDefinition};

/// Open alerts read per page while rebuilding the source index.
const PAGE: i64 = 1_000;

/// The source alert that inhibits an alert, and by which rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Inhibitor {
    pub source: Uuid,
    pub rule_id: Uuid,
    pub rule_name: String,
}

impl Inhibitor {
    pub fn to_pb(&self) -> pb::InhibitionResult {
        pb::InhibitionResult {
            inhibited: true,
            source_alert_id: self.source.to_string(),
            rule_id: self.rule_id.to_string(),
            rule_name: self.rule_name.clone(),
        }
    }
}

#[derive(Clone)]
pub struct InhibitionBook {
    store: Arc<dyn Store>,
    index: Arc<Mutex<SourceIndex>>,
    /// Wakes the watcher when the rules change; it has one waiter, so a change made
    /// while it is busy is kept as a permit, not lost.
    changed: Arc<tokio::sync::Notify>,
}

impl InhibitionBook {
    pub async fn load(store: Arc<dyn Store>) -> Result<InhibitionBook, StoreError> {
        let book = InhibitionBook {
            store,
            index: Arc::default(),
            changed: Arc::default(),
        };
        book.reload().await?;
        Ok(book)
    }

    /// A poisoned lock still holds a consistent index: every change to it is a single
    /// map operation that cannot panic halfway.
    fn index(&self) -> MutexGuard<'_, SourceIndex> {
        match self.index.lock() {
            Ok(index) => index,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Rebuilds the rules from the store, and the sources from the open alerts.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let mut rules = Vec::new();
        for stored in self.store.list_definitions(Kind::InhibitionRule).await? {
            match decode_and_compile(&stored) {
                Ok(rule) => rules.push(rule),
                Err(why) => tracing::error!(rule = %stored.id, %why, "inhibition rule skipped"),
            }
        }
        let mut index = SourceIndex::new(rules);
        if !index.rules().is_empty() {
            let mut offset = 0;
            loop {
                let page = self
                    .store
                    .list_alerts(&AlertQuery {
                        statuses: vec![
                            AlertStatus::Triggered,
                            AlertStatus::Acknowledged,
                            AlertStatus::Suppressed,
                        ],
                        limit: PAGE,
                        offset,
                        ..AlertQuery::default()
                    })
                    .await?;
                for alert in &page.items {
                    index.add_source(alert.id, &alert.labels);
                }
                if (page.items.len() as i64) < PAGE {
                    break;
                }
                offset += PAGE;
            }
        }
        *self.index() = index;
        self.changed.notify_one();
        Ok(())
    }

    /// Resolves after the rules next change (or have changed since the last call).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    pub fn has_rules(&self) -> bool {
        !self.index().rules().is_empty()
    }

    /// Records an open alert as a source; returns the rules it is a source of.
    pub fn add_source(
        &self,
        alert: Uuid,
        labels: &BTreeMap<String, String>,
    ) -> Vec<InhibitionRule> {
        self.index()
            .add_source(alert, labels)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Forgets a source; true when it was one.
    pub fn remove_source(&self, alert: Uuid) -> bool {
        self.index().remove_source(alert)
    }

    pub fn is_source(&self, alert: Uuid) -> bool {
        self.index().is_source(alert)
    }

    pub fn sources(&self) -> Vec<Uuid> {
        self.index().sources().collect()
    }

    /// The open source that inhibits an alert with these labels, if any.
    pub fn inhibitor(&self, alert: Uuid, labels: &BTreeMap<String, String>) -> Option<Inhibitor> {
        self.index()
            .inhibitor(alert, labels)
            .map(|(source, rule)| Inhibitor {
                source,
                rule_id: rule.id,
                rule_name: rule.name.clone(),
            })
    }
}

fn decode_and_compile(stored: &StoredDefinition) -> Result<InhibitionRule, String> {
    let rule = inhibition::decode(stored).map_err(|e| e.to_string())?;
    inhibition::compile(&rule, stored.id).map_err(|e| e.to_string())
}

//! Compiled definitions kept ready for the hot path: every schedule and escalation
//! policy, compiled once and rebuilt only when the store's change signal says its kind
//! was written. Paging a schedule or firing a step reads from here: no decode, no
//! compile, no store round trip per page while nothing changed.
//!
//! Freshness is checked on each read against the store's version for the kind (an
//! atomic read), so a read after a write on this node always sees it. A definition that
//! no longer compiles is kept as its problem: asking for it is an error, never "absent".

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use super::snapshot::Snapshot;
use crate::definitions::{Definition, Definitions, Invalid, LoadError};
use crate::store::Store;

/// One kind's definitions, compiled, as of one version of the store.
pub struct Compiled<T> {
    /// The store's version for the kind when this was read; None before the first read.
    version: Option<u64>,
    /// In the store's order for the kind (schedules and policies by name).
    items: Vec<(Uuid, Arc<T>)>,
    index: HashMap<Uuid, usize>,
    broken: HashMap<Uuid, Invalid>,
}

impl<T> Compiled<T> {
    /// Every definition that compiles, in the store's order.
    pub fn items(&self) -> impl Iterator<Item = &(Uuid, Arc<T>)> {
        self.items.iter()
    }
}

pub struct CompiledBook<M, T> {
    store: Arc<dyn Store>,
    compile: fn(&M, Uuid) -> Result<T, Invalid>,
    current: Snapshot<Compiled<T>>,
    /// One reload at a time; readers that waited find it done.
    reloading: tokio::sync::Mutex<()>,
}

impl<M: Definition, T> CompiledBook<M, T> {
    pub fn new(store: Arc<dyn Store>, compile: fn(&M, Uuid) -> Result<T, Invalid>) -> Self {
        CompiledBook {
            store,
            compile,
            current: Snapshot::new(Compiled {
                version: None,
                items: Vec::new(),
                index: HashMap::new(),
                broken: HashMap::new(),
            }),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// The compiled definition; None when none is stored.
    pub async fn get(&self, id: Uuid) -> Result<Option<Arc<T>>, LoadError> {
        let compiled = self.fresh().await?;
        if let Some(invalid) = compiled.broken.get(&id) {
            return Err(LoadError::Invalid(invalid.clone()));
        }
        Ok(compiled
            .index
            .get(&id)
            .and_then(|at| compiled.items.get(*at))
            .map(|(_, item)| item.clone()))
    }

    /// Every compiled definition of the kind, as of now.
    pub async fn all(&self) -> Result<Arc<Compiled<T>>, LoadError> {
        self.fresh().await
    }

    async fn fresh(&self) -> Result<Arc<Compiled<T>>, LoadError> {
        let wanted = self.store.changes().version(M::KIND);
        let current = self.current.current();
        if current.version == Some(wanted) {
            return Ok(current);
        }
        let _one_at_a_time = self.reloading.lock().await;
        // The version is read before the listing: a write that lands during it leaves
        // the book a version behind, so the next read lists again.
        let wanted = self.store.changes().version(M::KIND);
        let current = self.current.current();
        if current.version == Some(wanted) {
            return Ok(current);
        }
        let mut items = Vec::new();
        let mut index = HashMap::new();
        let mut broken = HashMap::new();
        for stored in Definitions::<M>::new(self.store.clone())
            .list_with_ids()
            .await?
        {
            let (id, message) = stored;
            match (self.compile)(&message, id) {
                Ok(compiled) => {
                    index.insert(id, items.len());
                    items.push((id, Arc::new(compiled)));
                }
                Err(invalid) => {
                    tracing::error!(kind = M::NOUN, %id, %invalid, "stored definition no longer compiles");
                    broken.insert(id, invalid);
                }
            }
        }
        self.current.replace(Compiled {
            version: Some(wanted),
            items,
            index,
            broken,
        });
        Ok(self.current.current())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::definitions::escalation;
    use crate::domain::escalation::Policy;
    use crate::pb::alerting::routing::v1 as pb;
    use crate::store::{FaultyStore, Kind};

    fn policy(name: &str) -> pb::EscalationPolicy {
        pb::EscalationPolicy {
            name: name.into(),
            steps: vec![pb::EscalationStep {
                targets: vec![pb::EscalationTarget {
                    r#type: pb::EscalationTargetType::User as i32,
                    user_id: Uuid::new_v4().to_string(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn reads_compile_once_and_see_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/oncall.db", dir.path().display());
        let (store, faults) = FaultyStore::wrap(crate::store::open(&url).await.unwrap());
        let book: CompiledBook<pb::EscalationPolicy, Policy> =
            CompiledBook::new(store.clone(), escalation::compile);
        let policies: Definitions<pb::EscalationPolicy> = Definitions::new(store.clone());
        let id = Uuid::new_v4();
        assert!(book.get(id).await.unwrap().is_none());

        policies
            .insert(id, &policy("primary"), Utc::now())
            .await
            .unwrap();
        let first = book.get(id).await.unwrap().expect("seen after the write");
        assert_eq!(first.name, "primary");

        // Nothing changed: answered from memory, even with the store away.
        faults.fail(&["list_definitions"]);
        let again = book.get(id).await.unwrap().expect("still there");
        assert!(Arc::ptr_eq(&first, &again), "compiled once");
        faults.heal();

        policies
            .update(id, &policy("renamed"), Utc::now(), Utc::now())
            .await
            .unwrap();
        assert_eq!(book.get(id).await.unwrap().unwrap().name, "renamed");
        assert_eq!(book.all().await.unwrap().items().count(), 1);
        assert_eq!(store.changes().version(Kind::EscalationPolicy), 2);
    }

    #[tokio::test]
    async fn a_store_fault_is_an_error_not_an_absence() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/oncall.db", dir.path().display());
        let (store, faults) = FaultyStore::wrap(crate::store::open(&url).await.unwrap());
        let book: CompiledBook<pb::EscalationPolicy, Policy> =
            CompiledBook::new(store, escalation::compile);
        faults.fail(&["list_definitions"]);
        assert!(matches!(
            book.get(Uuid::new_v4()).await,
            Err(LoadError::Store(_))
        ));
    }
}

//! The compiled rule set: built from the stored rules and default actions when they
//! change and swapped in whole, so deciding never recompiles a regex or a CEL program.

use std::sync::Arc;

use crate::books::snapshot::Snapshot;
use crate::definitions::{routing, routing_defaults};
use crate::domain::routing::{CelEnv, Defaults, RuleSet};
use crate::pb::alerting::routing::v1 as pb;
use crate::store::{Store, StoreError};

/// The rule set routing decides with; actions stay in their wire form until the actors
/// that carry them out take them.
pub type CompiledRules = RuleSet<pb::RoutingAction>;

#[derive(Clone)]
pub struct RuleBook {
    store: Arc<dyn Store>,
    env: CelEnv,
    current: Arc<Snapshot<Compiled>>,
}

/// What a reload builds: the rule set, and the rules that no longer compile (saved by
/// an older version, say), by name and why.
struct Compiled {
    rules: Arc<CompiledRules>,
    broken: Vec<String>,
}

impl RuleBook {
    pub async fn load(store: Arc<dyn Store>) -> Result<RuleBook, StoreError> {
        let book = RuleBook {
            store,
            env: CelEnv::new(),
            current: Arc::new(Snapshot::new(Compiled {
                rules: Arc::new(RuleSet::new(Vec::new(), Defaults::none(), CelEnv::new())),
                broken: Vec::new(),
            })),
        };
        book.reload().await?;
        Ok(book)
    }

    pub fn env(&self) -> &CelEnv {
        &self.env
    }

    /// The rule set in force now.
    pub fn current(&self) -> Arc<CompiledRules> {
        self.current.current().rules.clone()
    }

    /// Rules that could not be compiled when the set was built.
    pub fn broken(&self) -> Vec<String> {
        self.current.current().broken.clone()
    }

    /// Rebuilds the set from the store and swaps it in.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let mut rules = Vec::new();
        let mut broken = Vec::new();
        for stored in self.store.list_rules().await? {
            match routing::decode_and_compile(&stored, &self.env) {
                Ok(rule) => rules.push(rule),
                Err(why) => broken.push(format!("rule {:?} is skipped: {why}", stored.name)),
            }
        }
        let body = self.store.get_document(routing_defaults::DOCUMENT).await?;
        let defaults = match routing_defaults::decode(body.as_deref())
            .and_then(|d| routing_defaults::compile(&d).map_err(|e| e.to_string()))
        {
            Ok(defaults) => defaults,
            Err(why) => {
                broken.push(format!("default actions are skipped: {why}"));
                Defaults::none()
            }
        };
        self.current.replace(Compiled {
            rules: Arc::new(RuleSet::new(rules, defaults, self.env.clone())),
            broken,
        });
        Ok(())
    }
}

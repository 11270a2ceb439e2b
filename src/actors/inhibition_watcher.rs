//! The inhibition watcher: lets go of what a source alert held when it resolves (the
//! held alerts still firing are routed as if new), and squares the holds with the rules
//! when they change or when it may have missed a resolve.
//!
//! It follows the engine's change stream. That stream may drop changes under load
//! (`Lagged`); it then asks the store which sources have resolved, so a missed resolve
//! delays a release, never loses it. At start it releases what sources that resolved
//! while the server was down still hold.

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Engine;
use super::router::Router;
use crate::books::inhibitions::InhibitionBook;
use crate::domain::alert::{ACTOR_ROUTING, Alert, AlertStatus};
use crate::domain::holder::Holder;
use crate::domain::inhibition::InhibitionRule;
use crate::domain::lifecycle::Command;
use crate::store::{AlertQuery, Store};

/// Open alerts read per page while looking for targets.
const PAGE: i64 = 1_000;

pub struct InhibitionWatcher {
    pub store: Arc<dyn Store>,
    pub book: InhibitionBook,
    pub engine: Engine,
    pub router: Router,
    pub shutdown: CancellationToken,
}

impl InhibitionWatcher {
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(self) {
        let mut changes = self.engine.watch();
        self.reconcile().await;
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                () = self.book.changed() => {
                    self.reconcile().await;
                    self.hold_for_every_source().await;
                }
                change = changes.recv() => match change {
                    Ok(change) if change.status == Some(AlertStatus::Resolved) => {
                        if self.book.remove_source(change.alert.id) {
                            self.release_all(change.alert.id).await;
                        }
                    }
                    Ok(_) => {}
                    // Storms overrun the stream often; with no rules there is nothing to
                    // check, and a rule change squares the holds anyway.
                    Err(RecvError::Lagged(missed)) if self.book.has_rules() => {
                        tracing::debug!(missed, "inhibition watcher fell behind; checking sources in the store");
                        self.forget_resolved_sources().await;
                        self.reconcile().await;
                    }
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    /// Drops the sources the store says are no longer open.
    async fn forget_resolved_sources(&self) {
        let sources = self.book.sources();
        let open: Vec<Uuid> = match self.store.get_alerts(&sources).await {
            Ok(alerts) => alerts
                .into_iter()
                .filter(|a| a.status != AlertStatus::Resolved)
                .map(|a| a.id)
                .collect(),
            Err(error) => {
                tracing::error!(%error, "could not check inhibition sources");
                return;
            }
        };
        for source in sources.into_iter().filter(|s| !open.contains(s)) {
            self.book.remove_source(source);
        }
    }

    /// Releases every held alert whose hold no longer stands: its source is gone, or no
    /// rule makes that source inhibit it any more.
    async fn reconcile(&self) {
        let holders = match self.store.holders(Holder::INHIBITOR_PREFIX).await {
            Ok(holders) => holders,
            Err(error) => {
                tracing::error!(%error, "could not list inhibition holds");
                return;
            }
        };
        for holder in holders {
            let Some(Holder::Inhibitor(source)) = Holder::parse(&holder) else {
                continue;
            };
            if !self.book.is_source(source) {
                self.release_all(source).await;
                continue;
            }
            let held = match self.store.held_by(&holder).await {
                Ok(ids) => ids,
                Err(error) => {
                    tracing::error!(%error, %source, "could not list held alerts");
                    continue;
                }
            };
            let alerts = match self.store.get_alerts(&held).await {
                Ok(alerts) => alerts,
                Err(error) => {
                    tracing::error!(%error, %source, "could not read held alerts");
                    continue;
                }
            };
            for alert in alerts {
                if self.book.inhibitor(alert.id, &alert.labels).is_none() {
                    self.release(alert.id).await;
                }
            }
        }
    }

    /// After the rules change, every open source holds the open targets it now covers.
    async fn hold_for_every_source(&self) {
        let sources = match self.store.get_alerts(&self.book.sources()).await {
            Ok(sources) => sources,
            Err(error) => {
                tracing::error!(%error, "could not read inhibition sources");
                return;
            }
        };
        for source in sources {
            let rules = self.book.add_source(source.id, &source.labels);
            hold_targets(&*self.store, &self.engine, &source, &rules).await;
        }
    }

    async fn release_all(&self, source: Uuid) {
        match self
            .store
            .held_by(&Holder::Inhibitor(source).to_string())
            .await
        {
            Ok(held) => {
                for id in held {
                    self.release(id).await;
                }
            }
            Err(error) => tracing::error!(%error, %source, "could not list held alerts"),
        }
    }

    /// Lets go of one held alert and routes it as new; routing holds it again if another
    /// open source still inhibits it.
    async fn release(&self, id: Uuid) {
        let command = Command::Unsuppress {
            by: ACTOR_ROUTING.into(),
            reason: "the inhibiting alert resolved".into(),
        };
        match self.engine.command(id, command).await {
            Ok(_) => self.router.route(id).await,
            Err(error) => tracing::warn!(alert = %id, %error, "could not release an alert"),
        }
    }
}

/// Holds the open, unacknowledged alerts that `source` inhibits under `rules`.
pub async fn hold_targets(
    store: &dyn Store,
    engine: &Engine,
    source: &Alert,
    rules: &[InhibitionRule],
) {
    for rule in rules {
        // The equal labels that have a value narrow the search in the store; a label
        // missing on the source must be missing on the target too, checked below.
        let key = rule.key(&source.labels);
        let labels: std::collections::BTreeMap<String, String> = rule
            .equal
            .iter()
            .zip(&key)
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let mut offset = 0;
        loop {
            let query = AlertQuery {
                statuses: vec![AlertStatus::Triggered],
                labels: labels.clone(),
                limit: PAGE,
                offset,
                ..AlertQuery::default()
            };
            let page = match store.list_alerts(&query).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(%error, rule = %rule.name, "could not list alerts to inhibit");
                    break;
                }
            };
            let count = page.items.len();
            let mut held = 0;
            for target in page.items.iter().filter(|t| {
                t.id != source.id && rule.is_target(&t.labels) && rule.key(&t.labels) == key
            }) {
                let command = Command::Suppress {
                    by: ACTOR_ROUTING.into(),
                    reason: format!(
                        "inhibited by alert {} (inhibition rule {:?})",
                        source.id, rule.name
                    ),
                    held_by: Some(Holder::Inhibitor(source.id)),
                };
                match engine.apply(target, command).await {
                    Ok(()) => held += 1,
                    Err(error) => {
                        tracing::warn!(alert = %target.id, %error, "could not inhibit an alert")
                    }
                }
            }
            if (count as i64) < PAGE {
                break;
            }
            // Held alerts (committed before `apply` returns) left the triggered set, so
            // the next page starts past the ones left behind.
            offset += (count - held) as i64;
        }
    }
}

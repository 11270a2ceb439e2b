//! The enrichment book: the reference data (sites, tiers, equipment types, carriers)
//! compiled into one snapshot, rebuilt from the store whenever one of them changes and
//! swapped in whole. Enriching an alert reads the snapshot: no database round trip and
//! no pattern compiled per alert.

use std::sync::Arc;

use crate::books::snapshot::Snapshot;
use crate::definitions::{
    Definition, Definitions, Invalid, LoadError, carrier, customer_tier, equipment_type, site,
};
use crate::domain::alert::Alert;
use crate::domain::enrich::{Enrichment, ReferenceData};
use crate::domain::incoming::{IncomingAlert, SenderState};
use crate::domain::routing::RoutedAlert;
use crate::store::Store;

#[derive(Clone)]
pub struct EnrichmentBook {
    store: Arc<dyn Store>,
    current: Arc<Snapshot<ReferenceData>>,
}

impl EnrichmentBook {
    pub async fn load(store: Arc<dyn Store>) -> Result<EnrichmentBook, LoadError> {
        let book = EnrichmentBook {
            store,
            current: Arc::new(Snapshot::new(ReferenceData::default())),
        };
        book.reload().await?;
        Ok(book)
    }

    /// The snapshot in force now.
    pub fn current(&self) -> Arc<ReferenceData> {
        self.current.current()
    }

    /// Rebuilds the snapshot from the store and swaps it in. An entity that no longer
    /// compiles (saved by an older version, say) is left out and logged.
    pub async fn reload(&self) -> Result<(), LoadError> {
        let data = ReferenceData::new(
            self.compiled(site::compile).await?,
            self.compiled(customer_tier::compile).await?,
            self.compiled(equipment_type::compile).await?,
            self.compiled(carrier::compile).await?,
        );
        self.current.replace(data);
        Ok(())
    }

    async fn compiled<M: Definition, T>(
        &self,
        compile: fn(&M) -> Result<T, Invalid>,
    ) -> Result<Vec<T>, LoadError> {
        let stored = Definitions::<M>::new(self.store.clone()).list().await?;
        Ok(stored
            .iter()
            .filter_map(|entity| match compile(entity) {
                Ok(compiled) => Some(compiled),
                Err(why) => {
                    tracing::warn!(
                        kind = M::NOUN,
                        name = entity.stored_name(),
                        reason = %why,
                        "left out of enrichment"
                    );
                    None
                }
            })
            .collect())
    }

    /// A stored alert as routing sees it, with the reference entities its enrichment
    /// labels name.
    pub fn routed(&self, alert: &Alert) -> RoutedAlert {
        let mut routed = RoutedAlert::of(alert);
        routed.reference = self.current().facts_of(&alert.labels);
        routed
    }
}

/// Enriches a firing alert in place; what a sender resolves or acknowledges is left as
/// it came (it changes an alert that was enriched when it opened).
pub fn enrich(data: &ReferenceData, alert: &mut IncomingAlert) {
    if alert.state != SenderState::Firing {
        return;
    }
    Enrichment::of(data, &alert.labels, alert.severity).apply(
        &mut alert.labels,
        &mut alert.annotations,
        &mut alert.severity,
    );
}

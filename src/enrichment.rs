//! The enrichment book: the reference data (sites, tiers, equipment types, carriers)
//! compiled into one snapshot, rebuilt from the store whenever one of them changes and
//! swapped in whole. Enriching an alert reads the snapshot: no database round trip and
//! no pattern compiled per alert.

use std::sync::{Arc, RwLock};

use tonic::Status;

use crate::domain::alert::Alert;
use crate::domain::enrich::{Enrichment, ReferenceData};
use crate::domain::incoming::{IncomingAlert, SenderState};
use crate::domain::routing::RoutedAlert;
use crate::grpc::definitions::{Definition, Definitions};
use crate::grpc::routing::routed_from_domain;
use crate::grpc::{carriers, customer_tiers, equipment_types, sites};
use crate::store::Store;

#[derive(Clone)]
pub struct EnrichmentBook {
    store: Arc<dyn Store>,
    current: Arc<RwLock<Arc<ReferenceData>>>,
}

impl EnrichmentBook {
    pub async fn load(store: Arc<dyn Store>) -> Result<EnrichmentBook, Status> {
        let book = EnrichmentBook {
            store,
            current: Arc::new(RwLock::new(Arc::new(ReferenceData::default()))),
        };
        book.reload().await?;
        Ok(book)
    }

    /// The snapshot in force now.
    pub fn current(&self) -> Arc<ReferenceData> {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Rebuilds the snapshot from the store and swaps it in. An entity that no longer
    /// compiles (saved by an older version, say) is left out and logged.
    pub async fn reload(&self) -> Result<(), Status> {
        let data = ReferenceData::new(
            self.compiled(sites::compile).await?,
            self.compiled(customer_tiers::compile).await?,
            self.compiled(equipment_types::compile).await?,
            self.compiled(carriers::compile).await?,
        );
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(data);
        }
        Ok(())
    }

    async fn compiled<M: Definition, T>(
        &self,
        compile: fn(&M) -> Result<T, Status>,
    ) -> Result<Vec<T>, Status> {
        let stored = Definitions::<M>::new(self.store.clone()).list().await?;
        Ok(stored
            .iter()
            .filter_map(|entity| match compile(entity) {
                Ok(compiled) => Some(compiled),
                Err(why) => {
                    tracing::warn!(
                        kind = M::NOUN,
                        name = entity.stored_name(),
                        reason = why.message(),
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
        let mut routed = routed_from_domain(alert);
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

//! The maintenance window book: the compiled windows routing consults before its rules,
//! rebuilt from the store when a window changes and swapped in whole. The maintenance
//! watcher follows its changes.

use std::sync::Arc;

use super::snapshot::{Changes, Snapshot};
use crate::definitions::maintenance;
use crate::domain::maintenance::MaintenanceWindow;
use crate::store::{Kind, Store, StoreError};

/// The compiled windows routing consults, rebuilt and swapped when a window changes.
#[derive(Clone)]
pub struct WindowBook {
    store: Arc<dyn Store>,
    windows: Arc<Snapshot<Vec<MaintenanceWindow>>>,
}

impl WindowBook {
    pub async fn load(store: Arc<dyn Store>) -> Result<WindowBook, StoreError> {
        let book = WindowBook {
            store,
            windows: Arc::new(Snapshot::new(Vec::new())),
        };
        book.reload().await?;
        Ok(book)
    }

    pub fn current(&self) -> Arc<Vec<MaintenanceWindow>> {
        self.windows.current()
    }

    pub async fn reload(&self) -> Result<(), StoreError> {
        let mut windows = Vec::new();
        for stored in self.store.list_definitions(Kind::MaintenanceWindow).await? {
            match maintenance::decode(&stored)
                .map_err(|e| e.to_string())
                .and_then(|w| maintenance::compile(&w, stored.id).map_err(|e| e.to_string()))
            {
                Ok(window) => windows.push(window),
                Err(why) => {
                    tracing::error!(window = %stored.id, %why, "maintenance window skipped")
                }
            }
        }
        self.windows.replace(windows);
        Ok(())
    }

    /// Follows the changes to the windows from now on.
    pub fn changes(&self) -> Changes {
        self.windows.changes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_change_that_lands_while_the_watcher_is_busy_wakes_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/oncall.db", dir.path().display());
        let book = WindowBook::load(crate::store::open(&url).await.unwrap())
            .await
            .unwrap();
        let mut changes = book.changes();
        // The watcher is holding or releasing alerts, not waiting, when this lands.
        book.reload().await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), changes.changed())
            .await
            .expect("the change is seen at the next wait, not after the 60 s sleep");
    }
}

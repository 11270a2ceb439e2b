//! The maintenance watcher: acts when windows open and close. A window that opens
//! suppresses the matching open, unacknowledged alerts too; a window that closes (or is
//! deleted) lets go of the alerts it held, and those still firing are routed as if new.
//!
//! It sleeps until the next transition of any window (tokio time), or until the window
//! book changes, then compares which windows are active with what it saw last.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Engine;
use super::router::Router;
use crate::books::WindowBook;
use crate::domain::alert::{ACTOR_ROUTING, AlertStatus};
use crate::domain::holder::Holder;
use crate::domain::lifecycle::Command;
use crate::domain::maintenance::{MaintenanceAction, MaintenanceWindow};
use crate::domain::routing::RoutedAlert;
use crate::store::{AlertQuery, Store};

/// Longest sleep between checks, so a clock step is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(60);

pub struct MaintenanceWatcher {
    pub store: Arc<dyn Store>,
    pub windows: WindowBook,
    pub engine: Engine,
    pub router: Router,
    pub shutdown: CancellationToken,
}

impl MaintenanceWatcher {
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(self) {
        let mut changes = self.windows.changes();
        // Windows already active at start have held what they should: routing checked
        // them for every alert while they were active.
        let mut active: BTreeSet<Uuid> = self
            .windows
            .current()
            .iter()
            .filter(|w| w.active_at(crate::clock::now()))
            .map(|w| w.id)
            .collect();
        loop {
            let now = crate::clock::now();
            let windows = self.windows.current();
            let next = windows
                .iter()
                .filter_map(|w| w.next_transition(now))
                .min()
                .and_then(|t| (t - now).to_std().ok())
                .map_or(MAX_SLEEP, |d| d.min(MAX_SLEEP));
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                () = changes.changed() => {}
                () = tokio::time::sleep(next + Duration::from_millis(5)) => {}
            }
            let now = crate::clock::now();
            let windows = self.windows.current();
            let current: BTreeSet<Uuid> = windows
                .iter()
                .filter(|w| w.active_at(now))
                .map(|w| w.id)
                .collect();
            for opened in windows
                .iter()
                .filter(|w| current.contains(&w.id) && !active.contains(&w.id))
            {
                if opened.action == MaintenanceAction::Suppress {
                    self.hold(opened).await;
                }
            }
            for closed in active.difference(&current) {
                self.release(*closed).await;
            }
            active = current;
        }
    }

    /// Suppresses the open, unacknowledged alerts a window that just opened covers.
    async fn hold(&self, window: &MaintenanceWindow) {
        let mut offset = 0;
        loop {
            let query = AlertQuery {
                statuses: vec![AlertStatus::Triggered],
                limit: 1_000,
                offset,
                ..AlertQuery::default()
            };
            let page = match self.store.list_alerts(&query).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(%error, window = %window.name, "could not list alerts to hold");
                    return;
                }
            };
            let count = page.items.len();
            let mut held = 0;
            for alert in &page.items {
                if window.covers(&RoutedAlert::of(alert), alert.service_id) {
                    let command = Command::Suppress {
                        by: ACTOR_ROUTING.into(),
                        reason: format!("maintenance window {:?} opened", window.name),
                        held_by: Some(Holder::Window(window.id)),
                    };
                    match self.engine.apply(alert, command).await {
                        Ok(()) => held += 1,
                        Err(error) => {
                            tracing::warn!(alert = %alert.id, %error, "could not hold an alert")
                        }
                    }
                }
            }
            if count < 1_000 {
                return;
            }
            // Held alerts (committed before `apply` returns) left the triggered set, so
            // the next page starts past the ones left behind.
            offset += (count - held) as i64;
        }
    }

    /// Lets go of what a closed window held; still-firing alerts are routed as new.
    async fn release(&self, window: Uuid) {
        let held = match self
            .store
            .held_by(&Holder::Window(window).to_string())
            .await
        {
            Ok(held) => held,
            Err(error) => {
                tracing::error!(%error, %window, "could not list held alerts");
                return;
            }
        };
        for id in held {
            let command = Command::Unsuppress {
                by: ACTOR_ROUTING.into(),
                reason: "maintenance window closed".into(),
            };
            match self.engine.command(id, command).await {
                Ok(_) => self.router.route(id).await,
                Err(error) => tracing::warn!(alert = %id, %error, "could not release an alert"),
            }
        }
    }
}

//! The suppression expiry watcher: a suppress action with a duration holds its alert
//! until then; at the end the alert is let go and, if it still fires, routed again with
//! that rule's suppress action skipped, so its other actions (a page, say) run late
//! rather than never.
//!
//! The end of each hold is written into the holder (`rule:<id>:until:<unix seconds>`),
//! so the watcher finds every timed hold in the store, after a restart too. It sleeps
//! until the earliest end (tokio time) or until routing makes a new timed hold.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Engine;
use super::router::Router;
use crate::domain::alert::ACTOR_ROUTING;
use crate::domain::holder::Holder;
use crate::domain::lifecycle::Command;
use crate::store::Store;

/// Longest sleep between looks at the store, so a clock step is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(60);

pub struct SuppressionExpiry {
    pub store: Arc<dyn Store>,
    pub engine: Engine,
    pub router: Router,
    /// Routing tells this when it makes a timed hold.
    pub timed_holds: Arc<Notify>,
    pub shutdown: CancellationToken,
}

impl SuppressionExpiry {
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(self) {
        loop {
            let next = self.release_expired().await;
            let sleep = next
                .and_then(|at| (at - crate::clock::now()).to_std().ok())
                .map_or(MAX_SLEEP, |d| d.min(MAX_SLEEP));
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                () = self.timed_holds.notified() => {}
                () = tokio::time::sleep(sleep + Duration::from_millis(5)) => {}
            }
        }
    }

    /// Lets go of every hold that has ended; returns when the next one ends.
    async fn release_expired(&self) -> Option<DateTime<Utc>> {
        let holders = match self.store.holders(Holder::RULE_PREFIX).await {
            Ok(holders) => holders,
            Err(error) => {
                tracing::error!(%error, "could not list timed suppressions");
                return None;
            }
        };
        let now = crate::clock::now();
        let mut next: Option<DateTime<Utc>> = None;
        for holder in holders {
            let Some(Holder::Rule {
                rule,
                until: Some(until),
            }) = Holder::parse(&holder)
            else {
                continue;
            };
            if until > now {
                next = Some(next.map_or(until, |n| n.min(until)));
                continue;
            }
            let held = match self.store.held_by(&holder).await {
                Ok(held) => held,
                Err(error) => {
                    tracing::error!(%error, %holder, "could not list held alerts");
                    continue;
                }
            };
            for id in held {
                let command = Command::Unsuppress {
                    by: ACTOR_ROUTING.into(),
                    reason: "the rule's suppression ended".into(),
                };
                match self.engine.command(id, command).await {
                    Ok(_) => self.router.route_after_suppression(id, rule).await,
                    Err(error) => {
                        tracing::warn!(alert = %id, %error, "could not end a suppression")
                    }
                }
            }
        }
        next
    }
}

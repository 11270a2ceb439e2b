//! Service timeouts: a service's ack timeout (an acknowledged alert not resolved in time
//! is triggered again and its escalation restarts) and auto-resolve (an open alert whose
//! source has been silent for the set time is resolved).
//!
//! Both are found by asking the store, once a second, for each service that sets one:
//! the deadlines follow from stored times (`acknowledged_at`, `last_seen_at`), so a
//! restart loses none, and an alert acknowledged again or seen again is simply not found.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Engine;
use super::escalation::EscalationActors;
use crate::books::service_defaults::ServiceDefaults;
use crate::domain::alert::{ACTOR_SYSTEM, Alert};
use crate::domain::catalog::Service;
use crate::domain::lifecycle::Command;
use crate::store::Store;

/// How often the store is asked; the lateness of either action is at most this.
const TICK: Duration = Duration::from_secs(1);
/// Alerts handled per service per tick, so one storm's auto-resolve cannot starve the
/// rest; the next tick takes the next batch.
const BATCH: i64 = 500;
/// Services read per tick.
const MAX_SERVICES: i64 = 10_000;

pub struct ServiceTimeouts {
    pub store: Arc<dyn Store>,
    pub engine: Engine,
    pub escalations: EscalationActors,
    pub defaults: ServiceDefaults,
    pub shutdown: CancellationToken,
}

impl ServiceTimeouts {
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let services = match self.store.list_services(None, MAX_SERVICES, 0).await {
                Ok(page) => page.items,
                Err(error) => {
                    tracing::warn!(%error, "could not read services for their timeouts");
                    continue;
                }
            };
            for service in &services {
                if let Some(timeout) = service.ack_timeout {
                    self.retrigger_stale(service, timeout).await;
                }
                if let Some(after) = service.auto_resolve_after {
                    self.resolve_silent(service, after).await;
                }
            }
        }
    }

    async fn retrigger_stale(&self, service: &Service, timeout: Duration) {
        let Some(before) = chrono::Duration::from_std(timeout)
            .ok()
            .map(|t| crate::clock::now() - t)
        else {
            return;
        };
        let stale = match self
            .store
            .stale_acknowledgements(service.id, before, BATCH)
            .await
        {
            Ok(stale) => stale,
            Err(error) => {
                tracing::warn!(service = %service.id, %error, "could not look for stale acknowledgements");
                return;
            }
        };
        for alert in stale {
            let command = Command::Retrigger {
                by: ACTOR_SYSTEM.into(),
                reason: format!(
                    "acknowledged by {} but not resolved within the service's ack timeout of {}s: triggered again",
                    alert.acknowledged_by.as_deref().unwrap_or("someone"),
                    timeout.as_secs()
                ),
            };
            if let Err(error) = self.engine.apply(&alert, command).await {
                tracing::warn!(alert = %alert.id, %error, "could not trigger an alert again");
                continue;
            }
            self.restart_escalation(&alert).await;
        }
    }

    /// The alert's chains start over in a new generation; an alert that never escalated
    /// starts its service's default policy, if there is one.
    async fn restart_escalation(&self, alert: &Alert) {
        match self.escalations.restart(alert.id).await {
            Ok(started) if !started.is_empty() => {}
            Ok(_) => {
                if let Some(policy) = self.defaults.policy_for(alert.service_id).await
                    && let Err(why) = self.escalations.start(alert.id, policy).await
                {
                    tracing::warn!(alert = %alert.id, %why, "could not escalate an alert triggered again");
                }
            }
            Err(why) => {
                tracing::warn!(alert = %alert.id, %why, "could not restart an alert's escalation");
            }
        }
    }

    async fn resolve_silent(&self, service: &Service, after: Duration) {
        let Some(before) = chrono::Duration::from_std(after)
            .ok()
            .map(|t| crate::clock::now() - t)
        else {
            return;
        };
        let silent = match self.store.silent_alerts(service.id, before, BATCH).await {
            Ok(silent) => silent,
            Err(error) => {
                tracing::warn!(service = %service.id, %error, "could not look for silent alerts");
                return;
            }
        };
        for alert in silent {
            let command = Command::Resolve {
                by: ACTOR_SYSTEM.into(),
                note: Some(format!(
                    "auto-resolved: the source has been silent for {}s",
                    after.as_secs()
                )),
            };
            if let Err(error) = self.engine.apply(&alert, command).await {
                tracing::warn!(alert = %alert.id, %error, "could not auto-resolve an alert");
            }
        }
    }
}

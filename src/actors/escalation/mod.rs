//! Escalation actors: an `EscalationSupervisor` and one `ChainActor` per active chain,
//! owning that chain's step timer (tokio time).
//!
//! Firing a step: the actor reads the alert (an acknowledged, resolved or suppressed
//! alert stops the chain: no page after the ack is stored), moves the chain on with the
//! pure `Chain::fire`, stores the moved chain together with the step's pages (each
//! `pending`, keyed so one step never pages one target twice), and only then delivers
//! the pages and marks each one's outcome. A crash between storing and delivering
//! leaves pages `pending`; the restarted actor delivers those once. At start the
//! supervisor brings back every active chain, soonest due first; an overdue step fires
//! at once.
//!
//! Acks and resolves reach the supervisor from the engine's change stream; when that
//! stream drops changes, the actors still read the alert before every page.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorRef};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

mod chain;
mod supervisor;

use super::Engine;
use crate::books::PolicyBook;
use crate::domain::alert::{Alert, AlertStatus};
use crate::domain::escalation::{Chain, Policy};
use crate::paging::Pager;
use supervisor::EscalationSupervisor;
pub use supervisor::SupervisorMsg;

/// Who escalation writes as on an alert's timeline.
pub const ACTOR_ESCALATION: &str = "escalation";
/// How long a caller waits for the supervisor.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest timer sleep, so a clock step is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub struct EscalationDeps {
    pub pager: Pager,
    /// Every policy, compiled: a step reads its policy without a store read.
    pub policies: Arc<PolicyBook>,
    pub engine: Engine,
    /// A chain whose next step (or SLA deadline) is further off than this gives up its
    /// actor and waits in the supervisor's timer queue (the alert actors' idle time).
    pub idle_after: Duration,
}

/// The handle the API and routing use.
#[derive(Clone)]
pub struct EscalationActors {
    supervisor: ActorRef<SupervisorMsg>,
}

impl EscalationActors {
    pub async fn start_all(
        deps: EscalationDeps,
        shutdown: CancellationToken,
    ) -> Result<(EscalationActors, ActorRef<SupervisorMsg>), ractor::SpawnErr> {
        let (supervisor, _) = Actor::spawn(None, EscalationSupervisor, deps.clone()).await?;
        tokio::spawn(follow_acks(deps, supervisor.clone(), shutdown));
        Ok((
            EscalationActors {
                supervisor: supervisor.clone(),
            },
            supervisor,
        ))
    }

    /// Starts a chain for an open alert on a policy, or returns the one it has.
    pub async fn start(&self, alert: Uuid, policy: Uuid) -> Result<Chain, String> {
        match self
            .supervisor
            .call(
                |reply| SupervisorMsg::Start {
                    alert,
                    policy,
                    reply: Some(reply),
                },
                Some(CALL_TIMEOUT),
            )
            .await
        {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            _ => Err("the escalation supervisor did not answer".into()),
        }
    }

    /// Restarts an alert's chains after it was triggered again: each policy it had a
    /// chain on starts over at step 1 in a new generation, so its pages are new pages.
    /// Returns the chains started (none when the alert never escalated).
    pub async fn restart(&self, alert: Uuid) -> Result<Vec<Chain>, String> {
        match self
            .supervisor
            .call(
                |reply| SupervisorMsg::Restart { alert, reply },
                Some(CALL_TIMEOUT),
            )
            .await
        {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            _ => Err("the escalation supervisor did not answer".into()),
        }
    }

    /// Stops every chain of an alert and waits until they are stored as stopped.
    pub async fn stop(&self, alert: Uuid) {
        let _ = self
            .supervisor
            .call(
                |reply| SupervisorMsg::StopAlert {
                    alert,
                    reply: Some(reply),
                },
                Some(CALL_TIMEOUT),
            )
            .await;
    }

    /// Fires every active chain's pending step of an alert now.
    pub fn escalate_now(&self, alert: Uuid) {
        let _ = self.supervisor.cast(SupervisorMsg::EscalateNow(alert));
    }
}

/// Stops an alert's chains when it is acknowledged, resolved or suppressed.
async fn follow_acks(
    deps: EscalationDeps,
    supervisor: ActorRef<SupervisorMsg>,
    shutdown: CancellationToken,
) {
    let mut changes = deps.engine.watch();
    loop {
        let change = tokio::select! {
            () = shutdown.cancelled() => return,
            change = changes.recv() => change,
        };
        match change {
            Ok(change)
                if matches!(
                    change.status,
                    Some(
                        AlertStatus::Acknowledged | AlertStatus::Resolved | AlertStatus::Suppressed
                    )
                ) =>
            {
                let _ = supervisor.cast(SupervisorMsg::StopAlert {
                    alert: change.alert.id,
                    reply: None,
                });
            }
            Ok(_) => {}
            // Each actor reads its alert before it pages, so a missed ack still stops it.
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "escalation fell behind the change stream");
            }
            Err(RecvError::Closed) => return,
        }
    }
}
/// None when no such policy is stored; an error when it could not be read or no longer
/// compiles, which is never taken for "gone": the caller tries again later.
async fn load_policy(
    deps: &EscalationDeps,
    id: Uuid,
    alert: &Alert,
) -> Result<Option<Policy>, String> {
    let Some(policy) = deps
        .policies
        .get(id)
        .await
        .map_err(|error| format!("escalation policy {id}: {error}"))?
    else {
        return Ok(None);
    };
    let tier = deps.engine.enrichment().routed(alert).reference.tier;
    Ok(Some(match tier {
        Some(tier) if tier.escalation_multiplier != 1.0 => {
            policy.scaled(tier.escalation_multiplier)
        }
        _ => Policy::clone(&policy),
    }))
}

/// When an unacknowledged alert breaches its customer tier's SLA: its receipt plus the
/// tier's response time for its severity; with a description for the timeline.
fn sla_deadline(deps: &EscalationDeps, alert: &Alert) -> Option<(DateTime<Utc>, String)> {
    let tier = deps.engine.enrichment().routed(alert).reference.tier?;
    let response = tier.response_time(alert.severity)?;
    let deadline = alert.created_at + chrono::Duration::from_std(response).ok()?;
    Some((
        deadline,
        format!(
            "unacknowledged past tier {:?}'s {}s response time for {} alerts; escalating to the next step",
            tier.name,
            response.as_secs(),
            alert.severity.as_str()
        ),
    ))
}

//! The escalation supervisor: one `ChainActor` per active chain with a live actor, and
//! one timer queue for the passive ones; restarts failed chains through that queue, with
//! a backoff while the store fails.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};
use uuid::Uuid;

use super::chain::{ChainActor, ChainMsg};
use super::{CALL_TIMEOUT, EscalationDeps, load_policy};
use crate::domain::alert::AlertStatus;
use crate::domain::backoff::Backoff;
use crate::domain::escalation::{Chain, ChainStatus};

pub enum SupervisorMsg {
    Start {
        alert: Uuid,
        policy: Uuid,
        reply: Option<RpcReplyPort<Result<Chain, String>>>,
    },
    StopAlert {
        alert: Uuid,
        reply: Option<RpcReplyPort<()>>,
    },
    Restart {
        alert: Uuid,
        reply: RpcReplyPort<Result<Vec<Chain>, String>>,
    },
    EscalateNow(Uuid),
    /// A chain's actor stops until `wake`: nothing is due before then.
    Passivate {
        chain: Uuid,
        alert: Uuid,
        wake: DateTime<Utc>,
    },
    /// The timer queue's earliest wake is due.
    Wake,
}

pub struct EscalationSupervisor;

pub struct SupervisorState {
    deps: EscalationDeps,
    /// Active chains with a live actor, by chain id, with their alert.
    chains: HashMap<Uuid, (Uuid, ActorRef<ChainMsg>)>,
    /// The same chains by their actor, so a supervision event finds its chain at once.
    by_actor: HashMap<ActorId, Uuid>,
    /// Active chains without one: their alert and when they must be woken.
    passive: HashMap<Uuid, (Uuid, DateTime<Utc>)>,
    /// The passive chains by wake time: the supervisor's one timer queue.
    wakes: BTreeSet<(DateTime<Utc>, Uuid)>,
    /// The earliest wake a timer is set for, so a later passivation sets none.
    armed_for: Option<DateTime<Utc>>,
    /// Chains whose activation the store failed, by failures in a row: each waits in
    /// the timer queue for a longer backoff before the next try.
    failed_activations: HashMap<Uuid, u32>,
}

impl SupervisorState {
    /// The chain no longer has a live actor.
    fn forget(&mut self, chain: Uuid) {
        if let Some((_, actor)) = self.chains.remove(&chain) {
            self.by_actor.remove(&actor.get_id());
        }
    }

    fn gauges(&self) {
        let metrics = self.deps.engine.metrics();
        metrics
            .chains_live
            .set(i64::try_from(self.chains.len()).unwrap_or(i64::MAX));
        metrics
            .chains_passive
            .set(i64::try_from(self.passive.len()).unwrap_or(i64::MAX));
    }
}

impl EscalationSupervisor {
    /// Spawns a chain's actor. With `settle`, an actor with nothing due soon passivates
    /// at once; without it (brought back for a command) it waits for that command.
    async fn spawn_chain(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        chain: Chain,
        settle: bool,
    ) -> Result<(), ActorProcessingErr> {
        let (id, alert) = (chain.id, chain.alert_id);
        let (actor, _) = Actor::spawn_linked(
            None,
            ChainActor,
            (chain, state.deps.clone(), myself.clone(), settle),
            myself.get_cell(),
        )
        .await?;
        state.by_actor.insert(actor.get_id(), id);
        state.chains.insert(id, (alert, actor));
        state.gauges();
        Ok(())
    }

    /// A chain's actor handed it back until `wake`.
    fn passivate(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        chain: Uuid,
        alert: Uuid,
        wake: DateTime<Utc>,
    ) {
        state.forget(chain);
        state.passive.insert(chain, (alert, wake));
        state.wakes.insert((wake, chain));
        if state.armed_for.is_none_or(|armed| wake < armed) {
            state.armed_for = Some(wake);
            let sleep = (wake - crate::clock::now())
                .to_std()
                .unwrap_or(Duration::ZERO);
            myself.send_after(sleep, || SupervisorMsg::Wake);
        }
        state.gauges();
    }

    /// Brings a passive chain back to a live actor, from the store.
    async fn activate(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        chain: Uuid,
        settle: bool,
    ) -> Result<Option<ActorRef<ChainMsg>>, ActorProcessingErr> {
        let Some((alert, wake)) = state.passive.remove(&chain) else {
            return Ok(state.chains.get(&chain).map(|(_, actor)| actor.clone()));
        };
        state.wakes.remove(&(wake, chain));
        state.gauges();
        let stored = match state.deps.pager.store.get_chain(chain).await {
            Ok(stored) => stored,
            Err(error) => {
                Self::activate_later(myself, state, chain, alert, &error);
                return Ok(None);
            }
        };
        state.failed_activations.remove(&chain);
        match stored {
            Some(stored) if stored.status == ChainStatus::Active => {
                Self::spawn_chain(myself, state, stored, settle).await?;
                Ok(state.chains.get(&chain).map(|(_, actor)| actor.clone()))
            }
            _ => Ok(None),
        }
    }

    /// The store could not give the chain back: it waits passive for a backoff that
    /// grows with each failure, then is tried again. It is never dropped.
    fn activate_later(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        chain: Uuid,
        alert: Uuid,
        error: &dyn std::fmt::Display,
    ) {
        let failures = state.failed_activations.entry(chain).or_default();
        *failures = failures.saturating_add(1);
        let delay = Backoff::STORE.delay(*failures);
        state
            .deps
            .engine
            .metrics()
            .store_retry("chain_activation", delay, error);
        let wake = crate::clock::now()
            + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(30));
        Self::passivate(myself, state, chain, alert, wake);
    }

    /// Wakes every passive chain that is due, and sets the timer for the next.
    async fn wake_due(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        state.armed_for = None;
        let now = crate::clock::now();
        let due: Vec<Uuid> = state
            .wakes
            .iter()
            .take_while(|(wake, _)| *wake <= now)
            .map(|(_, chain)| *chain)
            .collect();
        for chain in due {
            Self::activate(myself, state, chain, true).await?;
        }
        if let Some((next, _)) = state.wakes.first() {
            state.armed_for = Some(*next);
            let sleep = (*next - now).to_std().unwrap_or(Duration::ZERO);
            myself.send_after(sleep, || SupervisorMsg::Wake);
        }
        Ok(())
    }

    /// The alert's chains, live or passive, each with a live actor.
    async fn live_of_alert(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        alert: Uuid,
    ) -> Result<Vec<ActorRef<ChainMsg>>, ActorProcessingErr> {
        let passive: Vec<Uuid> = state
            .passive
            .iter()
            .filter(|(_, (a, _))| *a == alert)
            .map(|(chain, _)| *chain)
            .collect();
        for chain in passive {
            Self::activate(myself, state, chain, false).await?;
        }
        Ok(Self::of_alert(state, alert))
    }

    fn of_alert(state: &SupervisorState, alert: Uuid) -> Vec<ActorRef<ChainMsg>> {
        state
            .chains
            .values()
            .filter(|(a, _)| *a == alert)
            .map(|(_, actor)| actor.clone())
            .collect()
    }

    fn chain_of(state: &SupervisorState, cell: &ActorCell) -> Option<Uuid> {
        state.by_actor.get(&cell.get_id()).copied()
    }

    async fn start(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        alert_id: Uuid,
        policy_id: Uuid,
    ) -> Result<Chain, String> {
        let store = &state.deps.pager.store;
        let alert = store
            .get_alert(alert_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("alert {alert_id} not found"))?;
        if alert.status != AlertStatus::Triggered {
            return Err(format!(
                "alert {alert_id} is {}: only a triggered alert escalates",
                alert.status.as_str()
            ));
        }
        let policy = load_policy(&state.deps, policy_id, &alert)
            .await?
            .ok_or_else(|| format!("escalation policy {policy_id} not found"))?;
        let chain = Chain::start(Uuid::new_v4(), alert_id, &policy, 0, crate::clock::now());
        if !store
            .insert_chain(&chain)
            .await
            .map_err(|e| e.to_string())?
        {
            // One chain per alert and policy: answer with the one there is.
            return store
                .chains_of_alert(alert_id)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .find(|c| c.policy_id == policy_id && c.generation == chain.generation)
                .ok_or_else(|| "the alert's chain on this policy vanished".to_string());
        }
        Self::spawn_chain(myself, state, chain.clone(), true)
            .await
            .map_err(|e| e.to_string())?;
        Ok(chain)
    }
}

/// The policy as it runs for this alert: its waits scaled by the alert's customer tier.
impl EscalationSupervisor {
    async fn restart(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        alert_id: Uuid,
    ) -> Result<Vec<Chain>, String> {
        let store = state.deps.pager.store.clone();
        let alert = store
            .get_alert(alert_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("alert {alert_id} not found"))?;
        let chains = store
            .chains_of_alert(alert_id)
            .await
            .map_err(|e| e.to_string())?;
        // The newest generation of each policy the alert escalated on.
        let mut newest: HashMap<Uuid, i32> = HashMap::new();
        for chain in &chains {
            let generation = newest.entry(chain.policy_id).or_insert(chain.generation);
            *generation = (*generation).max(chain.generation);
        }
        let mut started = Vec::new();
        for (policy_id, generation) in newest {
            let active = chains.iter().any(|c| {
                c.policy_id == policy_id
                    && c.generation == generation
                    && c.status == ChainStatus::Active
            });
            if active {
                continue;
            }
            let Some(policy) = load_policy(&state.deps, policy_id, &alert).await? else {
                continue;
            };
            let chain = Chain::start(
                Uuid::new_v4(),
                alert_id,
                &policy,
                generation + 1,
                crate::clock::now(),
            );
            if store
                .insert_chain(&chain)
                .await
                .map_err(|e| e.to_string())?
            {
                Self::spawn_chain(myself, state, chain.clone(), true)
                    .await
                    .map_err(|e| e.to_string())?;
                started.push(chain);
            }
        }
        Ok(started)
    }
}

impl Actor for EscalationSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = EscalationDeps;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        deps: EscalationDeps,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut state = SupervisorState {
            deps,
            chains: HashMap::new(),
            by_actor: HashMap::new(),
            passive: HashMap::new(),
            wakes: BTreeSet::new(),
            armed_for: None,
            failed_activations: HashMap::new(),
        };
        // Soonest due first, so overdue steps catch up in the order they were due.
        for chain in state.deps.pager.store.active_chains().await? {
            Self::spawn_chain(&myself, &mut state, chain, true).await?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Start {
                alert,
                policy,
                reply,
            } => {
                let result = Self::start(&myself, state, alert, policy).await;
                if let Err(why) = &result {
                    tracing::warn!(%alert, %policy, %why, "escalation not started");
                }
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            SupervisorMsg::StopAlert { alert, reply } => {
                for actor in Self::live_of_alert(&myself, state, alert).await? {
                    let _ = actor.call(ChainMsg::Stop, Some(CALL_TIMEOUT)).await;
                }
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
            }
            SupervisorMsg::Restart { alert, reply } => {
                let result = Self::restart(&myself, state, alert).await;
                if let Err(why) = &result {
                    tracing::warn!(%alert, %why, "escalation not restarted");
                }
                let _ = reply.send(result);
            }
            SupervisorMsg::Passivate { chain, alert, wake } => {
                Self::passivate(&myself, state, chain, alert, wake);
            }
            SupervisorMsg::Wake => Self::wake_due(&myself, state).await?,
            SupervisorMsg::EscalateNow(alert) => {
                for actor in Self::live_of_alert(&myself, state, alert).await? {
                    let _ = actor.cast(ChainMsg::EscalateNow);
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match &event {
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                if let Some(chain) = Self::chain_of(state, cell) {
                    state.forget(chain);
                    state.gauges();
                }
            }
            SupervisionEvent::ActorFailed(cell, error) => {
                if let Some(chain) = Self::chain_of(state, cell)
                    && let Some((alert, _)) = state.chains.get(&chain).cloned()
                {
                    tracing::error!(%chain, %error, "chain actor failed; restarting it from the store");
                    // Restarted through the timer queue, like a passive chain coming due:
                    // a restart the store fails is tried again with a backoff.
                    let wake = crate::clock::now() + chrono::Duration::milliseconds(200);
                    Self::passivate(&myself, state, chain, alert, wake);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

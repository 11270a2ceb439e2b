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

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Engine;
use crate::books::PolicyBook;
use crate::domain::alert::{Alert, AlertStatus, TimelineKind};
use crate::domain::backoff::Backoff;
use crate::domain::escalation::{Chain, ChainStatus, Exhausted, Fired, Policy, Target};
use crate::domain::lifecycle::Command;
use crate::domain::routing::{CelActivation, CelEnv};
use crate::paging::{Pager, PagingError, Recipient};
use crate::store::StoredPage;

/// A page's outcome until delivery answers.
const PENDING: &str = "pending";
/// The outcome of a page row standing for a schedule or team that had nobody on call.
const NOBODY_ON_CALL: &str = "nobody on call";

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

pub enum ChainMsg {
    /// The step timer fired.
    Fire,
    /// EscalateAlert: fire the pending step now.
    EscalateNow,
    /// The alert was acknowledged, resolved or suppressed, or StopEscalation.
    Stop(RpcReplyPort<()>),
    /// The alert's customer-tier SLA deadline passed.
    SlaDue,
}

pub struct ChainActor;

pub struct ChainState {
    chain: Chain,
    deps: EscalationDeps,
    supervisor: ActorRef<SupervisorMsg>,
    timer: Option<JoinHandle<()>>,
    sla_timer: Option<JoinHandle<()>>,
    /// When the SLA timer fires, while it is set.
    sla_at: Option<DateTime<Utc>>,
    /// Tries of the pending step the store failed in a row: the next waits longer.
    failures: u32,
}

impl Drop for ChainState {
    fn drop(&mut self) {
        for timer in [self.timer.take(), self.sla_timer.take()]
            .into_iter()
            .flatten()
        {
            timer.abort();
        }
    }
}

impl ChainState {
    fn arm(&mut self, myself: &ActorRef<ChainMsg>) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
        let Some(at) = self.chain.next_fire_at else {
            return;
        };
        let sleep = (at - crate::clock::now())
            .to_std()
            .map_or(Duration::ZERO, |d| d.min(MAX_SLEEP));
        let me = myself.clone();
        self.timer = Some(tokio::spawn(async move {
            tokio::time::sleep(sleep).await;
            let _ = me.cast(ChainMsg::Fire);
        }));
    }

    /// When nothing is due for longer than the idle time: the wake time (the next step
    /// or the SLA deadline, whichever is first). A due step keeps the actor.
    fn idle_until(&self) -> Option<DateTime<Utc>> {
        let next = self.chain.next_fire_at?;
        let wake = self.sla_at.map_or(next, |sla| sla.min(next));
        let idle_after = chrono::Duration::from_std(self.deps.idle_after).ok()?;
        (wake - crate::clock::now() > idle_after).then_some(wake)
    }

    /// Sleeps until the alert's SLA deadline, if its tier sets one for its severity.
    fn arm_sla(&mut self, myself: &ActorRef<ChainMsg>, alert: &Alert) {
        let Some((deadline, _)) = sla_deadline(&self.deps, alert) else {
            return;
        };
        self.sla_at = Some(deadline);
        let sleep = (deadline - crate::clock::now())
            .to_std()
            .map_or(Duration::ZERO, |d| d.min(MAX_SLEEP));
        let me = myself.clone();
        self.sla_timer = Some(tokio::spawn(async move {
            tokio::time::sleep(sleep).await;
            let _ = me.cast(ChainMsg::SlaDue);
        }));
    }

    /// At the SLA deadline: an alert still unacknowledged gets `sla_breached` (once, even
    /// across restarts) and its pending step fires now. Returns whether the chain is
    /// still active.
    async fn breach(&mut self, myself: &ActorRef<ChainMsg>) -> bool {
        let store = self.deps.pager.store.clone();
        let Ok(Some(alert)) = store.get_alert(self.chain.alert_id).await else {
            return self.chain.status == ChainStatus::Active;
        };
        let Some((deadline, message)) = sla_deadline(&self.deps, &alert) else {
            return self.chain.status == ChainStatus::Active;
        };
        let now = crate::clock::now();
        if alert.status != AlertStatus::Triggered {
            return self.chain.status == ChainStatus::Active;
        }
        if deadline > now {
            // Woken early (a long deadline sleeps in bounded pieces): sleep again.
            self.arm_sla(myself, &alert);
            return self.chain.status == ChainStatus::Active;
        }
        let breached = store.alert_timeline(alert.id).await.is_ok_and(|timeline| {
            timeline
                .iter()
                .any(|entry| entry.kind == TimelineKind::SlaBreached)
        });
        if breached {
            return self.chain.status == ChainStatus::Active;
        }
        self.record(&alert, TimelineKind::SlaBreached, message)
            .await;
        self.chain.escalate_now(now);
        self.fire().await
    }

    async fn record(&self, alert: &Alert, kind: TimelineKind, message: String) {
        let command = Command::Record {
            kind,
            actor: ACTOR_ESCALATION.into(),
            message,
        };
        if let Err(error) = self.deps.engine.apply(alert, command).await {
            tracing::debug!(alert = %alert.id, %error, "could not record on the timeline");
        }
    }

    /// Delivers this chain's pages still `pending` and marks each one's outcome.
    async fn deliver_pending(&self, alert: &Alert) {
        let store = &self.deps.pager.store;
        let pages = match store.pages_of_chain(self.chain.id).await {
            Ok(pages) => pages,
            Err(error) => {
                tracing::error!(chain = %self.chain.id, %error, "could not read pages");
                return;
            }
        };
        for page in pages.iter().filter(|p| p.outcome == PENDING) {
            let Some(recipient) = Recipient::parse(&page.key.target) else {
                continue;
            };
            let context = json!({
                "chain_id": self.chain.id.to_string(),
                "policy_id": page.key.policy_id.to_string(),
                "step": page.key.step + 1,
                "repeat": page.key.repeat,
            });
            // The stored page's id stands for its key (alert, generation, policy, step,
            // repeat, target): a page re-sent after a restart is not queued twice.
            let key = page.id.to_string();
            let outcome = self
                .deps
                .pager
                .page(&recipient, alert, context, Some(&key))
                .await;
            if let Err(error) = store
                .mark_page(page.id, outcome.outcome, &outcome.detail)
                .await
            {
                tracing::error!(page = %page.id, %error, "could not record a page's outcome");
            }
            let kind = if outcome.outcome == "sent" {
                TimelineKind::Notified
            } else {
                TimelineKind::DeliveryFailed
            };
            self.record(
                alert,
                kind,
                format!(
                    "step {} paged {}: {} ({})",
                    page.key.step + 1,
                    page.key.target,
                    outcome.outcome,
                    outcome.detail
                ),
            )
            .await;
        }
    }

    /// Stops the chain and stores it stopped.
    async fn stop(&mut self) {
        if self.chain.status != ChainStatus::Active {
            return;
        }
        self.chain.stop();
        if let Err(error) = self.deps.pager.store.save_chain(&self.chain, &[]).await {
            tracing::error!(chain = %self.chain.id, %error, "could not store a stopped chain");
        }
    }

    /// Fires the pending step if it is due; returns whether the chain is still active.
    ///
    /// A step is recorded as fired only together with its pages. When the store fails
    /// anywhere on the way (reading the alert or the policy, working out who is on
    /// call, storing the step), nothing is recorded: the step stays pending and is
    /// tried again after a backoff.
    async fn fire(&mut self) -> bool {
        let now = crate::clock::now();
        if !self.chain.is_due(now) {
            return self.chain.status == ChainStatus::Active;
        }
        let store = self.deps.pager.store.clone();
        let alert = match store.get_alert(self.chain.alert_id).await {
            Ok(Some(alert)) => alert,
            Ok(None) => {
                self.stop().await;
                return false;
            }
            Err(error) => return self.try_again(now, &format!("reading the alert: {error}")),
        };
        if alert.status != AlertStatus::Triggered {
            self.stop().await;
            return false;
        }
        let policy = match load_policy(&self.deps, self.chain.policy_id, &alert).await {
            Ok(Some(policy)) => policy,
            Ok(None) => return self.end_without_policy(now, &alert).await,
            Err(why) => return self.try_again(now, &why),
        };
        let mut moved = self.chain.clone();
        // Skip conditions see the alert as it is when the step fires.
        let activation = CelActivation::new(
            &CelEnv::new(),
            &self.deps.engine.enrichment().routed(&alert),
            now,
        );
        let fired = moved.fire(&policy, now, |step| {
            policy
                .steps
                .get(step)
                .and_then(|s| s.skip.as_ref())
                .is_some_and(|condition| condition.evaluate(&activation).matched)
        });
        let pages = match self.pages_for(&moved, &fired, &policy, now).await {
            Ok(pages) => pages,
            Err(error) => return self.try_again(now, &error),
        };
        if let Err(error) = store.save_chain(&moved, &pages).await {
            return self.try_again(now, &format!("storing the step: {error}"));
        }
        self.failures = 0;
        self.chain = moved;
        self.deliver_pending(&alert).await;
        for page in pages.iter().filter(|p| p.outcome == NOBODY_ON_CALL) {
            self.record(
                &alert,
                TimelineKind::DeliveryFailed,
                format!(
                    "step {} paged nobody: {} ({})",
                    page.key.step + 1,
                    page.key.target,
                    page.detail
                ),
            )
            .await;
        }
        if fired.skipped {
            self.record(
                &alert,
                TimelineKind::Escalated,
                format!("step {} skipped", fired.step + 1),
            )
            .await;
        }
        if let Some(next) = fired.handover {
            self.record(
                &alert,
                TimelineKind::Escalated,
                format!("handed over to policy {next}"),
            )
            .await;
            let _ = self.supervisor.cast(SupervisorMsg::Start {
                alert: alert.id,
                policy: next,
                reply: None,
            });
        }
        if let Some(Exhausted::CreateTicket(severity)) = &fired.exhausted {
            self.record(
                &alert,
                TimelineKind::Escalated,
                format!(
                    "escalation exhausted: incident ticket at {} pending: tickets",
                    severity.as_str()
                ),
            )
            .await;
        }
        self.chain.status == ChainStatus::Active
    }

    /// Leaves the step pending and due again after a backoff that grows with each
    /// failure in a row. The chain stays active: a store fault never ends it.
    fn try_again(&mut self, now: DateTime<Utc>, why: &dyn std::fmt::Display) -> bool {
        self.failures = self.failures.saturating_add(1);
        let delay = Backoff::STORE.delay(self.failures);
        self.deps
            .engine
            .metrics()
            .store_retry("escalation_step", delay, why);
        let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(30));
        self.chain.next_fire_at = Some(now + delay);
        true
    }

    /// The chain's policy was deleted: the chain ends, and the alert's timeline says why.
    async fn end_without_policy(&mut self, now: DateTime<Utc>, alert: &Alert) -> bool {
        let mut ended = self.chain.clone();
        ended.status = ChainStatus::Exhausted;
        ended.next_fire_at = None;
        if let Err(error) = self.deps.pager.store.save_chain(&ended, &[]).await {
            return self.try_again(now, &format!("storing the ended chain: {error}"));
        }
        self.chain = ended;
        tracing::warn!(chain = %self.chain.id, "the chain's policy is gone; the chain ends");
        self.record(
            alert,
            TimelineKind::Escalated,
            format!(
                "escalation ended: policy {} no longer exists",
                self.chain.policy_id
            ),
        )
        .await;
        false
    }

    /// The pages a fired step decides: one per recipient of its targets (and of the
    /// fallback target when the policy is exhausted), all `pending`. A schedule or
    /// team with nobody on call gets a row of its own saying so, so the step's status
    /// shows it. Fails when who is on call cannot be worked out now.
    async fn pages_for(
        &self,
        moved: &Chain,
        fired: &Fired,
        policy: &Policy,
        now: chrono::DateTime<Utc>,
    ) -> Result<Vec<StoredPage>, PagingError> {
        let mut wanted: Vec<(i32, &Target)> =
            fired.targets.iter().map(|t| (fired.step, t)).collect();
        if let Some(Exhausted::Notify(fallback)) = &fired.exhausted {
            // The fallback page is keyed past the last step, so it never collides.
            wanted.push((
                i32::try_from(policy.steps.len()).unwrap_or(i32::MAX),
                fallback,
            ));
        }
        let mut pages: Vec<StoredPage> = Vec::new();
        for (step, target) in wanted {
            let recipients = self.deps.pager.expand(target, now).await?;
            let mut rows: Vec<(String, &str, String)> = recipients
                .iter()
                .map(|r| (r.key(), PENDING, String::new()))
                .collect();
            if rows.is_empty() && !matches!(target, Target::Policy(_)) {
                rows.push((
                    target.describe(),
                    NOBODY_ON_CALL,
                    "nobody is on call".to_string(),
                ));
            }
            for (recipient, outcome, detail) in rows {
                let mut key = moved.page_key(fired, recipient);
                key.step = step;
                if pages.iter().any(|p| p.key == key) {
                    continue;
                }
                pages.push(StoredPage {
                    id: Uuid::now_v7(),
                    chain_id: moved.id,
                    key,
                    outcome: outcome.into(),
                    detail,
                    created_at: now,
                });
            }
        }
        Ok(pages)
    }
}

impl Actor for ChainActor {
    type Msg = ChainMsg;
    type State = ChainState;
    type Arguments = (Chain, EscalationDeps, ActorRef<SupervisorMsg>, bool);

    async fn pre_start(
        &self,
        myself: ActorRef<ChainMsg>,
        (chain, deps, supervisor, settle): (Chain, EscalationDeps, ActorRef<SupervisorMsg>, bool),
    ) -> Result<ChainState, ActorProcessingErr> {
        let mut state = ChainState {
            chain,
            deps,
            supervisor,
            timer: None,
            sla_timer: None,
            sla_at: None,
            failures: 0,
        };
        // Pages decided before a crash but not delivered go out now, once.
        if let Ok(Some(alert)) = state.deps.pager.store.get_alert(state.chain.alert_id).await
            && alert.status == AlertStatus::Triggered
        {
            state.deliver_pending(&alert).await;
            state.arm_sla(&myself, &alert);
        }
        state.arm(&myself);
        if settle && state.idle_until().is_some() {
            // Started (or started again) with nothing due soon: the check passivates it.
            let _ = myself.cast(ChainMsg::Fire);
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<ChainMsg>,
        message: ChainMsg,
        state: &mut ChainState,
    ) -> Result<(), ActorProcessingErr> {
        let active = match message {
            ChainMsg::Fire => state.fire().await,
            ChainMsg::EscalateNow => {
                state.chain.escalate_now(crate::clock::now());
                state.fire().await
            }
            ChainMsg::Stop(reply) => {
                state.stop().await;
                let _ = reply.send(());
                false
            }
            ChainMsg::SlaDue => {
                state.sla_at = None;
                state.breach(&myself).await
            }
        };
        if !active {
            myself.stop(None);
        } else if let Some(wake) = state.idle_until() {
            // Nothing to do for a while: hand the chain to the supervisor's queue.
            let _ = state.supervisor.cast(SupervisorMsg::Passivate {
                chain: state.chain.id,
                alert: state.chain.alert_id,
                wake,
            });
            myself.stop(None);
        } else {
            state.arm(&myself);
        }
        Ok(())
    }
}

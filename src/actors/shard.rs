//! A fingerprint shard: owns every open alert whose key hashes to it. Passive alerts are
//! compact [`AlertState`]s in a map (tens of bytes each); an alert a responder acts on is
//! activated as an [`AlertActor`] and passivated back when it has been idle.
//!
//! Dedup bumps from a storm are decided here without activating anything: they touch
//! only `last_seen` and a counter, and spawning an actor for each would cost more than
//! the work. The shard is the supervisor of its alert actors: a crashed one is rebuilt
//! from the store.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use uuid::Uuid;

use super::alert::{AlertActor, AlertArgs, AlertMsg, CommandReceipt};
use super::persister::{CommitReceipt, Persister};
use super::{EngineError, IngestResult};
use crate::domain::alert::Alert;
use crate::domain::fingerprint::AlertKey;
use crate::domain::incoming::IncomingAlert;
use crate::domain::lifecycle::{self, AlertState, AlertWrite, Command};
use crate::store::Store;
use crate::telemetry::Metrics;

/// How long a shard waits for one of its alert actors before giving up.
const ACTOR_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One shard's part of an ingest request: results by position in the request.
pub struct ShardIngest {
    pub results: Vec<(usize, IngestResult)>,
    pub commits: Vec<CommitReceipt>,
    /// The alerts this request opened, as written: routing uses them rather than reading
    /// every new alert of a storm back from the store.
    pub opened: Vec<Alert>,
}

pub enum ShardMsg {
    Ingest {
        items: Vec<(usize, AlertKey, IncomingAlert)>,
        now: DateTime<Utc>,
        reply: RpcReplyPort<Result<ShardIngest, EngineError>>,
    },
    /// A responder's command on an alert; `stored` is its state as the store has it,
    /// used when the alert is not open here (resolved alerts still take notes).
    Command {
        key: AlertKey,
        stored: AlertState,
        command: Command,
        now: DateTime<Utc>,
        reply: RpcReplyPort<Result<CommandReceipt, EngineError>>,
    },
    /// An alert actor has been idle: take its state back.
    Passivate(AlertKey),
}

pub struct Shard;

pub struct ShardArgs {
    pub index: usize,
    pub count: usize,
    pub store: Arc<dyn Store>,
    pub persister: Persister,
    /// The last alert number handed out, shared by every shard.
    pub numbers: Arc<AtomicI64>,
    pub idle_after: Duration,
    pub metrics: Arc<Metrics>,
    /// Open alerts already loaded by the engine at start; `None` makes the shard load
    /// its own (after a restart).
    pub preload: Option<Vec<(AlertKey, AlertState)>>,
}

pub struct ShardState {
    persister: Persister,
    store: Arc<dyn Store>,
    numbers: Arc<AtomicI64>,
    idle_after: Duration,
    metrics: Arc<Metrics>,
    passive: HashMap<AlertKey, AlertState>,
    active: HashMap<AlertKey, ActorRef<AlertMsg>>,
    /// Which alert each live actor holds, to rebuild it when it fails.
    actors: HashMap<ActorId, (AlertKey, Uuid)>,
}

impl Actor for Shard {
    type Msg = ShardMsg;
    type State = ShardState;
    type Arguments = ShardArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<ShardMsg>,
        args: ShardArgs,
    ) -> Result<ShardState, ActorProcessingErr> {
        let open = match args.preload {
            Some(open) => open,
            None => {
                // A restart: let the persister write what the previous incarnation
                // decided, so the reload sees it.
                args.persister.barrier().await?;
                args.store
                    .open_alerts()
                    .await?
                    .into_iter()
                    .filter(|(key, _)| key.shard(args.count) == args.index)
                    .collect()
            }
        };
        args.metrics.open_alerts.inc_by(open.len() as i64);
        Ok(ShardState {
            persister: args.persister,
            store: args.store,
            numbers: args.numbers,
            idle_after: args.idle_after,
            metrics: args.metrics,
            passive: open.into_iter().collect(),
            active: HashMap::new(),
            actors: HashMap::new(),
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<ShardMsg>,
        state: &mut ShardState,
    ) -> Result<(), ActorProcessingErr> {
        // Wait, so no actor of this incarnation still queues writes once it is gone.
        myself.stop_children_and_wait(None, None).await;
        let held = state.passive.len() + state.active.len();
        state.metrics.open_alerts.dec_by(held as i64);
        state
            .metrics
            .active_actors
            .dec_by(state.active.len() as i64);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ShardMsg>,
        message: ShardMsg,
        state: &mut ShardState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ShardMsg::Ingest { items, now, reply } => {
                let _ = reply.send(state.ingest(items, now).await);
            }
            ShardMsg::Command {
                key,
                stored,
                command,
                now,
                reply,
            } => {
                let answer = state.command(&myself, key, stored, command, now).await;
                let _ = reply.send(answer);
            }
            ShardMsg::Passivate(key) => state.passivate(key).await,
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<ShardMsg>,
        event: SupervisionEvent,
        state: &mut ShardState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                if let Some((key, id)) = state.forget_actor(cell.get_id()) {
                    tracing::error!(alert = %id, %error, "alert actor failed; rebuilding it from the store");
                    state.metrics.open_alerts.dec();
                    if let Some(alert) = state.store.get_alert(id).await?
                        && alert.status.is_open()
                    {
                        state.passive.insert(key, AlertState::of(&alert));
                        state.metrics.open_alerts.inc();
                    }
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                // Normal stops are already forgotten; this catches an actor that stopped
                // on its own, whose state is then reloaded on its next activation.
                if let Some((key, id)) = state.forget_actor(cell.get_id()) {
                    state.metrics.open_alerts.dec();
                    if let Some(alert) = state.store.get_alert(id).await?
                        && alert.status.is_open()
                    {
                        state.passive.insert(key, AlertState::of(&alert));
                        state.metrics.open_alerts.inc();
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl ShardState {
    async fn ingest(
        &mut self,
        items: Vec<(usize, AlertKey, IncomingAlert)>,
        now: DateTime<Utc>,
    ) -> Result<ShardIngest, EngineError> {
        let mut writes = Vec::with_capacity(items.len());
        let mut results = Vec::with_capacity(items.len());
        let mut commits = Vec::new();
        let mut opened = Vec::new();
        let mut failure = None;
        for (position, key, incoming) in items {
            let source = incoming.source.clone();
            let result = if let Some(actor) = self.active.get(&key).cloned() {
                let receipt =
                    match call(&actor, |reply| AlertMsg::Ingest(incoming, now, reply)).await {
                        Ok(Ok(receipt)) => receipt,
                        Ok(Err(error)) | Err(error) => {
                            failure = Some(error);
                            break;
                        }
                    };
                commits.extend(receipt.commit);
                if receipt.state.is_none() {
                    self.retire(&actor);
                }
                receipt.result
            } else {
                let numbers = &self.numbers;
                let decision =
                    // Time-ordered ids: a storm's inserts append to the primary key's
                    // B-tree instead of landing on random pages of it.
                    lifecycle::ingest(self.passive.get(&key), &key, incoming, now, || {
                        (Uuid::now_v7(), numbers.fetch_add(1, Ordering::Relaxed) + 1)
                    });
                match decision.next {
                    Some(next) => {
                        if self.passive.insert(key, next).is_none() {
                            self.metrics.open_alerts.inc();
                        }
                    }
                    None => {
                        if self.passive.remove(&key).is_some() {
                            self.metrics.open_alerts.dec();
                        }
                    }
                }
                if let Some(AlertWrite::Open(alert)) = &decision.write {
                    opened.push(Alert::clone(alert));
                }
                writes.extend(decision.write);
                IngestResult {
                    outcome: decision.outcome,
                    alert: decision.alert,
                }
            };
            self.metrics.alert_ingested(&source, result.outcome);
            results.push((position, result));
        }
        // What was decided is written even when a later alert failed, so memory never
        // holds a decision the store will not see.
        commits.push(self.persister.submit(writes).await?);
        match failure {
            Some(error) => Err(error),
            None => Ok(ShardIngest {
                results,
                commits,
                opened,
            }),
        }
    }

    async fn command(
        &mut self,
        myself: &ActorRef<ShardMsg>,
        key: AlertKey,
        stored: AlertState,
        command: Command,
        now: DateTime<Utc>,
    ) -> Result<CommandReceipt, EngineError> {
        let open_here = match self.active.get(&key) {
            Some(actor) => self
                .actors
                .get(&actor.get_id())
                .is_some_and(|(_, id)| *id == stored.id),
            None => self.passive.get(&key).is_some_and(|s| s.id == stored.id),
        };
        if !open_here {
            // The shard holds every open alert, so one not here is resolved, even if
            // the store has yet to commit the resolve.
            let mut closed = stored;
            closed.status = crate::domain::alert::AlertStatus::Resolved;
            let write = lifecycle::command(&mut closed, &key, command, now)?;
            let commit = match write {
                Some(write) => Some(self.persister.submit(vec![write]).await?),
                None => None,
            };
            return Ok(CommandReceipt {
                commit,
                state: None,
            });
        }
        // A record changes no state and needs no timer: it is decided on the passive
        // record, so routing a storm does not wake an actor per alert.
        if matches!(command, Command::Record { .. })
            && let Some(state) = self.passive.get_mut(&key)
        {
            let write = lifecycle::command(state, &key, command, now)?;
            let commit = match write {
                Some(write) => Some(self.persister.submit(vec![write]).await?),
                None => None,
            };
            return Ok(CommandReceipt {
                commit,
                state: Some(state.clone()),
            });
        }
        let actor = self.activate(myself, &key).await?;
        let receipt = call(&actor, |reply| AlertMsg::Command(command, now, reply)).await??;
        if receipt.state.is_none() {
            self.retire(&actor);
        }
        Ok(receipt)
    }

    /// Returns the live actor for an open alert, spawning it from the passive record.
    async fn activate(
        &mut self,
        myself: &ActorRef<ShardMsg>,
        key: &AlertKey,
    ) -> Result<ActorRef<AlertMsg>, EngineError> {
        if let Some(actor) = self.active.get(key) {
            return Ok(actor.clone());
        }
        let Some(state) = self.passive.remove(key) else {
            return Err(EngineError::Unavailable(format!(
                "alert {} is not open in this shard",
                key.fingerprint
            )));
        };
        let id = state.id;
        let args = AlertArgs {
            key: key.clone(),
            state: state.clone(),
            persister: self.persister.clone(),
            shard: myself.clone(),
            idle_after: self.idle_after,
        };
        match Actor::spawn_linked(None, AlertActor, args, myself.get_cell()).await {
            Ok((actor, _)) => {
                self.actors.insert(actor.get_id(), (key.clone(), id));
                self.active.insert(key.clone(), actor.clone());
                self.metrics.active_actors.inc();
                Ok(actor)
            }
            Err(error) => {
                self.passive.insert(key.clone(), state);
                Err(EngineError::Unavailable(format!(
                    "could not start an alert actor: {error}"
                )))
            }
        }
    }

    /// Stops the actor of an alert that has closed.
    fn retire(&mut self, actor: &ActorRef<AlertMsg>) {
        if self.forget_actor(actor.get_id()).is_some() {
            self.metrics.open_alerts.dec();
        }
        actor.stop(None);
    }

    async fn passivate(&mut self, key: AlertKey) {
        let Some(actor) = self.active.get(&key).cloned() else {
            return;
        };
        // Messages the shard routed before this call are handled first (mailboxes are
        // FIFO), and none can be routed after it: the shard handles one message at a time.
        match call(&actor, AlertMsg::Passivate).await {
            Ok(state) => {
                self.forget_actor(actor.get_id());
                self.passive.insert(key, state);
            }
            Err(error) => {
                tracing::warn!(fingerprint = %key.fingerprint, %error, "could not passivate an alert actor");
            }
        }
    }

    fn forget_actor(&mut self, id: ActorId) -> Option<(AlertKey, Uuid)> {
        let (key, alert_id) = self.actors.remove(&id)?;
        self.active.remove(&key);
        self.metrics.active_actors.dec();
        Some((key, alert_id))
    }
}

/// Calls an alert actor and flattens ractor's layers of failure into one error.
async fn call<T: Send + 'static>(
    actor: &ActorRef<AlertMsg>,
    message: impl FnOnce(RpcReplyPort<T>) -> AlertMsg,
) -> Result<T, EngineError> {
    match actor.call(message, Some(ACTOR_CALL_TIMEOUT)).await {
        Ok(CallResult::Success(answer)) => Ok(answer),
        Ok(CallResult::Timeout) => Err(EngineError::Unavailable("alert actor timed out".into())),
        Ok(CallResult::SenderError) | Err(_) => {
            Err(EngineError::Unavailable("alert actor stopped".into()))
        }
    }
}

//! The engine supervisor: starts the shards, and restarts one that fails or stops from
//! the store, again with a backoff while the store cannot give it its alerts back.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};

use crate::actors::persister::Persister;
use crate::actors::shard::{Shard, ShardArgs, ShardMsg};
use crate::domain::fingerprint::AlertKey;
use crate::domain::lifecycle::AlertState;
use crate::retry::retry_later;
use crate::store::Store;
use crate::telemetry::Metrics;

use super::ShardTable;

/// Everything a shard needs but its index and preload.
#[derive(Clone)]
pub(super) struct ShardTemplate {
    pub(super) count: usize,
    pub(super) store: Arc<dyn Store>,
    pub(super) persister: Persister,
    pub(super) numbers: Arc<AtomicI64>,
    pub(super) idle_after: Duration,
    pub(super) metrics: Arc<Metrics>,
}

pub(super) struct EngineSupervisor;

pub(super) struct SupervisorArgs {
    pub(super) shards: ShardTable,
    pub(super) template: ShardTemplate,
    pub(super) preload: Vec<Vec<(AlertKey, AlertState)>>,
}

pub(super) struct SupervisorState {
    shards: ShardTable,
    template: ShardTemplate,
    stopping: bool,
}

/// What the engine supervisor is told besides its shards' fates.
pub(super) enum SupervisorMsg {
    /// Start shard `index` again: its last `failures` restarts failed (the store was
    /// away).
    Respawn { index: usize, failures: u32 },
}

impl SupervisorState {
    async fn spawn_shard(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        index: usize,
        preload: Option<Vec<(AlertKey, AlertState)>>,
    ) -> Result<ActorRef<ShardMsg>, ActorProcessingErr> {
        let t = &self.template;
        let args = ShardArgs {
            index,
            count: t.count,
            store: t.store.clone(),
            persister: t.persister.clone(),
            numbers: t.numbers.clone(),
            idle_after: t.idle_after,
            metrics: t.metrics.clone(),
            preload,
        };
        let (shard, _) = Actor::spawn_linked(None, Shard, args, myself.get_cell()).await?;
        Ok(shard)
    }
}

impl Actor for EngineSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let state = SupervisorState {
            shards: args.shards,
            template: args.template,
            stopping: false,
        };
        let mut refs = Vec::with_capacity(state.template.count);
        for (index, open) in args.preload.into_iter().enumerate() {
            refs.push(state.spawn_shard(&myself, index, Some(open)).await?);
        }
        *state
            .shards
            .write()
            .map_err(|_| "shard table poisoned".to_string())? = refs;
        Ok(state)
    }

    async fn post_stop(
        &self,
        myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        state.stopping = true;
        if let Ok(mut shards) = state.shards.write() {
            shards.clear();
        }
        myself.stop_children_and_wait(None, None).await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisorMsg::Respawn { index, failures } = message;
        if !state.stopping {
            state.respawn(&myself, index, failures).await?;
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let cell = match &event {
            SupervisionEvent::ActorFailed(cell, error) => {
                tracing::error!(%error, "shard failed; restarting it from the store");
                cell
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                tracing::warn!(?reason, "shard stopped; restarting it from the store");
                cell
            }
            _ => return Ok(()),
        };
        if state.stopping {
            return Ok(());
        }
        let index = state
            .shards
            .read()
            .map_err(|_| "shard table poisoned".to_string())?
            .iter()
            .position(|shard| shard.get_id() == cell.get_id());
        if let Some(index) = index {
            state.respawn(&myself, index, 0).await?;
        }
        Ok(())
    }
}

impl SupervisorState {
    /// Starts shard `index` again from the store. A start that fails (the store is
    /// still away, so the shard cannot reload its alerts) is tried again after a
    /// backoff, for as long as it takes: a shard is never left down.
    async fn respawn(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        index: usize,
        failures: u32,
    ) -> Result<(), ActorProcessingErr> {
        match self.spawn_shard(myself, index, None).await {
            Ok(shard) => {
                if let Some(slot) = self
                    .shards
                    .write()
                    .map_err(|_| "shard table poisoned".to_string())?
                    .get_mut(index)
                {
                    *slot = shard;
                }
                if failures > 0 {
                    tracing::info!(shard = index, failures, "shard restarted");
                }
            }
            Err(error) => {
                retry_later(
                    myself,
                    &self.template.metrics,
                    "shard_restart",
                    failures.saturating_add(1),
                    &error,
                    move |failures| SupervisorMsg::Respawn { index, failures },
                );
            }
        }
        Ok(())
    }
}

//! An AlertActor: one open alert, activated by its shard when a responder acts on it,
//! owning its state and its idle timer until it is passivated back into the shard.
//!
//! It decides with the pure lifecycle functions and queues the resulting write with the
//! persister before answering, so its state never runs ahead of the commit order.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::time::Instant;

use super::persister::{CommitReceipt, Persister};
use super::shard::ShardMsg;
use super::{EngineError, IngestResult};
use crate::domain::fingerprint::AlertKey;
use crate::domain::incoming::IncomingAlert;
use crate::domain::lifecycle::{self, AlertState, Command};

/// What the actor answers for an ingested alert.
pub struct Receipt {
    pub result: IngestResult,
    /// Resolves when the write is durable; `None` when there was nothing to write.
    pub commit: Option<CommitReceipt>,
    /// The alert's state after the work; `None` once it is resolved.
    pub state: Option<AlertState>,
}

/// What the actor answers for a responder's command.
pub struct CommandReceipt {
    /// Resolves when the write is durable; `None` for a no-op success.
    pub commit: Option<CommitReceipt>,
    /// The alert's state after the command; `None` once it is resolved.
    pub state: Option<AlertState>,
}

pub enum AlertMsg {
    Ingest(
        IncomingAlert,
        DateTime<Utc>,
        RpcReplyPort<Result<Receipt, EngineError>>,
    ),
    Command(
        Command,
        DateTime<Utc>,
        RpcReplyPort<Result<CommandReceipt, EngineError>>,
    ),
    /// The idle timer fired: passivate if nothing happened since.
    CheckIdle,
    /// From the shard: hand back the state and stop.
    Passivate(RpcReplyPort<AlertState>),
}

pub struct AlertActor;

pub struct AlertArgs {
    pub key: AlertKey,
    pub state: AlertState,
    pub persister: Persister,
    pub shard: ActorRef<ShardMsg>,
    pub idle_after: Duration,
}

pub struct AlertActorState {
    key: AlertKey,
    alert: AlertState,
    persister: Persister,
    shard: ActorRef<ShardMsg>,
    idle_after: Duration,
    last_work: Instant,
}

impl Actor for AlertActor {
    type Msg = AlertMsg;
    type State = AlertActorState;
    type Arguments = AlertArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<AlertMsg>,
        args: AlertArgs,
    ) -> Result<AlertActorState, ActorProcessingErr> {
        myself.send_after(args.idle_after, || AlertMsg::CheckIdle);
        Ok(AlertActorState {
            key: args.key,
            alert: args.state,
            persister: args.persister,
            shard: args.shard,
            idle_after: args.idle_after,
            last_work: Instant::now(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<AlertMsg>,
        message: AlertMsg,
        state: &mut AlertActorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AlertMsg::Ingest(incoming, now, reply) => {
                state.last_work = Instant::now();
                let decision =
                    lifecycle::ingest(Some(&state.alert), &state.key, incoming, now, || {
                        // A live actor always holds an open alert, and ingest allocates only
                        // when none is open.
                        unreachable!("an open alert never allocates a new one")
                    });
                if let Some(next) = &decision.next {
                    state.alert = next.clone();
                }
                let commit = match decision.write {
                    Some(write) => Some(state.persister.submit(vec![write]).await),
                    None => None,
                };
                let _ = reply.send(match commit.transpose() {
                    Ok(commit) => Ok(Receipt {
                        result: IngestResult {
                            outcome: decision.outcome,
                            alert: decision.alert,
                        },
                        commit,
                        state: decision.next,
                    }),
                    Err(failed) => Err(failed.into()),
                });
            }
            AlertMsg::Command(command, now, reply) => {
                state.last_work = Instant::now();
                let answer = self.command(state, command, now).await;
                let _ = reply.send(answer);
            }
            AlertMsg::CheckIdle => {
                let idle = state.last_work.elapsed();
                if idle >= state.idle_after {
                    // The shard decides: it may have work on its way to us.
                    state.shard.cast(ShardMsg::Passivate(state.key.clone()))?;
                } else {
                    myself.send_after(state.idle_after - idle, || AlertMsg::CheckIdle);
                }
            }
            AlertMsg::Passivate(reply) => {
                let _ = reply.send(state.alert.clone());
                myself.stop(None);
            }
        }
        Ok(())
    }
}

impl AlertActor {
    async fn command(
        &self,
        state: &mut AlertActorState,
        command: Command,
        now: DateTime<Utc>,
    ) -> Result<CommandReceipt, EngineError> {
        let mut next = state.alert.clone();
        let write = lifecycle::command(&mut next, &state.key, command, now)?;
        let commit = match write {
            Some(write) => Some(state.persister.submit(vec![write]).await?),
            None => None,
        };
        state.alert = next.clone();
        let open = next.status.is_open();
        Ok(CommandReceipt {
            commit,
            state: open.then_some(next),
        })
    }
}

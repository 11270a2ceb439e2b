//! The delivery supervisor: one `DeliveryActor` per destination; restarts a failed one
//! from the store's unfinished deliveries (with a backoff while the store fails), holds
//! messages for users in quiet hours, tells the fallback when a breaker opens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::time::Instant;
use uuid::Uuid;

use crate::domain::notify::breaker::Breaker;
use crate::domain::notify::channel::Channel;
use crate::domain::notify::format::Content;
use crate::domain::notify::message::{Kind, Priority};
use crate::domain::notify::quiet::QuietHours;
use crate::notify::log::Entry;
use crate::notify::outgoing::{ContextMeta, Outgoing, Request};
use crate::retry::retry_later;
use crate::store::DeliveryUpdate;

use super::actor::{DeliveryActor, DeliveryArgs, DeliveryMsg};
use super::{DeliveryDeps, QUIET_TTL, Queued, provider_of};

pub enum SupervisorMsg {
    Dispatch(Vec<Queued>),
    /// A destination's actor has been idle for `idle_after`: stop it (it forwards
    /// anything that reaches it meanwhile back here, for a fresh actor).
    Idle {
        channel: Channel,
        address: String,
        actor: ActorId,
    },
    /// A provider's breaker opened or closed: tell the fallback destination.
    ProviderHealth {
        channel: Channel,
        text: String,
    },
    /// Start a failed destination's actor again from the store's unfinished
    /// deliveries; `attempt` counts the tries the store failed before this one.
    Resume {
        channel: Channel,
        address: String,
        attempt: u32,
    },
}

pub struct DeliverySupervisor;

pub struct SupervisorState {
    deps: Arc<DeliveryDeps>,
    /// Users' quiet hours and zones, read at most every `QUIET_TTL`.
    quiet: HashMap<Uuid, (Instant, Option<(QuietHours, Tz)>)>,
    breakers: Arc<Mutex<HashMap<Channel, Breaker>>>,
    actors: HashMap<(Channel, String), ActorRef<DeliveryMsg>>,
    by_actor: HashMap<ActorId, (Channel, String)>,
}

impl DeliverySupervisor {
    async fn actor_for(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        channel: Channel,
        address: &str,
    ) -> Result<ActorRef<DeliveryMsg>, ActorProcessingErr> {
        let key = (channel, address.to_string());
        if let Some(actor) = state.actors.get(&key) {
            return Ok(actor.clone());
        }
        let (actor, _) = Actor::spawn_linked(
            None,
            DeliveryActor,
            DeliveryArgs {
                channel,
                address: address.to_string(),
                deps: state.deps.clone(),
                breakers: state.breakers.clone(),
                supervisor: myself.clone(),
            },
            myself.get_cell(),
        )
        .await?;
        state.by_actor.insert(actor.get_id(), key.clone());
        state.actors.insert(key, actor.clone());
        state
            .deps
            .metrics
            .delivery_actors
            .set(state.actors.len() as i64);
        Ok(actor)
    }

    /// When the user's quiet hours end, if they hold now.
    async fn quiet_until(state: &mut SupervisorState, user: Uuid) -> Option<chrono::DateTime<Utc>> {
        let fresh = state
            .quiet
            .get(&user)
            .is_some_and(|(at, _)| at.elapsed() < QUIET_TTL);
        if !fresh {
            let found = match state.deps.directory.user(user).await {
                Ok(found) => {
                    found.and_then(|u| Some((u.quiet_hours?, u.timezone.parse::<Tz>().ok()?)))
                }
                Err(error) => {
                    tracing::warn!(%user, %error, "could not read quiet hours; sending now");
                    None
                }
            };
            if state.quiet.len() >= 10_000 {
                state.quiet.retain(|_, (at, _)| at.elapsed() < QUIET_TTL);
            }
            state.quiet.insert(user, (Instant::now(), found));
        }
        let (_, quiet) = state.quiet.get(&user)?;
        let (hours, zone) = quiet.as_ref()?;
        hours.holds_until(*zone, crate::clock::now())
    }

    async fn dispatch(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        queued: Vec<Queued>,
    ) -> Result<(), ActorProcessingErr> {
        let mut by_destination: HashMap<(Channel, String), Vec<Queued>> = HashMap::new();
        let mut held = Vec::new();
        for item in queued {
            if item.priority < Priority::Critical
                && let Some(user) = item.user_id
                && let Some(until) = Self::quiet_until(state, user).await
            {
                held.push((item, until));
                continue;
            }
            by_destination
                .entry((item.channel, item.address.clone()))
                .or_default()
                .push(item);
        }
        if !held.is_empty() {
            let now = crate::clock::now();
            let entries = held
                .iter()
                .map(|(item, until)| {
                    Entry::Update(DeliveryUpdate {
                        id: item.id,
                        state: "pending".into(),
                        attempts: 0,
                        last_error: format!(
                            "held for the user's quiet hours until {}",
                            until.to_rfc3339()
                        ),
                        merged_into: None,
                        at: now,
                    })
                })
                .collect();
            state.deps.log.write(entries).await;
            for (item, until) in held {
                let wait = (until - now).to_std().unwrap_or_default();
                myself.send_after(wait, move || SupervisorMsg::Dispatch(vec![item]));
            }
        }
        for ((channel, address), items) in by_destination {
            let actor = Self::actor_for(myself, state, channel, &address).await?;
            if actor.cast(DeliveryMsg::Enqueue(items)).is_err() {
                tracing::warn!(channel = channel.as_str(), %address, "delivery actor gone; its messages stay pending");
            }
        }
        Ok(())
    }

    /// Unfinished deliveries from the store, back into their actors.
    async fn reload(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        only: Option<&(Channel, String)>,
    ) -> Result<(), ActorProcessingErr> {
        let queued: Vec<Queued> = state
            .deps
            .store
            .unfinished_deliveries()
            .await?
            .iter()
            .filter(|d| only.is_none_or(|(c, a)| d.channel == c.as_str() && &d.address == a))
            .filter_map(|d| {
                let message: Outgoing = serde_json::from_slice(&d.message).ok()?;
                Queued::of(d, message)
            })
            .collect();
        if !queued.is_empty() {
            tracing::info!(deliveries = queued.len(), "resuming unsent deliveries");
        }
        Self::dispatch(myself, state, queued).await
    }

    async fn tell_fallback(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        failing: Channel,
        text: String,
    ) -> Result<(), ActorProcessingErr> {
        let Some((channel, address)) = state.deps.settings.fallback.clone() else {
            tracing::error!(provider = failing.as_str(), %text, "no fallback destination is configured");
            return Ok(());
        };
        if provider_of(channel) == provider_of(failing) {
            tracing::error!(
                provider = failing.as_str(),
                "the fallback destination uses the failing provider"
            );
            return Ok(());
        }
        let request = Request {
            request_id: String::new(),
            priority: Priority::Critical,
            channel,
            address,
            user_id: None,
            template: None,
            message: Outgoing::new(
                Kind::Status,
                Content {
                    subject: text.clone(),
                    text,
                    html: None,
                },
                ContextMeta {
                    alerts: Vec::new(),
                    actionable: None,
                    link: None,
                },
            ),
        };
        let record = request.record(crate::clock::now());
        let queued = Queued::of(&record, request.message.clone());
        state.deps.log.write(vec![Entry::Created(record)]).await;
        Self::dispatch(myself, state, queued.into_iter().collect()).await
    }
}

impl Actor for DeliverySupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = DeliveryDeps;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        deps: DeliveryDeps,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut state = SupervisorState {
            deps: Arc::new(deps),
            quiet: HashMap::new(),
            breakers: Arc::new(Mutex::new(HashMap::new())),
            actors: HashMap::new(),
            by_actor: HashMap::new(),
        };
        Self::reload(&myself, &mut state, None).await?;
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Dispatch(queued) => Self::dispatch(&myself, state, queued).await,
            SupervisorMsg::ProviderHealth { channel, text } => {
                Self::tell_fallback(&myself, state, channel, text).await
            }
            SupervisorMsg::Resume {
                channel,
                address,
                attempt,
            } => {
                let key = (channel, address);
                if let Err(error) = Self::reload(&myself, state, Some(&key)).await {
                    // Until the store answers, the destination's deliveries wait in it.
                    let (channel, address) = key;
                    retry_later(
                        &myself,
                        &state.deps.metrics,
                        "delivery_resume",
                        attempt.saturating_add(1),
                        &error,
                        move |attempt| SupervisorMsg::Resume {
                            channel,
                            address,
                            attempt,
                        },
                    );
                }
                Ok(())
            }
            SupervisorMsg::Idle {
                channel,
                address,
                actor,
            } => {
                let key = (channel, address);
                if let Some(idle) = state.actors.get(&key).filter(|a| a.get_id() == actor) {
                    // Messages already in its mailbox are handled (forwarded) first.
                    let _ = idle.drain();
                    state.actors.remove(&key);
                    state.by_actor.remove(&actor);
                    state
                        .deps
                        .metrics
                        .delivery_actors
                        .set(state.actors.len() as i64);
                }
                Ok(())
            }
        }
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, failure) = match &event {
            SupervisionEvent::ActorTerminated(cell, _, _) => (cell, None),
            SupervisionEvent::ActorFailed(cell, error) => (cell, Some(error.to_string())),
            _ => return Ok(()),
        };
        let Some(key) = state.by_actor.remove(&cell.get_id()) else {
            return Ok(());
        };
        state.actors.remove(&key);
        state
            .deps
            .metrics
            .delivery_actors
            .set(state.actors.len() as i64);
        if let Some(error) = failure {
            tracing::error!(channel = key.0.as_str(), address = %key.1, %error,
                "delivery actor failed; restarting it from the store");
            // Let the log writer commit what the actor recorded before it failed.
            let (channel, address) = key;
            myself.send_after(Duration::from_millis(500), move || SupervisorMsg::Resume {
                channel,
                address,
                attempt: 0,
            });
        }
        Ok(())
    }
}

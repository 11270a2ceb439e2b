//! Delivery: a supervisor with one `DeliveryActor` per destination (a channel and an
//! address: a Slack channel, a number, a mailbox, a URL). Each actor owns its
//! destination's waiting messages and rate limiter and sends one message at a time:
//!
//! * the limiter (governor) is set per provider (Slack about 1 msg/s per channel,
//!   Twilio per number...); when the destination's turn comes and several messages
//!   wait, they go as one digest (`domain::notify::queue`), so a storm becomes a few
//!   messages instead of a backlog, and every alert is in exactly one message;
//! * pages whose alert was acknowledged or resolved while waiting are dropped;
//! * 5xx, 429 (honouring Retry-After) and timeouts are retried with exponential backoff
//!   and jitter; other refusals fail at once;
//! * a circuit breaker per provider stops hammering a provider that keeps failing, and
//!   the configured fallback destination is told when it opens;
//! * every attempt and state change goes to the delivery log;
//! * a message below critical for a user in their quiet hours waits until they end
//!   (the supervisor holds it before it reaches the destination's actor).
//!
//! A failed actor is restarted by the supervisor, which reloads its destination's
//! unfinished deliveries from the store. An actor idle for `[notify] idle_actor_seconds`
//! asks to be stopped; anything that reaches it after it asked goes back to the
//! supervisor, which starts a fresh actor for it, so passivation never drops a message.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::time::Instant;
use uuid::Uuid;

use crate::directory::Directory;
use crate::domain::alert::AlertStatus;
use crate::domain::backoff::Backoff;
use crate::domain::notify::breaker::{Breaker, Transition};
use crate::domain::notify::channel::Channel;
use crate::domain::notify::digest;
use crate::domain::notify::format::Content;
use crate::domain::notify::message::{Kind, Priority};
use crate::domain::notify::queue::{Batch, Pending, PendingQueue, alerts_of};
use crate::domain::notify::quiet::QuietHours;
use crate::notify::log::{DeliveryLogWriter, Entry};
use crate::notify::outgoing::{ContextMeta, Outgoing, Request};
use crate::notify::provider::{Providers, Receipt, SendError};
use crate::notify::settings::NotifySettings;
use crate::store::{DeliveryAttempt, DeliveryUpdate, Store, StoredDelivery};
use crate::telemetry::Metrics;

/// A recorded delivery, ready for its destination's actor.
#[derive(Clone, Debug)]
pub struct Queued {
    pub id: Uuid,
    pub channel: Channel,
    pub address: String,
    /// The user it is for: their quiet hours apply below critical.
    pub user_id: Option<Uuid>,
    pub priority: Priority,
    pub message: Outgoing,
    /// Identical messages (the same stored encoding) have equal keys and merge.
    pub merge_key: String,
}

impl Queued {
    pub fn of(record: &StoredDelivery, message: Outgoing) -> Option<Queued> {
        use sha2::Digest;
        Some(Queued {
            id: record.id,
            channel: Channel::parse(&record.channel)?,
            address: record.address.clone(),
            user_id: record.user_id,
            priority: Priority::from_i32(record.priority).unwrap_or(Priority::Normal),
            message,
            merge_key: hex::encode(sha2::Sha256::digest(&record.message)),
        })
    }
}

/// How long a user's quiet hours are reused before they are read again.
const QUIET_TTL: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct DeliveryDeps {
    pub store: Arc<dyn Store>,
    /// Users' quiet hours come from here.
    pub directory: Directory,
    pub providers: Providers,
    pub log: DeliveryLogWriter,
    pub settings: NotifySettings,
    pub metrics: Arc<Metrics>,
}

/// The handle the rest of the server sends through.
#[derive(Clone)]
pub struct DeliveryActors {
    supervisor: ActorRef<SupervisorMsg>,
}

impl DeliveryActors {
    /// Starts the supervisor; it picks up the deliveries a previous run left unsent.
    pub async fn start(
        deps: DeliveryDeps,
    ) -> anyhow::Result<(DeliveryActors, ActorRef<SupervisorMsg>)> {
        let (supervisor, _) = Actor::spawn(None, DeliverySupervisor, deps).await?;
        Ok((
            DeliveryActors {
                supervisor: supervisor.clone(),
            },
            supervisor,
        ))
    }

    pub fn dispatch(&self, queued: Vec<Queued>) {
        if queued.is_empty() {
            return;
        }
        if self
            .supervisor
            .cast(SupervisorMsg::Dispatch(queued))
            .is_err()
        {
            tracing::warn!(
                "the delivery supervisor has stopped; messages stay pending in the store"
            );
        }
    }
}

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
                    let attempt = attempt.saturating_add(1);
                    let delay = Backoff::STORE.delay(attempt);
                    state
                        .deps
                        .metrics
                        .store_retry("delivery_resume", delay, &error);
                    let (channel, address) = key;
                    myself.send_after(delay, move || SupervisorMsg::Resume {
                        channel,
                        address,
                        attempt,
                    });
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

/// SMS and voice share Twilio, so they share its breaker.
fn provider_of(channel: Channel) -> Channel {
    match channel {
        Channel::Voice => Channel::Sms,
        other => other,
    }
}

pub enum DeliveryMsg {
    Enqueue(Vec<Queued>),
    /// Checks whether the actor has been idle long enough to stop.
    IdleCheck,
    /// The send in flight came back.
    Done(Result<Receipt, SendError>),
    /// A limiter, breaker or retry wait is over.
    Wake,
}

pub struct DeliveryActor;

pub struct DeliveryArgs {
    channel: Channel,
    address: String,
    deps: Arc<DeliveryDeps>,
    breakers: Arc<Mutex<HashMap<Channel, Breaker>>>,
    supervisor: ActorRef<SupervisorMsg>,
}

/// The message being sent (or waiting to be retried).
struct Current {
    /// Its own delivery id: the message's, or the digest's.
    id: Uuid,
    /// The deliveries it stands for (merged duplicates, a digest's parts).
    members: Vec<Uuid>,
    message: Outgoing,
    attempts: u32,
    in_flight: bool,
    retry_at: Option<Instant>,
}

/// A service's first page to a destination within this long jumps ahead of the rest.
const SERVICE_WINDOW: Duration = Duration::from_secs(600);

pub struct DeliveryState {
    args: DeliveryArgs,
    /// When each service first paged this destination, within `SERVICE_WINDOW`.
    services: HashMap<Uuid, Instant>,
    queue: PendingQueue<Outgoing>,
    limiter: DefaultDirectRateLimiter,
    current: Option<Current>,
    wake_at: Option<Instant>,
    /// Since when nothing has waited or been in flight.
    idle_since: Option<Instant>,
    /// Asked the supervisor to stop it: whatever still arrives goes back there.
    passivating: bool,
}

impl DeliveryActor {
    /// Notes whether the actor is idle now, and arms the idle check when it becomes so.
    fn note_idle(myself: &ActorRef<DeliveryMsg>, state: &mut DeliveryState) {
        let idle = state.queue.is_empty() && state.current.is_none();
        match (idle, state.idle_since) {
            (true, None) => {
                state.idle_since = Some(Instant::now());
                myself.send_after(state.args.deps.settings.idle_after, || {
                    DeliveryMsg::IdleCheck
                });
            }
            (false, Some(_)) => state.idle_since = None,
            _ => {}
        }
    }

    fn wake_in(myself: &ActorRef<DeliveryMsg>, state: &mut DeliveryState, wait: Duration) {
        let at = Instant::now() + wait;
        if state.wake_at.is_some_and(|armed| armed <= at) {
            return;
        }
        state.wake_at = Some(at);
        myself.send_after(wait, || DeliveryMsg::Wake);
    }

    /// Sends what is due, or arranges to be woken when it will be.
    async fn pump(myself: &ActorRef<DeliveryMsg>, state: &mut DeliveryState) {
        loop {
            if let Some(current) = &state.current {
                if current.in_flight {
                    return;
                }
                if let Some(at) = current.retry_at
                    && at > Instant::now()
                {
                    Self::wake_in(myself, state, at - Instant::now());
                    return;
                }
            } else if state.queue.is_empty() {
                return;
            }
            let provider = provider_of(state.args.channel);
            let permit = {
                let breakers = state
                    .args
                    .breakers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                breakers
                    .get(&provider)
                    .map_or(Ok(()), |b| b.permit(Instant::now().into_std()))
            };
            if let Err(until) = permit {
                let wait = until.saturating_duration_since(Instant::now().into_std());
                Self::wake_in(myself, state, wait.max(Duration::from_millis(10)));
                return;
            }
            if let Err(not_until) = state.limiter.check() {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Self::wake_in(myself, state, wait.max(Duration::from_millis(1)));
                return;
            }
            if state.current.is_none() {
                match Self::next(state).await {
                    Some(current) => state.current = Some(current),
                    // Everything taken was dropped; the slot is spent, try the rest.
                    None => continue,
                }
            }
            Self::send(myself, state);
            return;
        }
    }

    /// Takes the next batch: drops pages whose alerts were settled meanwhile, and makes
    /// a digest of several.
    async fn next(state: &mut DeliveryState) -> Option<Current> {
        let batch = state.queue.take()?;
        let batch = Self::drop_settled(state, batch).await?;
        let now = crate::clock::now();
        match batch {
            Batch::One(pending) => Some(Current {
                id: pending.deliveries[0],
                members: pending.deliveries,
                message: pending.payload,
                attempts: 0,
                in_flight: false,
                retry_at: None,
            }),
            Batch::Digest(items) => {
                let alerts = alerts_of(&items);
                let others = items.iter().filter(|p| p.alerts.is_empty()).count();
                let members: Vec<Uuid> = items.iter().flat_map(|p| p.deliveries.clone()).collect();
                state.args.deps.metrics.digest_made(members.len());
                let text = digest::text(&alerts, others);
                let message = Outgoing::new(
                    Kind::Digest,
                    Content {
                        subject: text.lines().next().unwrap_or_default().replace('*', ""),
                        text,
                        html: None,
                    },
                    ContextMeta {
                        alerts,
                        actionable: None,
                        link: None,
                    },
                );
                let request = Request {
                    request_id: String::new(),
                    priority: Priority::High,
                    channel: state.args.channel,
                    address: state.args.address.clone(),
                    user_id: None,
                    template: None,
                    message: message.clone(),
                };
                let record = request.record(now);
                let id = record.id;
                let mut entries = vec![Entry::Created(record)];
                entries.extend(members.iter().map(|member| {
                    Entry::Update(DeliveryUpdate {
                        id: *member,
                        state: "pending".into(),
                        attempts: 0,
                        last_error: String::new(),
                        merged_into: Some(id),
                        at: now,
                    })
                }));
                state.args.deps.log.write(entries).await;
                Some(Current {
                    id,
                    members,
                    message,
                    attempts: 0,
                    in_flight: false,
                    retry_at: None,
                })
            }
        }
    }

    async fn drop_settled(
        state: &DeliveryState,
        batch: Batch<Outgoing>,
    ) -> Option<Batch<Outgoing>> {
        let items = match batch {
            Batch::One(p) => vec![p],
            Batch::Digest(items) => items,
        };
        let page_alerts: Vec<Uuid> = items
            .iter()
            .filter(|p| p.class.is_page())
            .flat_map(|p| p.alerts.iter().map(|a| a.id))
            .collect();
        let settled: HashSet<Uuid> = if page_alerts.is_empty() {
            HashSet::new()
        } else {
            match state.args.deps.store.get_alerts(&page_alerts).await {
                Ok(alerts) => alerts
                    .into_iter()
                    .filter(|a| {
                        matches!(a.status, AlertStatus::Acknowledged | AlertStatus::Resolved)
                    })
                    .map(|a| a.id)
                    .collect(),
                Err(error) => {
                    tracing::warn!(%error, "could not check whether waiting pages are still wanted; sending them");
                    HashSet::new()
                }
            }
        };
        let (dropped, kept): (Vec<Pending<Outgoing>>, Vec<Pending<Outgoing>>) =
            items.into_iter().partition(|p| {
                p.class.is_page()
                    && !p.alerts.is_empty()
                    && p.alerts.iter().all(|a| settled.contains(&a.id))
            });
        for _ in &dropped {
            state
                .args
                .deps
                .metrics
                .delivery_attempt(state.args.channel.as_str(), "dropped");
        }
        if !dropped.is_empty() {
            let now = crate::clock::now();
            let entries = dropped
                .iter()
                .flat_map(|p| {
                    let why = format!(
                        "alert #{} was acknowledged or resolved while the page waited",
                        p.alerts.first().map_or(0, |a| a.number)
                    );
                    p.deliveries.iter().map(move |id| {
                        Entry::Update(DeliveryUpdate {
                            id: *id,
                            state: "dropped".into(),
                            attempts: 0,
                            last_error: why.clone(),
                            merged_into: None,
                            at: now,
                        })
                    })
                })
                .collect();
            state.args.deps.log.write(entries).await;
        }
        match kept.len() {
            0 => None,
            1 => kept.into_iter().next().map(Batch::One),
            _ => Some(Batch::Digest(kept)),
        }
    }

    fn send(myself: &ActorRef<DeliveryMsg>, state: &mut DeliveryState) {
        let Some(current) = state.current.as_mut() else {
            return;
        };
        current.in_flight = true;
        current.attempts += 1;
        current.retry_at = None;
        let (body, _) = current
            .message
            .body(state.args.channel, &state.args.address);
        let address = state.args.address.clone();
        let provider = state.args.deps.providers.get(state.args.channel);
        let myself = myself.clone();
        tokio::spawn(async move {
            let result = match provider {
                Ok(provider) => provider.send(&address, &body).await,
                Err(error) => Err(error),
            };
            let _ = myself.cast(DeliveryMsg::Done(result));
        });
    }

    async fn finish(
        myself: &ActorRef<DeliveryMsg>,
        state: &mut DeliveryState,
        result: Result<Receipt, SendError>,
    ) {
        let Some(mut current) = state.current.take() else {
            return;
        };
        current.in_flight = false;
        let now = crate::clock::now();
        let attempt = i32::try_from(current.attempts).unwrap_or(i32::MAX);
        let provider = provider_of(state.args.channel);
        let transition = {
            let mut breakers = state
                .args
                .breakers
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let breaker = breakers.entry(provider).or_insert_with(|| {
                Breaker::new(
                    state.args.deps.settings.breaker_failures,
                    state.args.deps.settings.breaker_cooldown,
                )
            });
            match &result {
                Ok(_) => breaker.success(),
                // A refusal of this message is not the provider failing.
                Err(e) if !e.retryable => Transition::None,
                Err(_) => breaker.failure(Instant::now().into_std()),
            }
        };
        let (state_name, error, http_status, retry) = match &result {
            Ok(receipt) => ("sent", String::new(), receipt.http_status, None),
            Err(e) => {
                let delay = if e.retryable {
                    state.args.deps.settings.retry.delay(
                        current.attempts,
                        e.retry_after,
                        rand::random::<f64>(),
                    )
                } else {
                    None
                };
                let name = if delay.is_some() {
                    "retrying"
                } else {
                    "failed"
                };
                (name, e.message.clone(), e.http_status, delay)
            }
        };
        state
            .args
            .deps
            .metrics
            .delivery_attempt(state.args.channel.as_str(), state_name);
        let mut entries = vec![Entry::Attempt(DeliveryAttempt {
            delivery_id: current.id,
            attempt,
            at: now,
            outcome: state_name.into(),
            http_status: i32::from(http_status),
            error: error.clone(),
        })];
        let digest = current.message.kind() == Kind::Digest;
        let mut ids = vec![current.id];
        ids.extend(current.members.iter().filter(|m| **m != current.id));
        for id in ids {
            let own = id == current.id;
            entries.push(Entry::Update(DeliveryUpdate {
                id,
                state: state_name.into(),
                attempts: if own || !digest { attempt } else { 0 },
                last_error: error.clone(),
                merged_into: if digest && !own {
                    Some(current.id)
                } else {
                    None
                },
                at: now,
            }));
        }
        state.args.deps.log.write(entries).await;
        match &result {
            Ok(_) => {
                tracing::debug!(channel = state.args.channel.as_str(), address = %state.args.address,
                delivery = %current.id, members = current.members.len(), "delivered")
            }
            Err(e) => {
                tracing::warn!(channel = state.args.channel.as_str(), address = %state.args.address,
                delivery = %current.id, attempt, error = %e.message, retry = ?retry, "delivery attempt failed")
            }
        }
        let health = match transition {
            Transition::Opened => Some(format!(
                "oncall: {} keeps failing ({error}); its messages wait and are retried",
                provider.as_str()
            )),
            Transition::Recovered => Some(format!(
                "oncall: {} works again; waiting messages are going out",
                provider.as_str()
            )),
            Transition::None => None,
        };
        if let Some(text) = health {
            let _ = state.args.supervisor.cast(SupervisorMsg::ProviderHealth {
                channel: provider,
                text,
            });
        }
        if let Some(delay) = retry {
            current.retry_at = Some(Instant::now() + delay);
            state.current = Some(current);
            Self::wake_in(myself, state, delay);
        }
        Self::pump(myself, state).await;
    }
}

impl Actor for DeliveryActor {
    type Msg = DeliveryMsg;
    type State = DeliveryState;
    type Arguments = DeliveryArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<DeliveryMsg>,
        args: DeliveryArgs,
    ) -> Result<DeliveryState, ActorProcessingErr> {
        let rate = args.deps.settings.rates.of(args.channel);
        let quota =
            Quota::per_second(std::num::NonZeroU32::new(rate).unwrap_or(std::num::NonZeroU32::MIN))
                .allow_burst(std::num::NonZeroU32::MIN);
        Ok(DeliveryState {
            args,
            services: HashMap::new(),
            queue: PendingQueue::default(),
            limiter: RateLimiter::direct(quota),
            current: None,
            wake_at: None,
            idle_since: None,
            passivating: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<DeliveryMsg>,
        message: DeliveryMsg,
        state: &mut DeliveryState,
    ) -> Result<(), ActorProcessingErr> {
        if state.passivating {
            if let DeliveryMsg::Enqueue(items) = message {
                let _ = state.args.supervisor.cast(SupervisorMsg::Dispatch(items));
            }
            return Ok(());
        }
        match message {
            DeliveryMsg::IdleCheck => {
                let idle_for = state.idle_since.map(|since| since.elapsed());
                if idle_for.is_some_and(|d| d >= state.args.deps.settings.idle_after) {
                    state.passivating = true;
                    let _ = state.args.supervisor.cast(SupervisorMsg::Idle {
                        channel: state.args.channel,
                        address: state.args.address.clone(),
                        actor: myself.get_id(),
                    });
                }
                return Ok(());
            }
            DeliveryMsg::Enqueue(items) => {
                for item in items {
                    let mut message = item.message;
                    if message.kind() == Kind::Page
                        && let Some(service) = message.alerts.first().map(|a| a.service_id)
                    {
                        let now = Instant::now();
                        let recent = state
                            .services
                            .get(&service)
                            .is_some_and(|at| now.duration_since(*at) < SERVICE_WINDOW);
                        message.first_of_service = !recent;
                        if !recent {
                            if state.services.len() >= 10_000 {
                                state
                                    .services
                                    .retain(|_, at| now.duration_since(*at) < SERVICE_WINDOW);
                            }
                            state.services.insert(service, now);
                        }
                    }
                    state.queue.push(Pending {
                        class: message.class(),
                        merge_key: item.merge_key,
                        deliveries: vec![item.id],
                        alerts: message.alert_refs(),
                        payload: message,
                    });
                }
                Self::pump(&myself, state).await;
            }
            DeliveryMsg::Done(result) => Self::finish(&myself, state, result).await,
            DeliveryMsg::Wake => {
                state.wake_at = None;
                Self::pump(&myself, state).await;
            }
        }
        Self::note_idle(&myself, state);
        Ok(())
    }
}

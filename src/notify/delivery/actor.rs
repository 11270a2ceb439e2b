//! One destination's actor: its limiter, waiting queue and digests, one send in flight,
//! retries with backoff, and the record of every attempt.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::time::Instant;
use uuid::Uuid;

use crate::domain::alert::AlertStatus;
use crate::domain::notify::breaker::{Breaker, Transition};
use crate::domain::notify::channel::Channel;
use crate::domain::notify::digest;
use crate::domain::notify::format::Content;
use crate::domain::notify::message::{Kind, Priority};
use crate::domain::notify::queue::{Batch, Pending, PendingQueue, alerts_of};
use crate::notify::log::Entry;
use crate::notify::outgoing::{ContextMeta, Outgoing, Request};
use crate::notify::provider::{Receipt, SendError};
use crate::store::{DeliveryAttempt, DeliveryUpdate};

use super::supervisor::SupervisorMsg;
use super::{DeliveryDeps, Queued, provider_of};

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
    pub(super) channel: Channel,
    pub(super) address: String,
    pub(super) deps: Arc<DeliveryDeps>,
    pub(super) breakers: Arc<Mutex<HashMap<Channel, Breaker>>>,
    pub(super) supervisor: ActorRef<SupervisorMsg>,
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

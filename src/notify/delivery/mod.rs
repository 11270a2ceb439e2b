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

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef};
use uuid::Uuid;

use crate::directory::Directory;
use crate::domain::notify::channel::Channel;
use crate::domain::notify::message::Priority;
use crate::notify::log::DeliveryLogWriter;
use crate::notify::outgoing::Outgoing;
use crate::notify::provider::Providers;
use crate::notify::settings::NotifySettings;
use crate::store::{Store, StoredDelivery};
use crate::telemetry::Metrics;

mod actor;
mod supervisor;

use supervisor::DeliverySupervisor;
pub use supervisor::SupervisorMsg;

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

/// SMS and voice share Twilio, so they share its breaker.
fn provider_of(channel: Channel) -> Channel {
    match channel {
        Channel::Voice => Channel::Sms,
        other => other,
    }
}

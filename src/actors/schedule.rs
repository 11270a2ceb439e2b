//! Schedule actors: one `ScheduleActor` per schedule owns that schedule's handoff timers
//! (reminders before each handoff, the handoff with its summary, the acknowledgement
//! deadline); a `ScheduleSupervisor` starts one per stored schedule, tells it when its
//! schedule changes, and restarts it from the store if it fails.
//!
//! An actor recomputes its next step only when woken by its timer or told its schedule
//! changed; its timer is a tokio sleep. Until the notification service lands, handoff
//! messages go out as webhook POSTs (the schedule's, else its team's) and every message,
//! sent or not, is recorded as an event on the handoff.
//!
//! A handoff is recorded once (one row per rotation and instant), so a restarted actor
//! that meets it again does not record it twice. Steps that came due while the server
//! was down are not replayed: an actor starts from now.
//!
//! About 600 lines: the supervisor and the actor with its handoff steps; the maths is
//! in `domain::schedule`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};
use serde_json::json;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::definitions::Definitions;
use crate::definitions::schedule::{compile, reminders};
use crate::definitions::team::managers;
use crate::directory::Directory;
use crate::domain::notify::message::{Kind as MessageKind, Priority};
use crate::domain::schedule::{Handoff, HandoffStep, PlannedStep, Schedule};
use crate::handoff_summary::summarize;
use crate::notify::notifier::{Notifier, pageable};
use crate::notify::webhook::WebhookSender;
use crate::pb::alerting::routing::v1 as pb;
use crate::retry::retry_later;
use crate::store::{HandoffEvent, Kind, Store, StoredHandoff};
use crate::telemetry::Metrics;

/// Longest sleep between looks at the clock, so a clock step is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(300);
/// Handoffs looked at for acknowledgement deadlines.
const RECENT_HANDOFFS: i64 = 20;

/// What schedule actors need from the rest of the server.
#[derive(Clone)]
pub struct ScheduleDeps {
    pub store: Arc<dyn Store>,
    pub webhooks: WebhookSender,
    /// The people a handoff concerns are told through their verified methods.
    pub notifier: Notifier,
    pub directory: Directory,
    pub metrics: Arc<Metrics>,
}

/// The handle the API uses to tell the actors a schedule changed.
#[derive(Clone)]
pub struct ScheduleActors {
    supervisor: ActorRef<SupervisorMsg>,
}

impl ScheduleActors {
    pub async fn start(
        deps: ScheduleDeps,
    ) -> Result<(ScheduleActors, ActorRef<SupervisorMsg>), ractor::SpawnErr> {
        let (supervisor, _) = Actor::spawn(None, ScheduleSupervisor, deps).await?;
        Ok((
            ScheduleActors {
                supervisor: supervisor.clone(),
            },
            supervisor,
        ))
    }

    /// The schedule was created, changed, deleted, or one of its handoffs acknowledged.
    pub fn changed(&self, schedule: Uuid) {
        if self
            .supervisor
            .cast(SupervisorMsg::Refresh {
                schedule,
                attempt: 0,
            })
            .is_err()
        {
            tracing::warn!(%schedule, "schedule supervisor stopped; handoffs wait for a restart");
        }
    }
}

pub enum SupervisorMsg {
    /// Start, reload or stop the actor of a schedule, as the store now says; `attempt`
    /// counts the tries the store failed before this one.
    Refresh { schedule: Uuid, attempt: u32 },
}

pub struct ScheduleSupervisor;

pub struct SupervisorState {
    deps: ScheduleDeps,
    actors: HashMap<Uuid, ActorRef<ScheduleMsg>>,
}

impl ScheduleSupervisor {
    async fn spawn_child(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        schedule: Uuid,
    ) -> Result<(), ActorProcessingErr> {
        let (child, _) = Actor::spawn_linked(
            None,
            ScheduleActor,
            (schedule, state.deps.clone()),
            myself.get_cell(),
        )
        .await?;
        state.actors.insert(schedule, child);
        Ok(())
    }

    /// Starts, reloads or stops the actor of a schedule, as the store now says.
    async fn refresh(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        schedule: Uuid,
    ) -> Result<(), ActorProcessingErr> {
        let exists = state
            .deps
            .store
            .get_definition(Kind::Schedule, schedule)
            .await?
            .is_some();
        match (exists, state.actors.get(&schedule)) {
            (true, Some(actor)) => {
                actor.cast(ScheduleMsg::Reload)?;
            }
            (true, None) => Self::spawn_child(myself, state, schedule).await?,
            (false, Some(actor)) => {
                actor.stop(Some("schedule deleted".into()));
                state.actors.remove(&schedule);
            }
            (false, None) => {}
        }
        Ok(())
    }

    fn schedule_of(state: &SupervisorState, cell: &ActorCell) -> Option<Uuid> {
        state
            .actors
            .iter()
            .find(|(_, actor)| actor.get_id() == cell.get_id())
            .map(|(id, _)| *id)
    }
}

impl Actor for ScheduleSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = ScheduleDeps;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        deps: ScheduleDeps,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut state = SupervisorState {
            deps,
            actors: HashMap::new(),
        };
        let stored = state.deps.store.list_definitions(Kind::Schedule).await?;
        for schedule in stored {
            Self::spawn_child(&myself, &mut state, schedule.id).await?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisorMsg::Refresh { schedule, attempt } = message;
        if let Err(error) = Self::refresh(&myself, state, schedule).await {
            // Tried again with a backoff until the store answers: a schedule's actor is
            // never left down because the database blinked.
            retry_later(
                &myself,
                &state.deps.metrics,
                "schedule_refresh",
                attempt.saturating_add(1),
                &error,
                move |attempt| SupervisorMsg::Refresh { schedule, attempt },
            );
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, error) = &event
            && let Some(schedule) = Self::schedule_of(state, cell)
        {
            tracing::error!(%schedule, %error, "schedule actor failed; restarting it from the store");
            state.actors.remove(&schedule);
            // A short pause, so a schedule that fails at once does not spin.
            myself.send_after(Duration::from_millis(200), move || SupervisorMsg::Refresh {
                schedule,
                attempt: 0,
            });
        }
        Ok(())
    }
}

pub enum ScheduleMsg {
    /// The schedule changed in the store: reload it and re-arm the timer.
    Reload,
    /// The timer fired: take the steps that are due.
    Wake,
}

pub struct ScheduleActor;

pub struct ScheduleState {
    id: Uuid,
    deps: ScheduleDeps,
    schedule: pb::Schedule,
    compiled: Schedule,
    /// Steps at or before this instant are done.
    cursor: DateTime<Utc>,
    timer: Option<JoinHandle<()>>,
}

impl Drop for ScheduleState {
    fn drop(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
    }
}

async fn load(
    deps: &ScheduleDeps,
    id: Uuid,
) -> Result<(pb::Schedule, Schedule), ActorProcessingErr> {
    let schedules: Definitions<pb::Schedule> = Definitions::new(deps.store.clone());
    let (schedule, _) = schedules.get(id).await?;
    let compiled = compile(&schedule)?;
    Ok((schedule, compiled))
}

/// A handoff as its webhook messages spell it.
fn handoff_json(handoff: &StoredHandoff) -> serde_json::Value {
    json!({
        "id": handoff.id.to_string(),
        "rotation_id": handoff.rotation_id.to_string(),
        "level": handoff.level,
        "at": handoff.at.to_rfc3339(),
        "outgoing_user_id": handoff.outgoing_user_id.to_string(),
        "incoming_user_id": handoff.incoming_user_id.to_string(),
        "require_ack": handoff.require_ack,
    })
}

impl ScheduleState {
    fn config(&self) -> pb::HandoffConfig {
        self.schedule.handoff.clone().unwrap_or_default()
    }

    fn ack_window(&self) -> Option<TimeDelta> {
        self.config()
            .escalate_if_no_ack
            .and_then(|d| TimeDelta::try_seconds(d.seconds))
            .filter(|d| *d > TimeDelta::zero())
    }

    fn next_step(&self) -> Option<PlannedStep> {
        let reminders = reminders(&self.config()).unwrap_or_default();
        self.compiled.next_handoff_step(self.cursor, reminders)
    }

    /// Handoffs still waiting on their acknowledgement, with their deadline.
    async fn awaiting(&self) -> Vec<(StoredHandoff, DateTime<Utc>)> {
        let Some(window) = self.ack_window() else {
            return Vec::new();
        };
        match self
            .deps
            .store
            .list_handoffs(self.id, RECENT_HANDOFFS)
            .await
        {
            Ok(handoffs) => handoffs
                .into_iter()
                .filter(|h| {
                    h.require_ack && h.acknowledged_at.is_none() && h.escalated_at.is_none()
                })
                .map(|h| {
                    let deadline = h.at + window;
                    (h, deadline)
                })
                .collect(),
            Err(error) => {
                tracing::error!(schedule = %self.id, %error, "could not read handoffs");
                Vec::new()
            }
        }
    }

    /// Where handoff messages go: the schedule's webhook, else its team's.
    async fn target(&self) -> (Option<String>, Option<pb::Team>) {
        let team = match Uuid::parse_str(&self.schedule.team_id) {
            Ok(team) => Definitions::<pb::Team>::new(self.deps.store.clone())
                .find(team)
                .await
                .ok()
                .flatten(),
            Err(_) => None,
        };
        let url = Some(self.config().webhook_url)
            .filter(|u| !u.is_empty())
            .or_else(|| {
                team.as_ref()
                    .map(|t| t.webhook_url.clone())
                    .filter(|u| !u.is_empty())
            });
        (url, team)
    }

    /// Posts a handoff message to the schedule's (or team's) webhook, tells the people
    /// it concerns through the notifier, and records it on the handoff, sent or not.
    async fn send(&self, handoff: &StoredHandoff, kind: &str, body: serde_json::Value) {
        let (url, _) = self.target().await;
        let mut detail = match url {
            Some(url) => match self.deps.webhooks.post(&url, &body).await {
                Ok(status) => format!("sent to {url}: HTTP {status}"),
                Err(error) => format!("not sent to {url}: {error}"),
            },
            None => "not sent: neither the schedule nor its team has a webhook".to_string(),
        };
        let told = self.tell(handoff, &body).await;
        if told > 0 {
            detail.push_str(&format!("; {told} contact method(s) told"));
        }
        tracing::info!(schedule = %self.id, kind, %detail, "handoff message");
        let event = HandoffEvent {
            kind: kind.to_string(),
            at: crate::clock::now(),
            detail,
        };
        if let Err(error) = self.deps.store.add_handoff_event(handoff.id, &event).await {
            tracing::error!(schedule = %self.id, %error, "could not record a handoff message");
        }
    }

    /// Tells the people a handoff message concerns, through each of their verified
    /// contact methods; returns how many messages were queued.
    async fn tell(&self, handoff: &StoredHandoff, body: &serde_json::Value) -> usize {
        let name = &self.schedule.name;
        let at = handoff.at.format("%Y-%m-%d %H:%M UTC");
        let (users, text): (Vec<Uuid>, String) = match body["type"].as_str() {
            Some("handoff.reminder") if body["to"] == "outgoing" => (
                vec![handoff.outgoing_user_id],
                format!("Reminder: your on-call shift on {name} ends at {at}."),
            ),
            Some("handoff.reminder") => (
                vec![handoff.incoming_user_id],
                format!("Reminder: your on-call shift on {name} starts at {at}."),
            ),
            Some("handoff") => (
                vec![handoff.incoming_user_id],
                format!(
                    "You are on call on {name} from {at}.{}{}",
                    body["open_alerts"]
                        .as_array()
                        .map(|a| format!(" {} open alert(s) are handed over.", a.len()))
                        .unwrap_or_default(),
                    if handoff.require_ack {
                        " Please acknowledge the handoff."
                    } else {
                        ""
                    }
                ),
            ),
            Some("handoff.unacknowledged") => (
                vec![handoff.outgoing_user_id],
                format!(
                    "Nobody acknowledged the handoff on {name} at {at}: you may still be on call."
                ),
            ),
            _ => return 0,
        };
        let mut requests = Vec::new();
        for user in users {
            let methods = match self.deps.directory.contact_methods(user).await {
                Ok(methods) => methods,
                Err(error) => {
                    tracing::warn!(schedule = %self.id, %user, %error, "could not read contact methods");
                    continue;
                }
            };
            for (channel, method) in pageable(&methods) {
                requests.push(Notifier::text_request(
                    MessageKind::Status,
                    Priority::Normal,
                    channel,
                    &method.address,
                    Some(user),
                    &format!("On-call handoff: {name}"),
                    &text,
                ));
            }
        }
        let count = requests.len();
        self.deps.notifier.submit(requests).await;
        count
    }

    /// The recorded handoff, recording it first if this is the first step that meets it.
    async fn record(&self, handoff: &Handoff) -> Option<StoredHandoff> {
        let config = self.config();
        let fresh = StoredHandoff {
            id: Uuid::new_v4(),
            schedule_id: self.id,
            rotation_id: handoff.rotation_id,
            level: i32::try_from(handoff.level).unwrap_or(i32::MAX),
            at: handoff.at,
            outgoing_user_id: handoff.outgoing_user_id,
            incoming_user_id: handoff.incoming_user_id,
            require_ack: config.require_ack,
            acknowledged_at: None,
            acknowledged_by: None,
            escalated_at: None,
        };
        let store = &self.deps.store;
        let found = async {
            store.insert_handoff(&fresh).await?;
            Ok::<_, crate::store::StoreError>(
                store
                    .list_handoffs(self.id, RECENT_HANDOFFS)
                    .await?
                    .into_iter()
                    .find(|h| h.rotation_id == handoff.rotation_id && h.at == handoff.at),
            )
        };
        match found.await {
            Ok(found) => found,
            Err(error) => {
                tracing::error!(schedule = %self.id, %error, "could not record a handoff");
                None
            }
        }
    }

    async fn take(&self, step: &PlannedStep) {
        let Some(handoff) = self.record(&step.handoff).await else {
            return;
        };
        let base = json!({
            "schedule_id": self.id.to_string(),
            "schedule_name": self.schedule.name,
            "handoff": handoff_json(&handoff),
        });
        match step.step {
            HandoffStep::RemindOutgoing => {
                let mut body = base;
                body["type"] = json!("handoff.reminder");
                body["to"] = json!("outgoing");
                body["user_id"] = json!(handoff.outgoing_user_id.to_string());
                self.send(&handoff, "reminder.outgoing", body).await;
            }
            HandoffStep::RemindIncoming => {
                let mut body = base;
                body["type"] = json!("handoff.reminder");
                body["to"] = json!("incoming");
                body["user_id"] = json!(handoff.incoming_user_id.to_string());
                self.send(&handoff, "reminder.incoming", body).await;
            }
            HandoffStep::HandOff => {
                let mut body = base;
                body["type"] = json!("handoff");
                body["require_ack"] = json!(handoff.require_ack);
                match summarize(&self.deps.store, &self.schedule, &self.compiled, &handoff).await {
                    Ok(summary) => {
                        body["open_alerts"] = json!(summary
                            .open_alerts
                            .iter()
                            .map(|a| json!({"id": a.id.to_string(), "number": a.number, "summary": a.summary, "severity": a.severity.as_str(), "status": a.status.as_str()}))
                            .collect::<Vec<_>>());
                        body["shift_alerts"] = json!(summary.shift_alerts.len());
                    }
                    Err(error) => {
                        tracing::warn!(schedule = %self.id, %error, "handoff summary incomplete");
                    }
                }
                self.send(&handoff, "handoff", body).await;
            }
        }
    }

    /// Tells the outgoing person and the team's managers nobody took the shift, unless
    /// the acknowledgement came first.
    async fn escalate(&self, handoff: StoredHandoff) {
        match self
            .deps
            .store
            .escalate_handoff(handoff.id, crate::clock::now())
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                tracing::error!(schedule = %self.id, %error, "could not escalate a handoff");
                return;
            }
        }
        let (_, team) = self.target().await;
        let body = json!({
            "type": "handoff.unacknowledged",
            "schedule_id": self.id.to_string(),
            "schedule_name": self.schedule.name,
            "handoff": handoff_json(&handoff),
            "outgoing_user_id": handoff.outgoing_user_id.to_string(),
            "manager_user_ids": team.as_ref().map(managers).unwrap_or_default(),
        });
        self.send(&handoff, "unacknowledged", body).await;
    }

    /// Takes every step that is due, then sleeps until the next one.
    async fn advance(&mut self, myself: &ActorRef<ScheduleMsg>) {
        let now = crate::clock::now();
        while let Some(step) = self.next_step().filter(|s| s.at <= now) {
            self.take(&step).await;
            self.cursor = step.at;
        }
        let mut wake = self.next_step().map(|s| s.at);
        for (handoff, deadline) in self.awaiting().await {
            if deadline <= now {
                self.escalate(handoff).await;
            } else {
                wake = Some(wake.map_or(deadline, |w| w.min(deadline)));
            }
        }
        self.arm(myself, wake, now);
    }

    fn arm(
        &mut self,
        myself: &ActorRef<ScheduleMsg>,
        wake: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
        let sleep = wake
            .and_then(|w| (w - now).to_std().ok())
            .map_or(MAX_SLEEP, |d| d.min(MAX_SLEEP));
        let me = myself.clone();
        self.timer = Some(tokio::spawn(async move {
            tokio::time::sleep(sleep + Duration::from_millis(5)).await;
            let _ = me.cast(ScheduleMsg::Wake);
        }));
    }
}

impl Actor for ScheduleActor {
    type Msg = ScheduleMsg;
    type State = ScheduleState;
    type Arguments = (Uuid, ScheduleDeps);

    async fn pre_start(
        &self,
        myself: ActorRef<ScheduleMsg>,
        (id, deps): (Uuid, ScheduleDeps),
    ) -> Result<ScheduleState, ActorProcessingErr> {
        let (schedule, compiled) = load(&deps, id).await?;
        let mut state = ScheduleState {
            id,
            deps,
            schedule,
            compiled,
            cursor: crate::clock::now(),
            timer: None,
        };
        state.advance(&myself).await;
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<ScheduleMsg>,
        message: ScheduleMsg,
        state: &mut ScheduleState,
    ) -> Result<(), ActorProcessingErr> {
        if let ScheduleMsg::Reload = message {
            let (schedule, compiled) = load(&state.deps, state.id).await?;
            state.schedule = schedule;
            state.compiled = compiled;
        }
        state.advance(&myself).await;
        Ok(())
    }
}

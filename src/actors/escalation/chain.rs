//! One active chain's actor: its step and SLA timers, firing steps, storing them with
//! their pages, delivering the pages.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::json;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::supervisor::SupervisorMsg;
use super::{ACTOR_ESCALATION, EscalationDeps, MAX_SLEEP, load_policy, sla_deadline};
use crate::domain::alert::{Alert, AlertStatus, TimelineKind};
use crate::domain::backoff::Backoff;
use crate::domain::escalation::{Chain, ChainStatus, Exhausted, Fired, Policy, Target};
use crate::domain::lifecycle::Command;
use crate::domain::routing::{CelActivation, CelEnv};
use crate::paging::{PagingError, Recipient};
use crate::store::StoredPage;

/// A page's outcome until delivery answers.
const PENDING: &str = "pending";
/// The outcome of a page row standing for a schedule or team that had nobody on call.
const NOBODY_ON_CALL: &str = "nobody on call";

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

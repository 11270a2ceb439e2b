//! The engine: a supervisor actor over the fingerprint shards, and [`Engine`], the
//! cheap handle the edges use to ingest alerts and run commands.
//!
//! Admission is bounded here, before any actor sees the work: ractor mailboxes are
//! unbounded, so a semaphore of in-flight alerts is what keeps a storm from growing
//! memory. Edges that get [`EngineError::Overloaded`] answer 429/503/RESOURCE_EXHAUSTED.

use std::collections::HashSet;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::alert::CommandReceipt;
use super::persister::{CommitReceipt, Persister};
use super::router::Router;
use super::shard::{Shard, ShardArgs, ShardIngest, ShardMsg};
use super::{EngineError, IngestResult};
use crate::books::enrichment::{EnrichmentBook, enrich};
use crate::domain::alert::Alert;
use crate::domain::backoff::Backoff;
use crate::domain::change::AlertChange;
use crate::domain::fingerprint::{self, AlertKey};
use crate::domain::incoming::IncomingAlert;
use crate::domain::lifecycle::{AlertState, Command, IngestOutcome};
use crate::store::Store;
use crate::telemetry::{Metrics, Rejection};

/// How long the engine waits for a shard before answering "unavailable".
const SHARD_CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Fingerprint shards: each is one actor, so this bounds ingest parallelism.
    pub shards: usize,
    /// Alerts admitted at once (in flight between the edge and the commit).
    pub max_in_flight_alerts: usize,
    /// Commit requests the persister queues before senders wait.
    pub persister_queue: usize,
    /// An alert actor with no work for this long is passivated into its shard.
    pub actor_idle_after: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            shards: 8,
            max_in_flight_alerts: 200_000,
            persister_queue: 4_096,
            actor_idle_after: Duration::from_secs(60),
        }
    }
}

/// How an edge wants admission to behave when the engine is full.
#[derive(Clone, Copy, Debug)]
pub enum Admission {
    /// Refuse at once (webhooks, unary RPCs: the sender retries).
    Immediate,
    /// Wait up to this long (streams: HTTP/2 flow control slows the sender meanwhile).
    Wait(Duration),
}

type ShardTable = Arc<RwLock<Vec<ActorRef<ShardMsg>>>>;

/// The handle the edges hold. Cloning is cheap.
#[derive(Clone)]
pub struct Engine {
    shards: ShardTable,
    admission: Arc<Semaphore>,
    max_in_flight: usize,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    changes: broadcast::Sender<AlertChange>,
    /// Set once at start-up: where committed new alerts go to be routed.
    router: Arc<OnceLock<Router>>,
    /// The reference data every firing alert is enriched with before its shard decides.
    enrichment: EnrichmentBook,
}

/// What `start` returns besides the handle: what `shutdown` needs.
pub struct RunningEngine {
    supervisor: ActorRef<SupervisorMsg>,
    supervisor_task: JoinHandle<()>,
    persister_task: JoinHandle<()>,
}

/// The outcome of one ingest request, in the order the alerts were given.
#[derive(Debug)]
pub struct IngestReport {
    pub results: Vec<IngestResult>,
}

impl Engine {
    /// Loads the open alerts, starts the persister and the supervised shards.
    pub async fn start(
        store: Arc<dyn Store>,
        settings: EngineSettings,
        metrics: Arc<Metrics>,
    ) -> Result<(Engine, RunningEngine), EngineError> {
        let shard_count = settings.shards.max(1);
        let numbers = Arc::new(AtomicI64::new(store.max_alert_number().await?));
        let mut preload: Vec<Vec<(AlertKey, AlertState)>> = vec![Vec::new(); shard_count];
        for (key, state) in store.open_alerts().await? {
            preload[key.shard(shard_count)].push((key, state));
        }
        tracing::info!(
            open_alerts = preload.iter().map(Vec::len).sum::<usize>(),
            shards = shard_count,
            "engine rehydrated"
        );
        let enrichment = EnrichmentBook::load(store.clone())
            .await
            .map_err(|e| EngineError::Unavailable(format!("reference data: {e}")))?;
        let (changes, _) = broadcast::channel(4_096);
        let (persister, persister_task) = Persister::spawn(
            store.clone(),
            metrics.clone(),
            changes.clone(),
            settings.persister_queue,
        );
        let shards: ShardTable = Arc::new(RwLock::new(Vec::new()));
        let args = SupervisorArgs {
            shards: shards.clone(),
            template: ShardTemplate {
                count: shard_count,
                store: store.clone(),
                persister,
                numbers,
                idle_after: settings.actor_idle_after,
                metrics: metrics.clone(),
            },
            preload,
        };
        let (supervisor, supervisor_task) = Actor::spawn(None, EngineSupervisor, args)
            .await
            .map_err(|e| EngineError::Unavailable(format!("engine did not start: {e}")))?;
        let engine = Engine {
            shards,
            admission: Arc::new(Semaphore::new(settings.max_in_flight_alerts.max(1))),
            max_in_flight: settings.max_in_flight_alerts.max(1),
            store,
            metrics,
            changes,
            router: Arc::new(OnceLock::new()),
            enrichment,
        };
        Ok((
            engine,
            RunningEngine {
                supervisor,
                supervisor_task,
                persister_task,
            },
        ))
    }

    /// Ingests a validated request for one service. Answers only after every write it
    /// caused is committed.
    pub async fn ingest(
        &self,
        service_id: Uuid,
        alerts: Vec<IncomingAlert>,
        admission: Admission,
    ) -> Result<IngestReport, EngineError> {
        self.submit(service_id, alerts, admission)
            .await?
            .committed()
            .await
    }

    /// The first half of [`Engine::ingest`]: admits the request and has the shards decide
    /// it. Requests submitted one after another are decided in that order, so a stream
    /// can wait for the commits of several batches at once without reordering them.
    pub async fn submit(
        &self,
        service_id: Uuid,
        alerts: Vec<IncomingAlert>,
        admission: Admission,
    ) -> Result<PendingIngest, EngineError> {
        let started = Instant::now();
        let total = alerts.len();
        let permit = self.admit(total.max(1), admission).await?;
        let shard_refs = self.shard_refs()?;
        let count = shard_refs.len();
        let mut per_shard: Vec<Vec<(usize, AlertKey, IncomingAlert)>> = vec![Vec::new(); count];
        let reference = self.enrichment.current();
        for (position, mut alert) in alerts.into_iter().enumerate() {
            // The fingerprint is over the labels the sender sent, before enrichment.
            let fingerprint = alert
                .fingerprint
                .clone()
                .unwrap_or_else(|| fingerprint::derive(service_id, &alert.labels, &alert.summary));
            enrich(&reference, &mut alert);
            let key = AlertKey {
                service_id,
                fingerprint,
            };
            per_shard[key.shard(count)].push((position, key, alert));
        }
        let now = crate::clock::now();
        let calls = per_shard
            .into_iter()
            .enumerate()
            .filter(|(_, items)| !items.is_empty())
            .map(|(index, items)| {
                let shard = shard_refs[index].clone();
                async move {
                    let answer = shard
                        .call(
                            |reply| ShardMsg::Ingest { items, now, reply },
                            Some(SHARD_CALL_TIMEOUT),
                        )
                        .await;
                    (shard, answer)
                }
            });
        let mut results: Vec<Option<IngestResult>> = vec![None; total];
        let mut commits = Vec::new();
        let mut opened = Vec::new();
        let mut failure = None;
        for (shard, answer) in join_all(calls).await {
            match flatten(answer) {
                Ok(ShardIngest {
                    results: shard_results,
                    commits: shard_commits,
                    opened: shard_opened,
                }) => {
                    for (position, result) in shard_results {
                        results[position] = Some(result);
                    }
                    opened.extend(shard_opened);
                    commits.extend(shard_commits.into_iter().map(|c| (shard.clone(), c)));
                }
                Err(error) => failure = Some(error),
            }
        }
        Ok(PendingIngest {
            results,
            opened,
            commits,
            failure,
            started,
            metrics: self.metrics.clone(),
            router: self.router.get().cloned(),
            _permit: permit,
        })
    }

    /// Runs a responder's command on an alert and returns the alert as committed.
    pub async fn command(&self, alert_id: Uuid, command: Command) -> Result<Alert, EngineError> {
        let stored = self
            .store
            .get_alert(alert_id)
            .await?
            .ok_or(EngineError::AlertNotFound(alert_id))?;
        self.apply(&stored, command).await?;
        self.store
            .get_alert(alert_id)
            .await?
            .ok_or(EngineError::AlertNotFound(alert_id))
    }

    /// Runs a command on an alert the caller has already loaded, without reading it back.
    pub async fn apply(&self, stored: &Alert, command: Command) -> Result<(), EngineError> {
        let _permit = self.admit(1, Admission::Immediate).await?;
        let key = AlertKey {
            service_id: stored.service_id,
            fingerprint: stored.fingerprint.clone(),
        };
        let shard_refs = self.shard_refs()?;
        let shard = shard_refs[key.shard(shard_refs.len())].clone();
        let state = AlertState::of(stored);
        let now = crate::clock::now();
        let answer = shard
            .call(
                |reply| ShardMsg::Command {
                    key,
                    stored: state,
                    command,
                    now,
                    reply,
                },
                Some(SHARD_CALL_TIMEOUT),
            )
            .await;
        let CommandReceipt { commit, .. } = flatten(answer)?;
        if let Some(commit) = commit {
            landed(&shard, commit).await?;
        }
        Ok(())
    }

    /// Sends every committed new alert to `router` from now on.
    pub fn attach_router(&self, router: Router) {
        if self.router.set(router).is_err() {
            tracing::warn!("a router was already attached; keeping the first");
        }
    }

    /// Hears of every committed change from now on.
    pub fn watch(&self) -> broadcast::Receiver<AlertChange> {
        self.changes.subscribe()
    }

    /// The reference data alerts are enriched with; its services reload it on change.
    pub fn enrichment(&self) -> &EnrichmentBook {
        &self.enrichment
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    async fn admit(&self, alerts: usize, admission: Admission) -> Result<InFlight, EngineError> {
        // A request larger than the whole bound takes all of it rather than never fitting.
        let wanted = alerts.min(self.max_in_flight) as u32;
        let permit = match admission {
            Admission::Immediate => self.admission.clone().try_acquire_many_owned(wanted).ok(),
            Admission::Wait(limit) => {
                tokio::time::timeout(limit, self.admission.clone().acquire_many_owned(wanted))
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
        };
        match permit {
            Some(permit) => {
                self.metrics.in_flight.inc_by(i64::from(wanted));
                Ok(InFlight {
                    _permit: permit,
                    alerts: i64::from(wanted),
                    metrics: self.metrics.clone(),
                })
            }
            None => {
                self.metrics.rejected(Rejection::Backpressure, alerts);
                Err(EngineError::Overloaded)
            }
        }
    }

    fn shard_refs(&self) -> Result<Vec<ActorRef<ShardMsg>>, EngineError> {
        let shards = self
            .shards
            .read()
            .map_err(|_| EngineError::Unavailable("shard table poisoned".into()))?
            .clone();
        if shards.is_empty() {
            return Err(EngineError::Unavailable("the engine has stopped".into()));
        }
        Ok(shards)
    }
}

/// A request the shards have decided, waiting for its commits.
pub struct PendingIngest {
    results: Vec<Option<IngestResult>>,
    opened: Vec<Alert>,
    commits: Vec<(ActorRef<ShardMsg>, CommitReceipt)>,
    failure: Option<EngineError>,
    started: Instant,
    metrics: Arc<Metrics>,
    router: Option<Router>,
    _permit: InFlight,
}

impl PendingIngest {
    /// Waits until every write of the request is durable.
    pub async fn committed(self) -> Result<IngestReport, EngineError> {
        let mut failure = self.failure;
        for (shard, commit) in self.commits {
            if let Err(error) = landed(&shard, commit).await {
                failure = Some(error);
            }
        }
        if let Some(error) = failure {
            return Err(error);
        }
        let total = self.results.len();
        self.metrics
            .request_committed(total, self.started.elapsed().as_secs_f64());
        if let Some(router) = &self.router {
            let known: HashSet<Uuid> = self.opened.iter().map(|a| a.id).collect();
            let created = self
                .results
                .iter()
                .flatten()
                .filter(|r| r.outcome == IngestOutcome::Created)
                .filter_map(|r| r.alert.as_ref())
                .filter(|a| !known.contains(&a.id));
            for alert in created {
                router.route(alert.id).await;
            }
            for alert in self.opened {
                router.route_opened(alert).await;
            }
        }
        Ok(IngestReport {
            results: self
                .results
                .into_iter()
                .map(|r| {
                    r.unwrap_or(IngestResult {
                        outcome: IngestOutcome::Ignored,
                        alert: None,
                    })
                })
                .collect(),
        })
    }
}

/// Waits for a shard's commit. If it failed, the shard decided writes that did not land:
/// it is restarted so it reloads what the store really holds.
async fn landed(shard: &ActorRef<ShardMsg>, commit: CommitReceipt) -> Result<(), EngineError> {
    let outcome = match commit.await {
        Ok(outcome) => outcome.map_err(EngineError::from),
        Err(_) => Err(EngineError::Unavailable("the persister stopped".into())),
    };
    if outcome.is_err() {
        shard.stop(Some("a commit failed; reloading from the store".into()));
    }
    outcome
}

/// Admitted alerts: the permit and the gauge go back together when this drops.
struct InFlight {
    _permit: OwnedSemaphorePermit,
    alerts: i64,
    metrics: Arc<Metrics>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.metrics.in_flight.dec_by(self.alerts);
    }
}

fn flatten<T, M>(
    answer: Result<CallResult<Result<T, EngineError>>, ractor::MessagingErr<M>>,
) -> Result<T, EngineError> {
    match answer {
        Ok(CallResult::Success(result)) => result,
        Ok(CallResult::Timeout) => Err(EngineError::Unavailable("a shard timed out".into())),
        Ok(CallResult::SenderError) | Err(_) => {
            Err(EngineError::Unavailable("a shard is restarting".into()))
        }
    }
}

impl RunningEngine {
    /// Stops the shards and their actors, then lets the persister commit what is queued.
    pub async fn shutdown(self, grace: Duration) {
        self.supervisor.stop(None);
        let _ = tokio::time::timeout(grace, self.supervisor_task).await;
        if tokio::time::timeout(grace, self.persister_task)
            .await
            .is_err()
        {
            tracing::error!("the persister did not finish within the grace period");
        }
    }
}

/// Everything a shard needs but its index and preload.
#[derive(Clone)]
struct ShardTemplate {
    count: usize,
    store: Arc<dyn Store>,
    persister: Persister,
    numbers: Arc<AtomicI64>,
    idle_after: Duration,
    metrics: Arc<Metrics>,
}

struct EngineSupervisor;

struct SupervisorArgs {
    shards: ShardTable,
    template: ShardTemplate,
    preload: Vec<Vec<(AlertKey, AlertState)>>,
}

struct SupervisorState {
    shards: ShardTable,
    template: ShardTemplate,
    stopping: bool,
}

/// What the engine supervisor is told besides its shards' fates.
enum SupervisorMsg {
    /// Start shard `index` again: its last restart failed (the store was away), and
    /// this is try `attempt`.
    Respawn { index: usize, attempt: u32 },
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
        let SupervisorMsg::Respawn { index, attempt } = message;
        if !state.stopping {
            state.respawn(&myself, index, attempt).await?;
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
            state.respawn(&myself, index, 1).await?;
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
        attempt: u32,
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
                if attempt > 1 {
                    tracing::info!(shard = index, attempt, "shard restarted");
                }
            }
            Err(error) => {
                let delay = Backoff::STORE.delay(attempt);
                self.template
                    .metrics
                    .store_retry("shard_restart", delay, &error);
                let me = myself.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = me.cast(SupervisorMsg::Respawn {
                        index,
                        attempt: attempt.saturating_add(1),
                    });
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::alert::AlertStatus;
    use crate::domain::catalog::Service;
    use crate::domain::incoming::SenderState;
    use crate::domain::lifecycle::IngestOutcome;
    use crate::domain::severity::Severity;

    async fn engine(idle: Duration) -> (Engine, RunningEngine, Uuid, tempfile::TempDir) {
        let (engine, running, service, dir, _) = faulty_engine(idle).await;
        (engine, running, service, dir)
    }

    /// An engine over a store that fails on demand.
    async fn faulty_engine(
        idle: Duration,
    ) -> (
        Engine,
        RunningEngine,
        Uuid,
        tempfile::TempDir,
        Arc<crate::store::Faults>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/oncall.db", dir.path().display());
        let (store, faults) =
            crate::store::FaultyStore::wrap(crate::store::open(&url).await.unwrap());
        let service = Service {
            id: Uuid::new_v4(),
            name: "core".into(),
            description: String::new(),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            escalation_policy: None,
            ack_timeout: None,
            auto_resolve_after: None,
        };
        store.insert_service(&service).await.unwrap();
        let settings = EngineSettings {
            shards: 2,
            actor_idle_after: idle,
            ..EngineSettings::default()
        };
        let (engine, running) = Engine::start(store, settings, Metrics::new())
            .await
            .unwrap();
        (engine, running, service.id, dir, faults)
    }

    fn firing(fingerprint: &str) -> IncomingAlert {
        IncomingAlert {
            fingerprint: Some(fingerprint.into()),
            summary: "core-rtr-01 down".into(),
            details: String::new(),
            severity: Severity::Critical,
            source: "test".into(),
            source_instance: String::new(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            state: SenderState::Firing,
            triggered_at: None,
        }
    }

    async fn eventually(what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn commands_activate_an_actor_that_passivates_when_idle() {
        let (engine, running, service, _dir) = engine(Duration::from_millis(200)).await;
        let report = engine
            .ingest(service, vec![firing("fp")], Admission::Immediate)
            .await
            .unwrap();
        assert_eq!(report.results[0].outcome, IngestOutcome::Created);
        let id = report.results[0].alert.as_ref().unwrap().id;
        assert_eq!(
            engine.metrics.active_actors.get(),
            0,
            "ingest activates nothing"
        );
        assert_eq!(engine.metrics.open_alerts.get(), 1);

        let acked = engine
            .command(
                id,
                Command::Acknowledge {
                    by: "alice".into(),
                    note: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(acked.status, AlertStatus::Acknowledged);
        assert_eq!(engine.metrics.active_actors.get(), 1);
        // While active, repeats go through the actor and still deduplicate.
        let report = engine
            .ingest(service, vec![firing("fp")], Admission::Immediate)
            .await
            .unwrap();
        assert_eq!(report.results[0].outcome, IngestOutcome::Deduplicated);

        let metrics = engine.metrics.clone();
        eventually("passivation", || metrics.active_actors.get() == 0).await;
        assert_eq!(
            engine.metrics.open_alerts.get(),
            1,
            "passivated, still open"
        );

        // The passivated state is the acknowledged one: a second ack is a no-op.
        let again = engine
            .command(
                id,
                Command::Acknowledge {
                    by: "bob".into(),
                    note: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(again.acknowledged_by.as_deref(), Some("alice"));
        let resolved = engine
            .command(
                id,
                Command::Resolve {
                    by: "bob".into(),
                    note: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(resolved.status, AlertStatus::Resolved);
        assert_eq!(
            engine.metrics.active_actors.get(),
            0,
            "a resolved alert retires its actor"
        );
        assert_eq!(engine.metrics.open_alerts.get(), 0);
        running.shutdown(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn a_stopped_shard_is_restarted_from_the_store() {
        let (engine, running, service, _dir) = engine(Duration::from_secs(60)).await;
        let alerts: Vec<IncomingAlert> = (0..50).map(|i| firing(&format!("fp{i}"))).collect();
        engine
            .ingest(service, alerts.clone(), Admission::Immediate)
            .await
            .unwrap();
        let before = engine.shard_refs().unwrap();
        for shard in &before {
            shard.stop(Some("test".into()));
        }
        let shards = engine.shards.clone();
        eventually("restarted shards", || {
            shards.read().is_ok_and(|now| {
                now.iter()
                    .zip(&before)
                    .all(|(new, old)| new.get_id() != old.get_id())
            })
        })
        .await;
        let report = engine
            .ingest(service, alerts, Admission::Immediate)
            .await
            .unwrap();
        assert!(
            report
                .results
                .iter()
                .all(|r| r.outcome == IngestOutcome::Deduplicated),
            "the restarted shards reloaded every open alert"
        );
        running.shutdown(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn a_shard_whose_restart_fails_is_restarted_until_the_store_answers() {
        let (engine, running, service, _dir, faults) = faulty_engine(Duration::from_secs(60)).await;
        let alerts: Vec<IncomingAlert> = (0..40).map(|i| firing(&format!("fp{i}"))).collect();
        engine
            .ingest(service, alerts.clone(), Admission::Immediate)
            .await
            .unwrap();

        // The database goes away: a commit fails, so its shard stops to reload, and the
        // reload fails too.
        faults.fail(&["commit", "open_alerts"]);
        let refused = engine
            .ingest(service, vec![firing("during")], Admission::Immediate)
            .await;
        assert!(refused.is_err(), "a failed commit is not acknowledged");
        eventually("a failed restart", || faults.refused("open_alerts") >= 2).await;

        // The database is back: every fingerprint is accepted again, without a restart
        // of the process.
        faults.heal();
        let deadline = Instant::now() + Duration::from_secs(20);
        let report = loop {
            match engine
                .ingest(service, alerts.clone(), Admission::Immediate)
                .await
            {
                Ok(report) => break report,
                Err(error) => {
                    assert!(Instant::now() < deadline, "still refused: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        assert!(
            report
                .results
                .iter()
                .all(|r| r.outcome == IngestOutcome::Deduplicated),
            "the restarted shard reloaded every open alert"
        );
        let metrics = engine.metrics.render();
        assert!(
            metrics.contains("oncall_store_retries_total{work=\"shard_restart\"}"),
            "{metrics}"
        );
        running.shutdown(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn admission_is_bounded() {
        let (engine, running, service, _dir) = engine(Duration::from_secs(60)).await;
        let held = engine
            .admission
            .clone()
            .try_acquire_many_owned(engine.max_in_flight as u32)
            .unwrap();
        let refused = engine
            .ingest(service, vec![firing("fp")], Admission::Immediate)
            .await;
        assert!(matches!(refused, Err(EngineError::Overloaded)));
        let waiting = engine.ingest(
            service,
            vec![firing("fp")],
            Admission::Wait(Duration::from_millis(50)),
        );
        assert!(matches!(waiting.await, Err(EngineError::Overloaded)));
        drop(held);
        engine
            .ingest(service, vec![firing("fp")], Admission::Immediate)
            .await
            .unwrap();
        running.shutdown(Duration::from_secs(5)).await;
    }
}

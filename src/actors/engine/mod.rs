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
use ractor::{Actor, ActorRef};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::alert::CommandReceipt;
use super::persister::{CommitReceipt, Persister};
use super::router::Router;
use super::shard::{ShardIngest, ShardMsg};
use super::{EngineError, IngestResult};
use crate::books::enrichment::{EnrichmentBook, enrich};
use crate::domain::alert::Alert;
use crate::domain::change::AlertChange;
use crate::domain::fingerprint::{self, AlertKey};
use crate::domain::incoming::IncomingAlert;
use crate::domain::lifecycle::{AlertState, Command, IngestOutcome};
use crate::store::Store;
use crate::telemetry::{Metrics, Rejection};

mod supervisor;
#[cfg(test)]
mod tests;

use supervisor::{EngineSupervisor, ShardTemplate, SupervisorArgs, SupervisorMsg};

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

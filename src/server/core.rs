//! The engine and everything that acts without being asked: notifications, escalation,
//! schedules, routing and the watchers, started in dependency order and stopped in the
//! reverse, so nothing is told about work after the thing that would do it has gone.

use std::sync::Arc;

use ractor::ActorRef;
use tokio::task::JoinHandle;

use crate::actors::RunningEngine;
use crate::actors::aggregator::AggregatorMsg;
use crate::actors::escalation::SupervisorMsg as EscalationSupervisorMsg;
use crate::actors::schedule::SupervisorMsg as ScheduleSupervisorMsg;
use crate::notify::delivery::SupervisorMsg as DeliverySupervisorMsg;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::actors::Engine;
use crate::actors::aggregator::Aggregator;
use crate::actors::escalation::{EscalationActors, EscalationDeps};
use crate::actors::flap_dampener::{FlapArgs, FlapDampener};
use crate::actors::inhibition_watcher::InhibitionWatcher;
use crate::actors::maintenance_watcher::MaintenanceWatcher;
use crate::actors::router::{Router, RouterParts};
use crate::actors::schedule::{ScheduleActors, ScheduleDeps};
use crate::actors::service_timeouts::ServiceTimeouts;
use crate::actors::suppression_expiry::SuppressionExpiry;
use crate::auth::Authenticator;
use crate::books::{
    InhibitionBook, PolicyBook, RuleBook, ScheduleBook, ServiceDefaults, WindowBook,
};
use crate::config::Settings;
use crate::definitions::{escalation, schedule};
use crate::directory::Directory;
use crate::flood_guard::FloodGuard;
use crate::grpc;
use crate::notify::delivery::{DeliveryActors, DeliveryDeps};
use crate::notify::log::DeliveryLogWriter;
use crate::notify::notifier::Notifier;
use crate::notify::provider::Providers;
use crate::notify::webhook::WebhookSender;
use crate::paging::Pager;
use crate::store::Store;
use crate::telemetry::Metrics;

/// New alerts waiting to be routed before ingest slows down.
const ROUTER_QUEUE: usize = 65_536;

/// What `run` starts before it serves, and stops after it has drained.
pub(super) struct Core {
    pub(super) engine: Engine,
    pub(super) store: Arc<dyn Store>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) auth: Authenticator,
    pub(super) flood_guard: Arc<FloodGuard>,
    pub(super) webhooks: WebhookSender,
    pub(super) directory: Directory,
    pub(super) notifier: Notifier,
    pub(super) ctx: grpc::Context,
    pub(super) rules: RuleBook,
    pub(super) windows: WindowBook,
    pub(super) inhibitions: InhibitionBook,
    pub(super) schedule_actors: ScheduleActors,
    running: Running,
}

/// The handles shutdown waits on, in the order it stops them.
struct Running {
    watchers: Vec<JoinHandle<()>>,
    router_task: JoinHandle<()>,
    aggregator: ActorRef<AggregatorMsg>,
    schedule_supervisor: ActorRef<ScheduleSupervisorMsg>,
    escalation_supervisor: ActorRef<EscalationSupervisorMsg>,
    engine: RunningEngine,
    delivery_supervisor: ActorRef<DeliverySupervisorMsg>,
    delivery_log: DeliveryLogWriter,
    delivery_log_task: JoinHandle<()>,
}

impl Core {
    pub(super) async fn start(
        settings: &Settings,
        store: Arc<dyn Store>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Core> {
        let metrics = Metrics::new();
        let (engine, running) =
            Engine::start(store.clone(), settings.engine.clone(), metrics.clone()).await?;
        let auth = Authenticator::new(store.clone());
        let flood_guard = Arc::new(FloodGuard::new(settings.per_key_alerts_per_second));

        let webhooks = WebhookSender::new(
            settings.allow_private_destinations,
            settings.notify.webhook_signing_secret.clone(),
        )?;
        let directory = Directory::new(&settings.directory, store.clone())?;
        let (delivery_log, delivery_log_task) = DeliveryLogWriter::spawn(store.clone());
        let providers = Providers::new(&settings.notify, webhooks.clone())?;
        let (deliveries, delivery_supervisor) = DeliveryActors::start(DeliveryDeps {
            store: store.clone(),
            directory: directory.clone(),
            providers: providers.clone(),
            log: delivery_log.clone(),
            settings: settings.notify.clone(),
            metrics: metrics.clone(),
        })
        .await?;
        let notifier = Notifier::new(store.clone(), delivery_log.clone(), deliveries, providers);
        let schedules = Arc::new(ScheduleBook::new(store.clone(), schedule::compile_paged));
        let policies = Arc::new(PolicyBook::new(store.clone(), escalation::compile));
        let (escalations, escalation_supervisor) = EscalationActors::start_all(
            EscalationDeps {
                pager: Pager {
                    store: store.clone(),
                    schedules: schedules.clone(),
                    directory: directory.clone(),
                    webhooks: webhooks.clone(),
                    notifier: notifier.clone(),
                },
                policies,
                engine: engine.clone(),
                idle_after: settings.engine.actor_idle_after,
            },
            shutdown.clone(),
        )
        .await?;
        let ctx = grpc::Context {
            engine: engine.clone(),
            store: store.clone(),
            auth: auth.clone(),
            limits: settings.limits,
            flood_guard: flood_guard.clone(),
            escalations: escalations.clone(),
            shutdown: shutdown.clone(),
        };
        let rules = RuleBook::load(store.clone()).await?;
        let service_defaults = ServiceDefaults::new(store.clone());
        let windows = WindowBook::load(store.clone()).await?;
        let inhibitions = InhibitionBook::load(store.clone()).await?;
        let timed_holds = Arc::new(tokio::sync::Notify::new());
        let (schedule_actors, schedule_supervisor) = ScheduleActors::start(ScheduleDeps {
            store: store.clone(),
            webhooks: webhooks.clone(),
            notifier: notifier.clone(),
            directory: directory.clone(),
            metrics: metrics.clone(),
        })
        .await?;
        let (aggregator, _) =
            ractor::Actor::spawn(None, Aggregator, (webhooks.clone(), notifier.clone())).await?;
        let (flap_summaries, flap_summaries_out) = tokio::sync::mpsc::channel(1_024);
        let (flaps, _) = ractor::Actor::spawn(
            None,
            FlapDampener,
            FlapArgs {
                window: settings.flap_window,
                summaries: flap_summaries,
            },
        )
        .await?;
        let (router, router_task) = Router::spawn(
            RouterParts {
                aggregator: aggregator.clone(),
                windows: windows.clone(),
                inhibitions: inhibitions.clone(),
                timed_holds: timed_holds.clone(),
                store: store.clone(),
                rules: rules.clone(),
                engine: engine.clone(),
                webhooks: webhooks.clone(),
                pager: Pager {
                    store: store.clone(),
                    schedules: schedules.clone(),
                    directory: directory.clone(),
                    webhooks: webhooks.clone(),
                    notifier: notifier.clone(),
                },
                escalations,
                flaps,
                service_defaults: service_defaults.clone(),
                shutdown: shutdown.clone(),
            },
            ROUTER_QUEUE,
        );
        engine.attach_router(router.clone());
        router.follow_flap_summaries(flap_summaries_out);
        let watcher = MaintenanceWatcher {
            store: store.clone(),
            windows: windows.clone(),
            engine: engine.clone(),
            router: router.clone(),
            shutdown: shutdown.clone(),
        }
        .spawn();
        let inhibition_watcher = InhibitionWatcher {
            store: store.clone(),
            book: inhibitions.clone(),
            engine: engine.clone(),
            router: router.clone(),
            shutdown: shutdown.clone(),
        }
        .spawn();
        let suppression_expiry = SuppressionExpiry {
            store: store.clone(),
            engine: engine.clone(),
            router: router.clone(),
            timed_holds,
            shutdown: shutdown.clone(),
        }
        .spawn();
        let service_timeouts = ServiceTimeouts {
            store: store.clone(),
            engine: engine.clone(),
            escalations: ctx.escalations.clone(),
            defaults: service_defaults,
            shutdown: shutdown.clone(),
        }
        .spawn();
        tokio::spawn(route_leftovers(store.clone(), router));
        Ok(Core {
            engine,
            store,
            metrics,
            auth,
            flood_guard,
            webhooks,
            directory,
            notifier,
            ctx,
            rules,
            windows,
            inhibitions,
            schedule_actors,
            running: Running {
                watchers: vec![
                    watcher,
                    inhibition_watcher,
                    suppression_expiry,
                    service_timeouts,
                ],
                router_task,
                aggregator,
                schedule_supervisor,
                escalation_supervisor,
                engine: running,
                delivery_supervisor,
                delivery_log,
                delivery_log_task,
            },
        })
    }

    /// Stops what `start` started, after the servers have drained: the watchers and
    /// the router first (they make new work), then the actors, then the engine commits
    /// what it holds, and the delivery log writes what it was given.
    pub(super) async fn stop(self, grace: Duration) {
        let running = self.running;
        for watcher in running.watchers {
            let _ = tokio::time::timeout(grace, watcher).await;
        }
        let _ = tokio::time::timeout(grace, running.router_task).await;
        running.aggregator.stop(None);
        running.schedule_supervisor.stop(None);
        running.escalation_supervisor.stop(None);
        running.engine.shutdown(grace).await;
        running.delivery_supervisor.stop(None);
        running.delivery_log.close().await;
        let _ = tokio::time::timeout(grace, running.delivery_log_task).await;
    }
}

/// Routes the open alerts a previous run committed but did not get to route.
async fn route_leftovers(store: Arc<dyn Store>, router: Router) {
    match store.unrouted_alerts().await {
        Ok(ids) => {
            if !ids.is_empty() {
                tracing::info!(
                    alerts = ids.len(),
                    "routing alerts left unrouted by the last run"
                );
            }
            for id in ids {
                router.route(id).await;
            }
        }
        Err(error) => tracing::error!(%error, "could not list unrouted alerts"),
    }
}

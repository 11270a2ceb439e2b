//! `oncall serve`: opens the store, starts the engine, serves gRPC and HTTP, and shuts
//! down in order on SIGTERM/SIGINT: stop accepting, finish in-flight requests, let the
//! engine commit what it holds, exit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
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
use crate::auth::{Authenticator, hash_secret};
use crate::books::{
    InhibitionBook, PolicyBook, RuleBook, ScheduleBook, ServiceDefaults, WindowBook,
};
use crate::config::Settings;
use crate::definitions::{escalation, schedule};
use crate::directory::Directory;
use crate::domain::access::Role;
use crate::domain::directory::{ApiToken, User};
use crate::flood_guard::FloodGuard;
use crate::grpc::{
    self, AlertApi, CarrierApi, CatalogApi, CustomerTierApi, EquipmentTypeApi, EscalationApi,
    MaintenanceApi, NotificationApi, RoutingApi, ScheduleApi, SiteApi, TeamApi, TemplateApi,
    UserApi,
};
use crate::http::{self, AppState, ChatSettings};
use crate::notify::delivery::{DeliveryActors, DeliveryDeps};
use crate::notify::log::DeliveryLogWriter;
use crate::notify::notifier::Notifier;
use crate::notify::provider::Providers;
use crate::notify::webhook::WebhookSender;
use crate::paging::Pager;
use crate::pb::alerting::routing::v1::carrier_service_server::CarrierServiceServer;
use crate::pb::alerting::routing::v1::customer_tier_service_server::CustomerTierServiceServer;
use crate::pb::alerting::routing::v1::equipment_type_service_server::EquipmentTypeServiceServer;
use crate::pb::alerting::routing::v1::escalation_service_server::EscalationServiceServer;
use crate::pb::alerting::routing::v1::maintenance_service_server::MaintenanceServiceServer;
use crate::pb::alerting::routing::v1::routing_service_server::RoutingServiceServer;
use crate::pb::alerting::routing::v1::schedule_service_server::ScheduleServiceServer;
use crate::pb::alerting::routing::v1::site_service_server::SiteServiceServer;
use crate::pb::alerting::routing::v1::team_service_server::TeamServiceServer;
use crate::pb::alerting::v1::alert_service_server::AlertServiceServer;
use crate::pb::alerting::v1::catalog_service_server::CatalogServiceServer;
use crate::pb::directory::v1::user_service_server::UserServiceServer;
use crate::pb::notification::v1::notification_service_server::NotificationServiceServer;
use crate::pb::notification::v1::template_service_server::TemplateServiceServer;
use crate::store::{self, Store};
use crate::telemetry::Metrics;

/// New alerts waiting to be routed before ingest slows down.
const ROUTER_QUEUE: usize = 65_536;
/// How long shutdown waits for clients to finish their requests and close.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// How long shutdown waits for the engine to hand its last writes to the store.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// The two sockets the server answers on.
pub struct Listeners {
    pub grpc: TcpListener,
    pub http: TcpListener,
}

impl Listeners {
    /// Binds the addresses the settings name.
    pub async fn bind(settings: &Settings) -> anyhow::Result<Listeners> {
        let grpc = TcpListener::bind(settings.grpc_addr)
            .await
            .with_context(|| format!("binding gRPC on {}", settings.grpc_addr))?;
        let http = TcpListener::bind(settings.http_addr)
            .await
            .with_context(|| format!("binding HTTP on {}", settings.http_addr))?;
        Ok(Listeners { grpc, http })
    }
}

/// `oncall serve`: opens the store the settings name, binds their addresses and runs
/// until SIGTERM or SIGINT.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let store = store::open(&settings.database_url)
        .await
        .with_context(|| format!("opening {}", redact(&settings.database_url)))?;
    let listeners = Listeners::bind(&settings).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    run(settings, store, listeners, shutdown).await
}

/// Runs the whole server on a store that is open and sockets that are bound, until
/// `shutdown` is cancelled; then stops in order. Tests run it in-process (on a store
/// that fails on demand, under a paused clock); `serve` runs it for the binary.
pub async fn run(
    settings: Settings,
    store: Arc<dyn Store>,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Listeners {
        grpc: grpc_listener,
        http: http_listener,
    } = listeners;
    let grpc_addr = grpc_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    if let Some(token) = &settings.admin_token {
        seed_admin_token(store.as_ref(), token).await?;
    }
    let metrics = Metrics::new();
    let (engine, running) =
        Engine::start(store.clone(), settings.engine.clone(), metrics.clone()).await?;
    let auth = Authenticator::new(store.clone());
    let flood_guard = Arc::new(FloodGuard::new(settings.per_key_alerts_per_second));
    let ready = Arc::new(AtomicBool::new(true));

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
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::pb::DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::pb::DESCRIPTOR_SET)
        .build_v1alpha()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<AlertServiceServer<AlertApi>>().await;
    health
        .set_serving::<CatalogServiceServer<CatalogApi>>()
        .await;
    health.set_serving::<UserServiceServer<UserApi>>().await;
    health
        .set_serving::<RoutingServiceServer<RoutingApi>>()
        .await;
    health
        .set_serving::<ScheduleServiceServer<ScheduleApi>>()
        .await;
    health.set_serving::<TeamServiceServer<TeamApi>>().await;
    health.set_serving::<SiteServiceServer<SiteApi>>().await;
    health
        .set_serving::<CustomerTierServiceServer<CustomerTierApi>>()
        .await;
    health
        .set_serving::<EquipmentTypeServiceServer<EquipmentTypeApi>>()
        .await;
    health
        .set_serving::<CarrierServiceServer<CarrierApi>>()
        .await;
    health
        .set_serving::<EscalationServiceServer<EscalationApi>>()
        .await;
    health
        .set_serving::<TemplateServiceServer<TemplateApi>>()
        .await;
    health
        .set_serving::<NotificationServiceServer<NotificationApi>>()
        .await;
    let max_message = settings.max_body_bytes;
    let grpc_server = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            AlertServiceServer::new(AlertApi::new(ctx.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            CatalogServiceServer::new(CatalogApi::new(ctx.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            RoutingServiceServer::new(RoutingApi::new(
                ctx.clone(),
                rules,
                windows.clone(),
                inhibitions,
            ))
            .max_decoding_message_size(max_message),
        )
        .add_service(
            MaintenanceServiceServer::new(MaintenanceApi::new(ctx.clone(), windows))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            EscalationServiceServer::new(EscalationApi::new(ctx.clone(), ctx.escalations.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            ScheduleServiceServer::new(ScheduleApi::new(ctx.clone(), schedule_actors))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            TeamServiceServer::new(TeamApi::new(ctx.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            SiteServiceServer::new(SiteApi::new(ctx.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            CustomerTierServiceServer::new(CustomerTierApi::new(ctx.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            EquipmentTypeServiceServer::new(EquipmentTypeApi::new(ctx.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            CarrierServiceServer::new(CarrierApi::new(ctx.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            TemplateServiceServer::new(TemplateApi::new(ctx.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            NotificationServiceServer::new(NotificationApi::new(
                ctx.clone(),
                notifier.clone(),
                directory.clone(),
            ))
            .max_decoding_message_size(max_message),
        )
        .add_service(
            UserServiceServer::new(UserApi::new(ctx, webhooks.clone(), notifier.clone()))
                .max_decoding_message_size(max_message),
        )
        .serve_with_incoming_shutdown(
            // tonic leaves TCP_NODELAY to us with an incoming stream; without it, Nagle's
            // algorithm and delayed ACKs hold each unary answer back by up to 40 ms.
            TcpListenerStream::new(grpc_listener).map(|accepted| {
                accepted.and_then(|stream| stream.set_nodelay(true).map(|()| stream))
            }),
            shutdown.clone().cancelled_owned(),
        );

    let app = http::router(AppState {
        engine,
        store,
        auth,
        metrics,
        limits: settings.limits,
        max_body_bytes: settings.max_body_bytes,
        flood_guard,
        ready: ready.clone(),
        chat: ChatSettings {
            slack_signing_secret: settings
                .notify
                .slack
                .as_ref()
                .and_then(|s| s.signing_secret.clone()),
            twilio_auth_token: settings
                .notify
                .twilio
                .as_ref()
                .map(|t| t.auth_token.clone()),
            public_url: settings.public_url.clone(),
        },
    });
    let http_listener = http_listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    let http_server =
        axum::serve(http_listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());

    tracing::info!(
        grpc = %grpc_addr,
        http = %http_addr,
        database = %redact(&settings.database_url),
        "oncall is serving"
    );
    tokio::spawn(unready_on_shutdown(shutdown.clone(), ready, health));
    let servers = async { tokio::join!(grpc_server, http_server) };
    // A client that never closes its connection must not hold shutdown up for ever.
    let drain_limit = async {
        shutdown.cancelled().await;
        tokio::time::sleep(DRAIN_LIMIT).await;
    };
    let (grpc_done, http_done) = tokio::select! {
        done = servers => done,
        () = drain_limit => {
            tracing::warn!("connections still open {DRAIN_LIMIT:?} after shutdown began; closing them");
            (Ok(()), Ok(()))
        }
    };
    shutdown.cancel();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, watcher).await;
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, inhibition_watcher).await;
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, suppression_expiry).await;
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, service_timeouts).await;
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, router_task).await;
    aggregator.stop(None);
    schedule_supervisor.stop(None);
    escalation_supervisor.stop(None);
    running.shutdown(SHUTDOWN_GRACE).await;
    delivery_supervisor.stop(None);
    delivery_log.close().await;
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, delivery_log_task).await;
    grpc_done.context("gRPC server")?;
    http_done.context("HTTP server")?;
    tracing::info!("oncall stopped");
    Ok(())
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

async fn cancel_on_signal(shutdown: CancellationToken) {
    wait_for_signal().await;
    shutdown.cancel();
}

/// Once shutdown begins, readiness and gRPC health say so, so balancers stop sending.
async fn unready_on_shutdown(
    shutdown: CancellationToken,
    ready: Arc<AtomicBool>,
    health: tonic_health::server::HealthReporter,
) {
    shutdown.cancelled().await;
    tracing::info!("shutting down: no new requests, finishing in-flight ones");
    ready.store(false, Ordering::Release);
    health
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the server");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Makes sure the bootstrap admin token exists, owned by a user named `admin`.
pub async fn seed_admin_token(store: &dyn Store, token: &str) -> anyhow::Result<()> {
    let hash = hash_secret(token.trim());
    if store.find_api_token(&hash).await?.is_some() {
        return Ok(());
    }
    let user = ensure_user(store, "admin").await?;
    store
        .insert_api_token(&ApiToken {
            id: uuid::Uuid::new_v4(),
            user_id: user.id,
            name: "bootstrap".into(),
            role: Role::Admin,
            token_hash: hash,
            created_at: crate::clock::now(),
            revoked_at: None,
        })
        .await?;
    tracing::info!(user = %user.id, "seeded the bootstrap admin token");
    Ok(())
}

/// The user with this name, created if there is none.
pub async fn ensure_user(store: &dyn Store, name: &str) -> anyhow::Result<User> {
    if let Some(user) = store.find_user_by_name(name).await? {
        return Ok(user);
    }
    let user = User {
        id: uuid::Uuid::new_v4(),
        name: name.to_string(),
        email: String::new(),
        timezone: "UTC".into(),
        quiet_hours: None,
        created_at: crate::clock::now(),
    };
    store.insert_user(&user).await?;
    Ok(user)
}

/// A database URL fit for logs: the password, if any, is hidden.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn hides_passwords_only() {
        assert_eq!(
            redact("postgres://root:secret@127.0.0.1/test"),
            "postgres://root:***@127.0.0.1/test"
        );
        assert_eq!(
            redact("postgres://root@127.0.0.1/test"),
            "postgres://root@127.0.0.1/test"
        );
        assert_eq!(
            redact("sqlite://oncall-data/oncall.db"),
            "sqlite://oncall-data/oncall.db"
        );
    }
}

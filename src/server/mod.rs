//! `oncall serve`: opens the store, starts the engine, serves gRPC and HTTP, and shuts
//! down in order on SIGTERM/SIGINT: stop accepting, finish in-flight requests, let the
//! engine commit what it holds, exit.

mod core;
mod grpc_server;
mod http_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::hash_secret;
use crate::config::Settings;
use crate::domain::access::Role;
use crate::domain::directory::{ApiToken, User};
use crate::store::{self, Store};

use self::core::Core;

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
    let grpc_addr = listeners.grpc.local_addr()?;
    let http_addr = listeners.http.local_addr()?;
    if let Some(token) = &settings.admin_token {
        seed_admin_token(store.as_ref(), token).await?;
    }
    let core = Core::start(&settings, store, &shutdown).await?;
    let ready = Arc::new(AtomicBool::new(true));
    let (grpc_server, health) =
        grpc_server::grpc_server(&settings, &core, listeners.grpc, &shutdown).await?;
    let http_server =
        http_server::http_server(&settings, &core, ready.clone(), listeners.http, &shutdown);
    tracing::info!(
        grpc = %grpc_addr,
        http = %http_addr,
        database = %redact(&settings.database_url),
        "oncall is serving"
    );
    tokio::spawn(unready_on_shutdown(shutdown.clone(), ready, health));
    let (grpc_done, http_done) = drain(grpc_server, http_server, &shutdown).await;
    shutdown.cancel();
    core.stop(SHUTDOWN_GRACE).await;
    grpc_done.context("gRPC server")?;
    http_done.context("HTTP server")?;
    tracing::info!("oncall stopped");
    Ok(())
}

/// Serves until shutdown begins, then lets clients finish their requests, for at most
/// `DRAIN_LIMIT`: a client that never closes its connection must not hold shutdown up.
async fn drain(
    grpc_server: impl Future<Output = Result<(), tonic::transport::Error>>,
    http_server: impl Future<Output = std::io::Result<()>>,
    shutdown: &CancellationToken,
) -> (Result<(), tonic::transport::Error>, std::io::Result<()>) {
    let servers = async { tokio::join!(grpc_server, http_server) };
    let drain_limit = async {
        shutdown.cancelled().await;
        tokio::time::sleep(DRAIN_LIMIT).await;
    };
    tokio::select! {
        done = servers => done,
        () = drain_limit => {
            tracing::warn!("connections still open {DRAIN_LIMIT:?} after shutdown began; closing them");
            (Ok(()), Ok(()))
        }
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

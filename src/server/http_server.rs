//! The HTTP server: webhooks, chat callbacks, calendar feeds, health and metrics.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::http::{self, AppState, ChatSettings};

use std::future::IntoFuture;

use super::core::Core;

pub(super) fn http_server(
    settings: &Settings,
    core: &Core,
    ready: Arc<AtomicBool>,
    listener: TcpListener,
    shutdown: &CancellationToken,
) -> impl std::future::Future<Output = std::io::Result<()>> + use<> {
    let app = http::router(AppState {
        engine: core.engine.clone(),
        store: core.store.clone(),
        auth: core.auth.clone(),
        metrics: core.metrics.clone(),
        limits: settings.limits,
        max_body_bytes: settings.max_body_bytes,
        flood_guard: core.flood_guard.clone(),
        ready,
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
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future()
}

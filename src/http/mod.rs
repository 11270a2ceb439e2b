//! The HTTP edge (axum): webhooks in every supported format, Slack and Twilio callbacks,
//! iCalendar feeds, health, readiness and metrics. Handlers parse, authenticate, validate and hand over; errors become
//! `{"error", "field"}` bodies with the status codes CONTRACT.md fixes, never a 500 for
//! bad input.

mod chat;
mod error;
pub mod formats;
mod health;
mod ical;
mod webhooks;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::routing::{get, post};

use crate::actors::Engine;
use crate::auth::Authenticator;
use crate::domain::incoming::AlertLimits;
use crate::flood_guard::FloodGuard;
use crate::store::Store;
use crate::telemetry::Metrics;

pub use error::ApiError;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub store: Arc<dyn Store>,
    pub auth: Authenticator,
    pub metrics: Arc<Metrics>,
    pub limits: AlertLimits,
    pub max_body_bytes: usize,
    pub flood_guard: Arc<FloodGuard>,
    /// True once the engine has started, false again when shutdown begins.
    pub ready: Arc<AtomicBool>,
    pub chat: ChatSettings,
}

/// What the Slack and Twilio callbacks verify with.
#[derive(Clone, Default)]
pub struct ChatSettings {
    pub slack_signing_secret: Option<String>,
    pub twilio_auth_token: Option<String>,
    /// The URL Twilio calls us at: its signature covers it.
    pub public_url: String,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route(
            "/api/v1/webhook/{format}/{key}",
            post(webhooks::with_path_key),
        )
        .route("/api/v1/webhook/{format}", post(webhooks::with_header_key))
        .route("/v2/enqueue", post(webhooks::pagerduty))
        .route("/api/v1/schedules/{id}/ical", get(ical::schedule_feed))
        .route("/api/v1/users/{id}/ical", get(ical::user_feed))
        .route("/api/v1/slack/actions", post(chat::slack_actions))
        .route("/api/v1/twilio/sms", post(chat::twilio_sms))
        .with_state(state)
}

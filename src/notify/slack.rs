//! Slack's Web API: `chat.postMessage` with a bot token. Slack answers most errors with
//! HTTP 200 and `{"ok": false, "error": ...}`; those are sorted into worth retrying or
//! not here. 429 carries Retry-After.

use async_trait::async_trait;

use super::provider::{Provider, Receipt, SendError};
use super::settings::SlackSettings;
use super::webhook::{http_client, send};
use crate::domain::notify::format::Body;

pub struct SlackProvider {
    settings: SlackSettings,
    client: reqwest::Client,
}

impl SlackProvider {
    pub fn new(settings: SlackSettings) -> Result<SlackProvider, reqwest::Error> {
        Ok(SlackProvider {
            settings,
            client: http_client()?,
        })
    }
}

/// Slack errors that may pass if tried again.
const TRANSIENT: [&str; 5] = [
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

#[async_trait]
impl Provider for SlackProvider {
    async fn send(&self, _address: &str, body: &Body) -> Result<Receipt, SendError> {
        let Body::Json(bytes) = body else {
            return Err(SendError::permanent("Slack takes a JSON message".into()));
        };
        let url = format!("{}/chat.postMessage", self.settings.api_base_url);
        let request = self
            .client
            .post(&url)
            .bearer_auth(&self.settings.bot_token)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(bytes.clone());
        let receipt = send(request, "Slack chat.postMessage").await?;
        let answer: serde_json::Value = serde_json::from_str(&receipt.body).unwrap_or_default();
        if answer["ok"].as_bool() == Some(true) {
            return Ok(receipt);
        }
        let error = answer["error"].as_str().unwrap_or("no ok in the answer");
        Err(SendError {
            message: format!("Slack chat.postMessage: {error}"),
            retryable: TRANSIENT.contains(&error),
            http_status: receipt.http_status,
            retry_after: None,
        })
    }
}

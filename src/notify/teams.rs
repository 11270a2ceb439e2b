//! Microsoft Teams: an incoming webhook (or Workflows URL) that takes a message with an
//! Adaptive Card attachment. The URL is the operator's, so it passes the same
//! private-address guard as any webhook.

use async_trait::async_trait;

use super::provider::{Provider, Receipt, SendError};
use super::webhook::{WebhookSender, send};
use crate::domain::notify::format::Body;

pub struct TeamsProvider {
    pub webhooks: WebhookSender,
}

#[async_trait]
impl Provider for TeamsProvider {
    async fn send(&self, address: &str, body: &Body) -> Result<Receipt, SendError> {
        let Body::Json(bytes) = body else {
            return Err(SendError::permanent("Teams takes a JSON card".into()));
        };
        let url = self.webhooks.checked(address).await?;
        let request = self
            .webhooks
            .client()
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes.clone());
        send(request, "the Teams webhook").await
    }
}

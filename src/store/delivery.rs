//! Notification records as stored: template versions, deliveries and their attempts.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One version of a template: its definition is an opaque encoding the gRPC edge owns.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTemplate {
    pub id: Uuid,
    pub version: i32,
    pub name: String,
    pub body: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

/// One message to one destination.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredDelivery {
    pub id: Uuid,
    /// The sender's idempotency key, or empty.
    pub request_id: String,
    /// page, status, digest, verification.
    pub kind: String,
    pub priority: i32,
    pub channel: String,
    pub address: String,
    pub user_id: Option<Uuid>,
    pub alert_id: Option<Uuid>,
    pub template_id: Option<Uuid>,
    pub template_version: i32,
    /// pending, sent, delivered, failed, retrying, dropped.
    pub state: String,
    pub attempts: i32,
    pub last_error: String,
    /// The digest it went out in.
    pub merged_into: Option<Uuid>,
    /// The message itself, as the delivery service encodes it, so an unfinished one
    /// can be sent after a restart.
    pub message: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A delivery's new state.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryUpdate {
    pub id: Uuid,
    pub state: String,
    pub attempts: i32,
    pub last_error: String,
    pub merged_into: Option<Uuid>,
    pub at: DateTime<Utc>,
}

/// One try at sending a delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryAttempt {
    pub delivery_id: Uuid,
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// sent, retrying, failed.
    pub outcome: String,
    /// The provider's HTTP status, or 0.
    pub http_status: i32,
    pub error: String,
}

/// What the delivery log writer commits at once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeliveryLog {
    pub created: Vec<StoredDelivery>,
    pub updates: Vec<DeliveryUpdate>,
    pub attempts: Vec<DeliveryAttempt>,
}

impl DeliveryLog {
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.updates.is_empty() && self.attempts.is_empty()
    }
}

/// Which deliveries to list; every given criterion must hold.
#[derive(Clone, Debug, Default)]
pub struct DeliveryQuery {
    pub alert_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub state: Option<String>,
    pub channel: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

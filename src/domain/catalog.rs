//! Services (what alerts belong to) and the integration keys senders authenticate with.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Run for a routed alert that no rule escalated or suppressed.
    pub escalation_policy: Option<Uuid>,
    /// An acknowledged alert not resolved within this is triggered again.
    pub ack_timeout: Option<Duration>,
    /// An open alert whose source has been silent this long is resolved.
    pub auto_resolve_after: Option<Duration>,
}

/// An integration key as stored: only the hash of the secret is kept.
#[derive(Clone, Debug, PartialEq)]
pub struct IntegrationKey {
    pub id: Uuid,
    pub service_id: Uuid,
    pub name: String,
    /// SHA-256 of the plaintext key, hex.
    pub key_hash: String,
    /// The first characters of the plaintext, to tell keys apart in listings.
    pub key_prefix: String,
    pub created_at: DateTime<Utc>,
    /// A rotated key keeps working until this instant.
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl IntegrationKey {
    /// Whether the key authenticates a request made at `now`.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|end| now < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn rotated_keys_expire_and_revoked_keys_stop_at_once() {
        let now = Utc::now();
        let mut key = IntegrationKey {
            id: Uuid::nil(),
            service_id: Uuid::nil(),
            name: "am".into(),
            key_hash: String::new(),
            key_prefix: String::new(),
            created_at: now,
            expires_at: None,
            revoked_at: None,
        };
        assert!(key.is_usable(now));
        key.expires_at = Some(now + Duration::hours(1));
        assert!(key.is_usable(now));
        assert!(!key.is_usable(now + Duration::hours(1)));
        key.expires_at = None;
        key.revoked_at = Some(now);
        assert!(!key.is_usable(now));
    }
}

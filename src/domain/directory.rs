//! Users of the built-in directory and their API tokens.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::access::Role;

#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    /// IANA zone name, checked when the user is created.
    pub timezone: String,
    pub created_at: DateTime<Utc>,
}

/// An API token as stored: only the hash of the secret is kept.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub role: Role,
    /// SHA-256 of the plaintext token, hex.
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

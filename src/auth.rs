//! Bearer tokens and integration keys: generated here, stored only as SHA-256 hashes,
//! looked up through a short-lived cache so a storm's requests do not each hit the store.
//!
//! Plain SHA-256 (no slow KDF) is right for these secrets: they are 256 random bits,
//! not passwords, so there is nothing for a slow hash to protect against.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::domain::access::Principal;
use crate::store::{Store, StoreError};

/// API tokens start with this, so a leaked one is recognisable in logs and scanners.
pub const API_TOKEN_PREFIX: &str = "oct_";
/// Integration keys start with this.
pub const INTEGRATION_KEY_PREFIX: &str = "oik_";

/// How long a looked-up secret is trusted before it is checked again. Revocations on
/// this node clear the cache at once.
const CACHE_TTL: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing credentials: send `authorization: Bearer TOKEN`")]
    Missing,
    /// Unknown, revoked and expired look the same from outside.
    #[error("invalid or revoked credentials")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new random secret with a recognisable prefix.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// What is stored in place of a secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[derive(Clone)]
pub struct Authenticator {
    store: Arc<dyn Store>,
    cache: Arc<Mutex<HashMap<String, (Principal, Instant)>>>,
}

impl Authenticator {
    pub fn new(store: Arc<dyn Store>) -> Authenticator {
        Authenticator {
            store,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Who a bearer secret belongs to: a user's API token or an integration key.
    pub async fn authenticate(&self, secret: &str) -> Result<Principal, AuthError> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(AuthError::Missing);
        }
        let hash = hash_secret(secret);
        if let Some(principal) = self.cached(&hash) {
            return Ok(principal);
        }
        let principal = self.lookup(&hash).await?.ok_or(AuthError::Invalid)?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(hash, (principal.clone(), Instant::now()));
        }
        Ok(principal)
    }

    /// Drops every cached lookup: called after a revocation or rotation.
    pub fn forget_all(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }

    fn cached(&self, hash: &str) -> Option<Principal> {
        let cache = self.cache.lock().ok()?;
        let (principal, at) = cache.get(hash)?;
        (at.elapsed() < CACHE_TTL).then(|| principal.clone())
    }

    async fn lookup(&self, hash: &str) -> Result<Option<Principal>, AuthError> {
        let now = crate::clock::now();
        if let Some(token) = self.store.find_api_token(hash).await? {
            return Ok(token.revoked_at.is_none().then_some(Principal::User {
                user_id: token.user_id,
                role: token.role,
            }));
        }
        if let Some(key) = self.store.find_integration_key(hash).await? {
            return Ok(key.is_usable(now).then_some(Principal::Integration {
                service_id: key.service_id,
                key_id: key.id,
            }));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_hash_stably() {
        let a = new_secret(API_TOKEN_PREFIX);
        let b = new_secret(API_TOKEN_PREFIX);
        assert!(a.starts_with(API_TOKEN_PREFIX));
        assert_eq!(a.len(), API_TOKEN_PREFIX.len() + 64);
        assert_ne!(a, b);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_ne!(hash_secret(&a), hash_secret(&b));
        assert_eq!(hash_secret(&a).len(), 64);
    }
}

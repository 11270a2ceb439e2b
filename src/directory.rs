//! The user directory the engine pages from: the built-in one (this server's store), or
//! an external kneutral-api reached over gRPC with the same `directory.v1.UserService`
//! RPCs (GetUser, ListContactMethods). Remote answers are cached for a TTL, and
//! concurrent lookups of one user share a single call (single flight), so a storm
//! that pages the same people costs one round trip per person per TTL.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::OnceCell;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::definitions::contact_method::kind_from_pb;
use crate::domain::directory::{ContactMethod, User};
use crate::domain::notify::quiet::QuietHours;
use crate::pb::directory::v1 as dir;
use crate::pb::directory::v1::user_service_client::UserServiceClient;
use crate::secret::secret;
use crate::store::Store;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySection {
    /// "builtin" (default) or "kneutral".
    pub kind: Option<String>,
    pub kneutral_grpc_url: Option<String>,
    pub kneutral_token: Option<String>,
    pub kneutral_token_env: Option<String>,
    pub kneutral_token_file: Option<std::path::PathBuf>,
    /// Seconds a remote answer is reused (default 60).
    pub cache_ttl_seconds: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectorySettings {
    Builtin,
    Kneutral {
        url: String,
        token: Option<String>,
        ttl: Duration,
    },
}

impl DirectorySettings {
    pub fn resolve(section: &DirectorySection, problems: &mut Vec<String>) -> DirectorySettings {
        let token = secret(
            "directory.kneutral_token",
            &section.kneutral_token,
            &section.kneutral_token_env,
            &section.kneutral_token_file,
            problems,
        );
        match section.kind.as_deref().unwrap_or("builtin") {
            "builtin" => DirectorySettings::Builtin,
            "kneutral" => {
                let Some(url) = section.kneutral_grpc_url.clone() else {
                    problems.push(
                        "directory.kneutral_grpc_url: required with kind = \"kneutral\"".into(),
                    );
                    return DirectorySettings::Builtin;
                };
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    problems.push("directory.kneutral_grpc_url: must be an http(s) URL".into());
                }
                DirectorySettings::Kneutral {
                    url,
                    token,
                    ttl: Duration::from_secs(section.cache_ttl_seconds.unwrap_or(60)),
                }
            }
            other => {
                problems.push(format!(
                    "directory.kind: {other:?} is not builtin or kneutral"
                ));
                DirectorySettings::Builtin
            }
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("directory: {0}")]
pub struct DirectoryError(pub String);

#[derive(Clone)]
pub struct Directory {
    source: Source,
}

#[derive(Clone)]
enum Source {
    Builtin(Arc<dyn Store>),
    Kneutral(Arc<Remote>),
}

struct Remote {
    client: UserServiceClient<Channel>,
    token: Option<String>,
    ttl: Duration,
    users: Cache<Option<User>>,
    methods: Cache<Vec<ContactMethod>>,
}

impl Directory {
    pub fn new(settings: &DirectorySettings, store: Arc<dyn Store>) -> anyhow::Result<Directory> {
        let source = match settings {
            DirectorySettings::Builtin => Source::Builtin(store),
            DirectorySettings::Kneutral { url, token, ttl } => {
                let channel = Channel::from_shared(url.clone())?
                    .connect_timeout(Duration::from_secs(5))
                    .timeout(Duration::from_secs(10))
                    .connect_lazy();
                Source::Kneutral(Arc::new(Remote {
                    client: UserServiceClient::new(channel),
                    token: token.clone(),
                    ttl: *ttl,
                    users: Cache::default(),
                    methods: Cache::default(),
                }))
            }
        };
        Ok(Directory { source })
    }

    pub async fn user(&self, id: Uuid) -> Result<Option<User>, DirectoryError> {
        match &self.source {
            Source::Builtin(store) => store
                .get_user(id)
                .await
                .map_err(|e| DirectoryError(e.to_string())),
            Source::Kneutral(remote) => {
                let call = remote.clone();
                remote
                    .users
                    .get(id, remote.ttl, async move { call.fetch_user(id).await })
                    .await
            }
        }
    }

    pub async fn contact_methods(&self, user: Uuid) -> Result<Vec<ContactMethod>, DirectoryError> {
        match &self.source {
            Source::Builtin(store) => store
                .list_contact_methods(user)
                .await
                .map_err(|e| DirectoryError(e.to_string())),
            Source::Kneutral(remote) => {
                let call = remote.clone();
                remote
                    .methods
                    .get(
                        user,
                        remote.ttl,
                        async move { call.fetch_methods(user).await },
                    )
                    .await
            }
        }
    }
}

impl Remote {
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(token) = &self.token
            && let Ok(value) = format!("Bearer {token}").parse()
        {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    async fn fetch_user(&self, id: Uuid) -> Result<Option<User>, DirectoryError> {
        let answer = self
            .client
            .clone()
            .get_user(self.request(dir::GetUserRequest { id: id.to_string() }))
            .await;
        let user = match answer {
            Ok(user) => user.into_inner(),
            Err(status) if status.code() == tonic::Code::NotFound => return Ok(None),
            Err(status) => {
                return Err(DirectoryError(format!(
                    "GetUser {id}: {}",
                    status.message()
                )));
            }
        };
        let quiet_hours = match (
            user.quiet_hours_start.as_str(),
            user.quiet_hours_end.as_str(),
        ) {
            ("", _) | (_, "") => None,
            (start, end) => QuietHours::parse(start, end).ok(),
        };
        Ok(Some(User {
            id,
            name: user.name,
            email: user.email,
            timezone: if user.timezone.is_empty() {
                "UTC".into()
            } else {
                user.timezone
            },
            quiet_hours,
            created_at: user
                .created_at
                .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
                .unwrap_or_default(),
        }))
    }

    async fn fetch_methods(&self, user: Uuid) -> Result<Vec<ContactMethod>, DirectoryError> {
        let answer = self
            .client
            .clone()
            .list_contact_methods(self.request(dir::ListContactMethodsRequest {
                user_id: user.to_string(),
            }))
            .await
            .map_err(|s| DirectoryError(format!("ListContactMethods {user}: {}", s.message())))?;
        Ok(answer
            .into_inner()
            .methods
            .into_iter()
            .filter_map(|m| {
                Some(ContactMethod {
                    id: Uuid::parse_str(&m.id).unwrap_or_else(|_| Uuid::new_v4()),
                    user_id: user,
                    kind: kind_from_pb(m.r#type).ok()?,
                    address: m.address,
                    verified: m.verified,
                    code_hash: None,
                    code_sent: m.code_sent,
                    code_detail: m.code_detail,
                    created_at: crate::clock::now(),
                })
            })
            .collect())
    }
}

/// Answers kept for a TTL; one lookup in flight per key.
struct Cache<T> {
    slots: Mutex<HashMap<Uuid, Slot<T>>>,
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Cache {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

enum Slot<T> {
    Ready(Instant, T),
    Loading(Arc<OnceCell<Result<T, DirectoryError>>>),
}

impl<T: Clone> Cache<T> {
    async fn get(
        &self,
        key: Uuid,
        ttl: Duration,
        load: impl Future<Output = Result<T, DirectoryError>>,
    ) -> Result<T, DirectoryError> {
        let cell = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            match slots.get(&key) {
                Some(Slot::Ready(at, value)) if at.elapsed() < ttl => return Ok(value.clone()),
                Some(Slot::Loading(cell)) => cell.clone(),
                _ => {
                    let cell = Arc::new(OnceCell::new());
                    slots.insert(key, Slot::Loading(cell.clone()));
                    cell
                }
            }
        };
        let result = cell.get_or_init(|| load).await.clone();
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(slots.get(&key), Some(Slot::Loading(c)) if Arc::ptr_eq(c, &cell)) {
            match &result {
                Ok(value) => {
                    slots.insert(key, Slot::Ready(Instant::now(), value.clone()));
                }
                Err(_) => {
                    slots.remove(&key);
                }
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn lookups_share_one_flight_and_are_kept_for_the_ttl() {
        let cache: Arc<Cache<u32>> = Arc::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let key = Uuid::new_v4();
        let lookup = |cache: Arc<Cache<u32>>, calls: Arc<AtomicUsize>| async move {
            cache
                .get(key, Duration::from_secs(60), async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(7)
                })
                .await
        };
        let results = futures_util::future::join_all(
            (0..10).map(|_| tokio::spawn(lookup(cache.clone(), calls.clone()))),
        )
        .await;
        assert!(results.into_iter().all(|r| r.unwrap().unwrap() == 7));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "one flight for ten lookups"
        );
        assert_eq!(lookup(cache.clone(), calls.clone()).await.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "kept for the TTL");
        let expired = cache
            .get(key, Duration::ZERO, async { Ok(8) })
            .await
            .unwrap();
        assert_eq!(expired, 8, "read again after the TTL");
    }

    #[tokio::test]
    async fn failures_are_not_kept() {
        let cache: Cache<u32> = Cache::default();
        let key = Uuid::new_v4();
        let failed = cache
            .get(key, Duration::from_secs(60), async {
                Err(DirectoryError("down".into()))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(
            cache
                .get(key, Duration::from_secs(60), async { Ok(1) })
                .await
                .unwrap(),
            1
        );
    }

    #[test]
    fn settings_choose_the_directory() {
        let mut problems = Vec::new();
        let section: DirectorySection =
            toml::from_str("kind = \"kneutral\"\nkneutral_grpc_url = \"http://kneutral:50051\"")
                .unwrap();
        assert!(matches!(
            DirectorySettings::resolve(&section, &mut problems),
            DirectorySettings::Kneutral { .. }
        ));
        assert!(problems.is_empty());
        let section: DirectorySection = toml::from_str("kind = \"kneutral\"").unwrap();
        DirectorySettings::resolve(&section, &mut problems);
        assert!(
            problems[0].starts_with("directory.kneutral_grpc_url"),
            "{problems:?}"
        );
        let section: DirectorySection = toml::from_str("kind = \"ldap\"").unwrap();
        DirectorySettings::resolve(&section, &mut problems);
        assert!(problems[1].starts_with("directory.kind"), "{problems:?}");
    }
}

//! What a service asks of escalation (its default policy, or its team's; its ack timeout
//! and auto-resolve), read through a short-lived cache so that routing a storm does not
//! read the service once per alert. A change is seen within `FRESH_FOR`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use crate::definitions::Definitions;
use crate::domain::catalog::Service;
use crate::pb::alerting::routing::v1 as pb;
use crate::store::Store;

/// How long a read service or team list is trusted.
pub const FRESH_FOR: Duration = Duration::from_secs(5);

/// A team's default policy and the services it looks after.
type TeamDefaults = Arc<Vec<(Vec<String>, Uuid)>>;
/// Each service read, when it was read (`None`: there is no such service).
type ServiceCache = HashMap<Uuid, (Instant, Option<Service>)>;

#[derive(Clone)]
pub struct ServiceDefaults {
    store: Arc<dyn Store>,
    services: Arc<Mutex<ServiceCache>>,
    teams: Arc<Mutex<Option<(Instant, TeamDefaults)>>>,
}

impl ServiceDefaults {
    pub fn new(store: Arc<dyn Store>) -> ServiceDefaults {
        ServiceDefaults {
            store,
            services: Arc::default(),
            teams: Arc::default(),
        }
    }

    /// The service, at most `FRESH_FOR` old; `None` when it does not exist or the store
    /// cannot say.
    pub async fn service(&self, id: Uuid) -> Option<Service> {
        if let Ok(cache) = self.services.lock()
            && let Some((read, service)) = cache.get(&id)
            && read.elapsed() < FRESH_FOR
        {
            return service.clone();
        }
        let service = match self.store.get_service(id).await {
            Ok(service) => service,
            Err(error) => {
                tracing::warn!(service = %id, %error, "could not read a service's escalation defaults");
                return None;
            }
        };
        if let Ok(mut cache) = self.services.lock() {
            cache.insert(id, (Instant::now(), service.clone()));
        }
        service
    }

    /// The policy an alert of this service runs when no rule escalated it: the
    /// service's own, else the default of a team (by name) that looks after it.
    pub async fn policy_for(&self, service_id: Uuid) -> Option<Uuid> {
        if let Some(policy) = self.service(service_id).await?.escalation_policy {
            return Some(policy);
        }
        let service = service_id.to_string();
        self.team_defaults()
            .await
            .iter()
            .find(|(services, _)| services.contains(&service))
            .map(|(_, policy)| *policy)
    }

    async fn team_defaults(&self) -> TeamDefaults {
        if let Ok(cache) = self.teams.lock()
            && let Some((read, teams)) = cache.as_ref()
            && read.elapsed() < FRESH_FOR
        {
            return teams.clone();
        }
        let teams: Definitions<pb::Team> = Definitions::new(self.store.clone());
        let defaults: TeamDefaults = Arc::new(
            teams
                .list()
                .await
                .unwrap_or_default()
                .into_iter()
                .filter_map(|team| {
                    let policy = Uuid::parse_str(&team.default_escalation_policy_id).ok()?;
                    Some((team.service_ids, policy))
                })
                .collect(),
        );
        if let Ok(mut cache) = self.teams.lock() {
            *cache = Some((Instant::now(), defaults.clone()));
        }
        defaults
    }
}

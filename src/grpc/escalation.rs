//! `alerting.routing.v1.EscalationService`: policies checked and compiled when saved
//! (fields named, references checked, handover cycles refused naming the cycle), and the
//! chains that walk alerts through them, run by the escalation actors.

use std::collections::BTreeMap;

use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::listing::page_of;
use super::pb::alerting::routing::v1 as pb;
use super::pb::alerting::routing::v1::escalation_service_server::EscalationService;
use super::{Context, convert, invalid, page, parse_id, store_status};
use crate::actors::escalation::EscalationActors;
use crate::definitions::Definitions;
use crate::definitions::escalation::compile;
use crate::domain::access::Action;
use crate::domain::escalation::{Chain, Exhausted, Policy, Target, find_cycle};
use crate::store::StoredPage;

fn page_to_pb(page: &StoredPage) -> pb::Page {
    pb::Page {
        id: page.id.to_string(),
        step_number: page.key.step + 1,
        repeat: page.key.repeat,
        target: page.key.target.clone(),
        outcome: page.outcome.clone(),
        detail: page.detail.clone(),
        created_at: Some(convert::timestamp(page.created_at)),
    }
}

fn status_to_pb(chain: &Chain, pages: &[StoredPage]) -> pb::EscalationStatus {
    pb::EscalationStatus {
        chain_id: chain.id.to_string(),
        alert_id: chain.alert_id.to_string(),
        policy_id: chain.policy_id.to_string(),
        generation: chain.generation,
        status: chain.status.as_str().to_string(),
        current_step: chain.step + 1,
        repeat: chain.repeat,
        next_fire_at: convert::opt_timestamp(chain.next_fire_at),
        started_at: Some(convert::timestamp(chain.started_at)),
        pages: pages.iter().map(page_to_pb).collect(),
    }
}

pub struct EscalationApi {
    ctx: Context,
    policies: Definitions<pb::EscalationPolicy>,
    actors: EscalationActors,
}

impl EscalationApi {
    pub fn new(ctx: Context, actors: EscalationActors) -> EscalationApi {
        EscalationApi {
            policies: Definitions::new(ctx.store.clone()),
            ctx,
            actors,
        }
    }

    /// Checks what a policy names exists, and that saving it closes no handover cycle.
    async fn check(&self, policy: &Policy) -> Result<(), Status> {
        let mut edges: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
        let mut names: BTreeMap<Uuid, String> = BTreeMap::new();
        for stored in self.policies.list().await? {
            let Ok(id) = Uuid::parse_str(&stored.id) else {
                continue;
            };
            if let Ok(compiled) = compile(&stored, id) {
                edges.insert(id, compiled.handovers().collect());
                names.insert(id, compiled.name);
            }
        }
        edges.insert(policy.id, policy.handovers().collect());
        names.insert(policy.id, policy.name.clone());
        let schedules: Definitions<pb::Schedule> = Definitions::new(self.ctx.store.clone());
        let teams: Definitions<pb::Team> = Definitions::new(self.ctx.store.clone());
        let targets = policy
            .steps
            .iter()
            .flat_map(|s| &s.targets)
            .chain(match &policy.exhausted {
                Exhausted::Notify(t) => Some(t),
                _ => None,
            });
        for target in targets {
            let missing = match target {
                Target::User(id) => self
                    .ctx
                    .store
                    .get_user(*id)
                    .await
                    .map_err(store_status)?
                    .is_none()
                    .then(|| format!("user {id}")),
                Target::Schedule { id, .. } => schedules
                    .find(*id)
                    .await?
                    .is_none()
                    .then(|| format!("schedule {id}")),
                Target::Team(id) => teams
                    .find(*id)
                    .await?
                    .is_none()
                    .then(|| format!("team {id}")),
                Target::Policy(id) => {
                    (!edges.contains_key(id)).then(|| format!("escalation policy {id}"))
                }
                Target::Channel(_) => None,
            };
            if let Some(what) = missing {
                return Err(invalid("policy", format!("{what} does not exist")));
            }
        }
        if let Some(cycle) = find_cycle(&edges) {
            let path: Vec<String> = cycle
                .iter()
                .map(|id| names.get(id).cloned().unwrap_or_else(|| id.to_string()))
                .collect();
            return Err(Status::failed_precondition(format!(
                "escalation policies would hand over in a cycle: {}",
                path.join(" → ")
            )));
        }
        Ok(())
    }

    async fn statuses(&self, alert: Uuid) -> Result<pb::GetEscalationStatusResponse, Status> {
        let store = &self.ctx.store;
        let mut chains = Vec::new();
        for chain in store.chains_of_alert(alert).await.map_err(store_status)? {
            let pages = store.pages_of_chain(chain.id).await.map_err(store_status)?;
            chains.push(status_to_pb(&chain, &pages));
        }
        Ok(pb::GetEscalationStatusResponse { chains })
    }
}

#[tonic::async_trait]
impl EscalationService for EscalationApi {
    async fn create_escalation_policy(
        &self,
        request: Request<pb::CreateEscalationPolicyRequest>,
    ) -> Result<Response<pb::EscalationPolicy>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let mut policy = request
            .into_inner()
            .policy
            .ok_or_else(|| invalid("policy", "required"))?;
        let id = Uuid::new_v4();
        self.check(&compile(&policy, id)?).await?;
        let now = crate::clock::now();
        policy.id = id.to_string();
        policy.created_at = Some(convert::timestamp(now));
        policy.updated_at = policy.created_at;
        self.policies.insert(id, &policy, now).await?;
        Ok(Response::new(policy))
    }

    async fn get_escalation_policy(
        &self,
        request: Request<pb::GetEscalationPolicyRequest>,
    ) -> Result<Response<pb::EscalationPolicy>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(self.policies.get(id).await?.0))
    }

    async fn list_escalation_policies(
        &self,
        request: Request<pb::ListEscalationPoliciesRequest>,
    ) -> Result<Response<pb::ListEscalationPoliciesResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let (limit, offset) = page("", body.page_size, &body.page_token)?;
        let needle = body.name_contains.to_lowercase();
        let matching: Vec<pb::EscalationPolicy> = self
            .policies
            .list()
            .await?
            .into_iter()
            .filter(|p| needle.is_empty() || p.name.to_lowercase().contains(&needle))
            .collect();
        let (policies, next_page_token, total_count) = page_of(matching, limit, offset);
        Ok(Response::new(pb::ListEscalationPoliciesResponse {
            policies,
            next_page_token,
            total_count,
        }))
    }

    async fn update_escalation_policy(
        &self,
        request: Request<pb::UpdateEscalationPolicyRequest>,
    ) -> Result<Response<pb::EscalationPolicy>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let mut policy = request
            .into_inner()
            .policy
            .ok_or_else(|| invalid("policy", "required"))?;
        let id = parse_id("policy.id", &policy.id)?;
        let (previous, created) = self.policies.get(id).await?;
        self.check(&compile(&policy, id)?).await?;
        let now = crate::clock::now();
        policy.created_at = previous.created_at;
        policy.updated_at = Some(convert::timestamp(now));
        self.policies.update(id, &policy, created, now).await?;
        Ok(Response::new(policy))
    }

    async fn delete_escalation_policy(
        &self,
        request: Request<pb::DeleteEscalationPolicyRequest>,
    ) -> Result<Response<pb::DeleteEscalationPolicyResponse>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        for other in self.policies.list().await? {
            let Ok(other_id) = Uuid::parse_str(&other.id) else {
                continue;
            };
            if other_id != id
                && compile(&other, other_id).is_ok_and(|p| p.handovers().any(|h| h == id))
            {
                return Err(Status::failed_precondition(format!(
                    "escalation policy {:?} hands over to this one",
                    other.name
                )));
            }
        }
        self.policies.delete(id).await?;
        Ok(Response::new(pb::DeleteEscalationPolicyResponse {}))
    }

    async fn start_escalation(
        &self,
        request: Request<pb::StartEscalationRequest>,
    ) -> Result<Response<pb::EscalationStatus>, Status> {
        self.ctx.authorize(&request, Action::Respond).await?;
        let body = request.into_inner();
        let alert = parse_id("alert_id", &body.alert_id)?;
        let policy = parse_id("policy_id", &body.policy_id)?;
        let chain = self
            .actors
            .start(alert, policy)
            .await
            .map_err(Status::failed_precondition)?;
        let pages = self
            .ctx
            .store
            .pages_of_chain(chain.id)
            .await
            .map_err(store_status)?;
        Ok(Response::new(status_to_pb(&chain, &pages)))
    }

    async fn get_escalation_status(
        &self,
        request: Request<pb::GetEscalationStatusRequest>,
    ) -> Result<Response<pb::GetEscalationStatusResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let alert = parse_id("alert_id", &request.get_ref().alert_id)?;
        Ok(Response::new(self.statuses(alert).await?))
    }

    async fn stop_escalation(
        &self,
        request: Request<pb::StopEscalationRequest>,
    ) -> Result<Response<pb::GetEscalationStatusResponse>, Status> {
        self.ctx.authorize(&request, Action::Respond).await?;
        let alert = parse_id("alert_id", &request.get_ref().alert_id)?;
        self.actors.stop(alert).await;
        Ok(Response::new(self.statuses(alert).await?))
    }
}

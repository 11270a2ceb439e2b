//! `alerting.routing.v1.CustomerTierService`: tiers with their SLA response times,
//! escalation multiplier, dedicated team and customers, and the resolver enrichment uses.

use std::collections::BTreeMap;

use prost_types::Timestamp;
use tonic::{Request, Response, Status};

use super::invalid;
use super::listing::page_of;
use super::page;
use super::pb::alerting::routing::v1 as pb;
use super::pb::alerting::routing::v1::customer_tier_service_server::CustomerTierService;
use super::reference::{Reference, Registry};
use crate::definitions::customer_tier::compile;
use crate::domain::access::Action;

impl Reference for pb::CustomerTier {
    const FIELD: &'static str = "tier";
    const KEY: &'static str = "name";

    fn id(&self) -> &str {
        &self.id
    }

    /// An unset multiplier is 1: the policy's own delays.
    fn normalise(&mut self) -> Result<(), Status> {
        self.name = self.name.trim().to_string();
        if self.escalation_multiplier == 0.0 {
            self.escalation_multiplier = 1.0;
        }
        compile(self).map(drop).map_err(Status::from)
    }

    fn key(&self) -> String {
        self.name.to_lowercase()
    }

    fn teams(&self) -> Vec<(String, &str)> {
        vec![("tier.dedicated_team_id".into(), &self.dedicated_team_id)]
    }

    /// A customer belongs to one tier.
    fn conflicts_with(&self, other: &Self) -> Option<Status> {
        self.customers.iter().enumerate().find_map(|(i, customer)| {
            other
                .customers
                .iter()
                .any(|c| c.eq_ignore_ascii_case(customer))
                .then(|| {
                    invalid(
                        format!("tier.customers[{i}]"),
                        format!("{customer:?} is already in tier {:?}", other.name),
                    )
                })
        })
    }

    fn stamp(&mut self, created: Timestamp, updated: Timestamp) {
        self.created_at = Some(created);
        self.updated_at = Some(updated);
    }
}

pub struct CustomerTierApi {
    tiers: Registry<pb::CustomerTier>,
}

impl CustomerTierApi {
    pub fn new(ctx: super::Context) -> CustomerTierApi {
        CustomerTierApi {
            tiers: Registry::new(ctx),
        }
    }

    async fn authorize<T>(&self, request: &Request<T>, action: Action) -> Result<(), Status> {
        self.tiers
            .context()
            .authorize(request, action)
            .await
            .map(drop)
    }
}

#[tonic::async_trait]
impl CustomerTierService for CustomerTierApi {
    async fn create_customer_tier(
        &self,
        request: Request<pb::CreateCustomerTierRequest>,
    ) -> Result<Response<pb::CustomerTier>, Status> {
        self.authorize(&request, Action::Administer).await?;
        Ok(Response::new(
            self.tiers.create(request.into_inner().tier).await?,
        ))
    }

    async fn get_customer_tier(
        &self,
        request: Request<pb::GetCustomerTierRequest>,
    ) -> Result<Response<pb::CustomerTier>, Status> {
        self.authorize(&request, Action::Read).await?;
        Ok(Response::new(self.tiers.get(&request.get_ref().id).await?))
    }

    async fn list_customer_tiers(
        &self,
        request: Request<pb::ListCustomerTiersRequest>,
    ) -> Result<Response<pb::ListCustomerTiersResponse>, Status> {
        self.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let (limit, offset) = page("", body.page_size, &body.page_token)?;
        let mut matching = self.tiers.list().await?;
        matching.sort_by(|a, b| a.level.cmp(&b.level).then_with(|| a.name.cmp(&b.name)));
        let (tiers, next_page_token, total_count) = page_of(matching, limit, offset);
        Ok(Response::new(pb::ListCustomerTiersResponse {
            tiers,
            next_page_token,
            total_count,
        }))
    }

    async fn update_customer_tier(
        &self,
        request: Request<pb::UpdateCustomerTierRequest>,
    ) -> Result<Response<pb::CustomerTier>, Status> {
        self.authorize(&request, Action::Administer).await?;
        Ok(Response::new(
            self.tiers.update(request.into_inner().tier).await?,
        ))
    }

    async fn delete_customer_tier(
        &self,
        request: Request<pb::DeleteCustomerTierRequest>,
    ) -> Result<Response<pb::DeleteCustomerTierResponse>, Status> {
        self.authorize(&request, Action::Administer).await?;
        self.tiers.delete(&request.get_ref().id).await?;
        Ok(Response::new(pb::DeleteCustomerTierResponse {}))
    }

    async fn resolve_customer_tier(
        &self,
        request: Request<pb::ResolveCustomerTierRequest>,
    ) -> Result<Response<pb::ResolveCustomerTierResponse>, Status> {
        self.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let mut labels: BTreeMap<String, String> = body.labels.into_iter().collect();
        if !body.customer.is_empty() {
            labels.insert("customer".into(), body.customer);
        }
        let data = self.tiers.context().engine.enrichment().current();
        let Some(found) = data.resolve_tier(&labels) else {
            return Ok(Response::new(pb::ResolveCustomerTierResponse::default()));
        };
        let tier = self.tiers.get(&found.value.id.to_string()).await?;
        Ok(Response::new(pb::ResolveCustomerTierResponse {
            found: true,
            tier: Some(tier),
            matched_by: found.matched_by,
        }))
    }
}

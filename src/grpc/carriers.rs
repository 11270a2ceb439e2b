//! `alerting.routing.v1.CarrierService`: the networks BGP sessions run to, found by id or
//! by AS number, with their NOC contacts.

use prost_types::Timestamp;
use tonic::{Request, Response, Status};

use super::invalid;
use super::listing::page_of;
use super::page;
use super::pb::alerting::routing::v1 as pb;
use super::pb::alerting::routing::v1::carrier_service_server::CarrierService;
use super::reference::{Reference, Registry};
use crate::definitions::carrier::compile;
use crate::domain::access::Action;
use crate::domain::enrich::parse_asn;

impl Reference for pb::CarrierConfig {
    const FIELD: &'static str = "carrier";
    const KEY: &'static str = "name";

    fn id(&self) -> &str {
        &self.id
    }

    /// The ASN is stored as digits (`AS3356` → `3356`).
    fn normalise(&mut self) -> Result<(), Status> {
        self.name = self.name.trim().to_string();
        let compiled = compile(self)?;
        self.asn = compiled.asn.to_string();
        Ok(())
    }

    fn key(&self) -> String {
        self.name.to_lowercase()
    }

    fn teams(&self) -> Vec<(String, &str)> {
        vec![("carrier.team_id".into(), &self.team_id)]
    }

    /// One carrier per AS number: enrichment finds carriers by it.
    fn conflicts_with(&self, other: &Self) -> Option<Status> {
        (self.asn == other.asn).then(|| {
            Status::already_exists(format!(
                "carrier {:?} already has AS{}",
                other.name, other.asn
            ))
        })
    }

    fn stamp(&mut self, created: Timestamp, updated: Timestamp) {
        self.created_at = Some(created);
        self.updated_at = Some(updated);
    }
}

pub struct CarrierApi {
    carriers: Registry<pb::CarrierConfig>,
}

impl CarrierApi {
    pub fn new(ctx: super::Context) -> CarrierApi {
        CarrierApi {
            carriers: Registry::new(ctx),
        }
    }

    async fn authorize<T>(&self, request: &Request<T>, action: Action) -> Result<(), Status> {
        self.carriers
            .context()
            .authorize(request, action)
            .await
            .map(drop)
    }
}

#[tonic::async_trait]
impl CarrierService for CarrierApi {
    async fn create_carrier(
        &self,
        request: Request<pb::CreateCarrierRequest>,
    ) -> Result<Response<pb::CarrierConfig>, Status> {
        self.authorize(&request, Action::Administer).await?;
        Ok(Response::new(
            self.carriers.create(request.into_inner().carrier).await?,
        ))
    }

    async fn get_carrier(
        &self,
        request: Request<pb::GetCarrierRequest>,
    ) -> Result<Response<pb::CarrierConfig>, Status> {
        self.authorize(&request, Action::Read).await?;
        Ok(Response::new(
            self.carriers.get(&request.get_ref().id).await?,
        ))
    }

    async fn get_carrier_by_asn(
        &self,
        request: Request<pb::GetCarrierByAsnRequest>,
    ) -> Result<Response<pb::CarrierConfig>, Status> {
        self.authorize(&request, Action::Read).await?;
        let given = &request.get_ref().asn;
        let asn = parse_asn(given)
            .ok_or_else(|| invalid("asn", format!("not an AS number: {given:?}")))?;
        let found = self
            .carriers
            .list()
            .await?
            .into_iter()
            .find(|c| c.asn == asn.to_string())
            .ok_or_else(|| Status::not_found(format!("no carrier with AS{asn}")))?;
        Ok(Response::new(found))
    }

    async fn list_carriers(
        &self,
        request: Request<pb::ListCarriersRequest>,
    ) -> Result<Response<pb::ListCarriersResponse>, Status> {
        self.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let (limit, offset) = page("", body.page_size, &body.page_token)?;
        let matching: Vec<pb::CarrierConfig> = self
            .carriers
            .list()
            .await?
            .into_iter()
            .filter(|c| body.relationship == 0 || c.relationship == body.relationship)
            .collect();
        let (carriers, next_page_token, total_count) = page_of(matching, limit, offset);
        Ok(Response::new(pb::ListCarriersResponse {
            carriers,
            next_page_token,
            total_count,
        }))
    }

    async fn update_carrier(
        &self,
        request: Request<pb::UpdateCarrierRequest>,
    ) -> Result<Response<pb::CarrierConfig>, Status> {
        self.authorize(&request, Action::Administer).await?;
        Ok(Response::new(
            self.carriers.update(request.into_inner().carrier).await?,
        ))
    }

    async fn delete_carrier(
        &self,
        request: Request<pb::DeleteCarrierRequest>,
    ) -> Result<Response<pb::DeleteCarrierResponse>, Status> {
        self.authorize(&request, Action::Administer).await?;
        self.carriers.delete(&request.get_ref().id).await?;
        Ok(Response::new(pb::DeleteCarrierResponse {}))
    }
}

//! `alerting.routing.v1.CarrierService`: the networks BGP sessions run to, found by id or
//! by AS number, with their NOC contacts.

use prost_types::Timestamp;
use tonic::{Request, Response, Status};

use super::definitions::page_of;
use super::pb::alerting::routing::v1 as pb;
use super::pb::alerting::routing::v1::carrier_service_server::CarrierService;
use super::reference::{Reference, Registry, invalid, optional_id};
use super::{check_optional_url, page};
use crate::domain::access::Action;
use crate::domain::enrich::{Carrier, Relationship, parse_asn};

/// A carrier as enrichment uses it; errors name the field.
pub fn compile(carrier: &pb::CarrierConfig) -> Result<Carrier, Status> {
    let id = super::parse_id("carrier.id", &carrier.id)?;
    if carrier.name.is_empty() {
        return Err(invalid("carrier.name", "required"));
    }
    let asn = parse_asn(&carrier.asn).ok_or_else(|| {
        invalid(
            "carrier.asn",
            format!("not an AS number: {:?}", carrier.asn),
        )
    })?;
    let relationship = match pb::CarrierRelationship::try_from(carrier.relationship) {
        Ok(pb::CarrierRelationship::Transit) => Relationship::Transit,
        Ok(pb::CarrierRelationship::Peering) => Relationship::Peering,
        Ok(pb::CarrierRelationship::Customer) => Relationship::Customer,
        Ok(pb::CarrierRelationship::Unspecified) => {
            return Err(invalid("carrier.relationship", "required"));
        }
        Err(_) => return Err(invalid("carrier.relationship", "unknown relationship")),
    };
    if !carrier.noc_email.is_empty() && !looks_like_email(&carrier.noc_email) {
        return Err(invalid("carrier.noc_email", "not an email address"));
    }
    check_optional_url("carrier.noc_portal", &carrier.noc_portal)?;
    Ok(Carrier {
        id,
        name: carrier.name.clone(),
        asn,
        relationship,
        noc_email: carrier.noc_email.clone(),
        noc_phone: carrier.noc_phone.clone(),
        noc_portal: carrier.noc_portal.clone(),
        team: optional_id("carrier.team_id", &carrier.team_id)?,
        auto_ticket: carrier.auto_ticket,
        ticket_provider: carrier.ticket_provider.clone(),
    })
}

fn looks_like_email(address: &str) -> bool {
    address
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !address.chars().any(char::is_whitespace)
}

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

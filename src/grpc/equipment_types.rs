//! `alerting.routing.v1.EquipmentTypeService`: device kinds, their severity boost,
//! escalation policy and hostname patterns, and the resolver enrichment uses.

use std::collections::BTreeMap;

use prost_types::Timestamp;
use tonic::{Request, Response, Status};

use super::listing::page_of;
use super::page;
use super::pb::alerting::routing::v1 as pb;
use super::pb::alerting::routing::v1::equipment_type_service_server::EquipmentTypeService;
use super::reference::{Reference, Registry};
use crate::definitions::equipment_type::compile;
use crate::domain::access::Action;

impl Reference for pb::EquipmentType {
    const FIELD: &'static str = "equipment_type";
    const KEY: &'static str = "name";

    fn id(&self) -> &str {
        &self.id
    }

    fn normalise(&mut self) -> Result<(), Status> {
        self.name = self.name.trim().to_string();
        compile(self).map(drop).map_err(Status::from)
    }

    fn key(&self) -> String {
        self.name.to_lowercase()
    }

    fn policies(&self) -> Vec<(String, &str)> {
        vec![(
            "equipment_type.escalation_policy_id".into(),
            &self.escalation_policy_id,
        )]
    }

    fn stamp(&mut self, created: Timestamp, updated: Timestamp) {
        self.created_at = Some(created);
        self.updated_at = Some(updated);
    }
}

pub struct EquipmentTypeApi {
    types: Registry<pb::EquipmentType>,
}

impl EquipmentTypeApi {
    pub fn new(ctx: super::Context) -> EquipmentTypeApi {
        EquipmentTypeApi {
            types: Registry::new(ctx),
        }
    }

    async fn authorize<T>(&self, request: &Request<T>, action: Action) -> Result<(), Status> {
        self.types
            .context()
            .authorize(request, action)
            .await
            .map(drop)
    }
}

#[tonic::async_trait]
impl EquipmentTypeService for EquipmentTypeApi {
    async fn create_equipment_type(
        &self,
        request: Request<pb::CreateEquipmentTypeRequest>,
    ) -> Result<Response<pb::EquipmentType>, Status> {
        self.authorize(&request, Action::Administer).await?;
        Ok(Response::new(
            self.types
                .create(request.into_inner().equipment_type)
                .await?,
        ))
    }

    async fn get_equipment_type(
        &self,
        request: Request<pb::GetEquipmentTypeRequest>,
    ) -> Result<Response<pb::EquipmentType>, Status> {
        self.authorize(&request, Action::Read).await?;
        Ok(Response::new(self.types.get(&request.get_ref().id).await?))
    }

    async fn get_equipment_type_by_name(
        &self,
        request: Request<pb::GetEquipmentTypeByNameRequest>,
    ) -> Result<Response<pb::EquipmentType>, Status> {
        self.authorize(&request, Action::Read).await?;
        Ok(Response::new(
            self.types.by_key("name", &request.get_ref().name).await?,
        ))
    }

    async fn list_equipment_types(
        &self,
        request: Request<pb::ListEquipmentTypesRequest>,
    ) -> Result<Response<pb::ListEquipmentTypesResponse>, Status> {
        self.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let (limit, offset) = page("", body.page_size, &body.page_token)?;
        let matching: Vec<pb::EquipmentType> = self
            .types
            .list()
            .await?
            .into_iter()
            .filter(|t| body.category.is_empty() || t.category.eq_ignore_ascii_case(&body.category))
            .collect();
        let (equipment_types, next_page_token, total_count) = page_of(matching, limit, offset);
        Ok(Response::new(pb::ListEquipmentTypesResponse {
            equipment_types,
            next_page_token,
            total_count,
        }))
    }

    async fn update_equipment_type(
        &self,
        request: Request<pb::UpdateEquipmentTypeRequest>,
    ) -> Result<Response<pb::EquipmentType>, Status> {
        self.authorize(&request, Action::Administer).await?;
        Ok(Response::new(
            self.types
                .update(request.into_inner().equipment_type)
                .await?,
        ))
    }

    async fn delete_equipment_type(
        &self,
        request: Request<pb::DeleteEquipmentTypeRequest>,
    ) -> Result<Response<pb::DeleteEquipmentTypeResponse>, Status> {
        self.authorize(&request, Action::Administer).await?;
        self.types.delete(&request.get_ref().id).await?;
        Ok(Response::new(pb::DeleteEquipmentTypeResponse {}))
    }

    async fn resolve_equipment_type(
        &self,
        request: Request<pb::ResolveEquipmentTypeRequest>,
    ) -> Result<Response<pb::ResolveEquipmentTypeResponse>, Status> {
        self.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let mut labels: BTreeMap<String, String> = body.labels.into_iter().collect();
        if !body.hostname.is_empty() {
            labels.insert("device".into(), body.hostname);
        }
        let data = self.types.context().engine.enrichment().current();
        let Some(found) = data.resolve_equipment(&labels) else {
            return Ok(Response::new(pb::ResolveEquipmentTypeResponse::default()));
        };
        let kind = self.types.get(&found.value.id.to_string()).await?;
        Ok(Response::new(pb::ResolveEquipmentTypeResponse {
            found: true,
            equipment_type: Some(kind),
            matched_by: found.matched_by,
        }))
    }
}

//! `alerting.v1.CatalogService`: services and their integration keys.

use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::pb::alerting::routing::v1 as routing;
use super::pb::alerting::v1 as pb;
use super::pb::alerting::v1::catalog_service_server::CatalogService;
use super::{Context, convert, next_token, page, parse_id, store_status};
use crate::auth::{INTEGRATION_KEY_PREFIX, hash_secret, new_secret};
use crate::definitions::Definitions;
use crate::domain::access::Action;
use crate::domain::catalog::{IntegrationKey, Service};

/// How long a rotated key keeps working when the request names no grace period.
const DEFAULT_ROTATION_GRACE: chrono::Duration = chrono::Duration::hours(24);
/// Characters of a key kept in clear, to tell keys apart in listings.
const KEY_PREFIX_SHOWN: usize = 12;

pub struct CatalogApi {
    ctx: Context,
}

impl CatalogApi {
    pub fn new(ctx: Context) -> CatalogApi {
        CatalogApi { ctx }
    }

    async fn service(&self, id: Uuid) -> Result<Service, Status> {
        self.ctx
            .store
            .get_service(id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found(format!("service {id} not found")))
    }

    async fn key(&self, id: Uuid) -> Result<IntegrationKey, Status> {
        self.ctx
            .store
            .get_integration_key(id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found(format!("integration key {id} not found")))
    }

    /// An escalation policy a service names: empty is none; otherwise it must exist.
    async fn policy(&self, field: &str, id: &str) -> Result<Option<Uuid>, Status> {
        if id.is_empty() {
            return Ok(None);
        }
        let id = parse_id(field, id)?;
        let policies: Definitions<routing::EscalationPolicy> =
            Definitions::new(self.ctx.store.clone());
        match policies.find(id).await? {
            Some(_) => Ok(Some(id)),
            None => Err(Status::invalid_argument(format!(
                "{field}: no such escalation policy"
            ))),
        }
    }

    /// Makes and stores a new key; the plaintext is returned once, here.
    async fn issue_key(&self, service_id: Uuid, name: &str) -> Result<pb::IntegrationKey, Status> {
        let plaintext = new_secret(INTEGRATION_KEY_PREFIX);
        let key = IntegrationKey {
            id: Uuid::new_v4(),
            service_id,
            name: name.to_string(),
            key_hash: hash_secret(&plaintext),
            key_prefix: plaintext.chars().take(KEY_PREFIX_SHOWN).collect(),
            created_at: crate::clock::now(),
            expires_at: None,
            revoked_at: None,
        };
        self.ctx
            .store
            .insert_integration_key(&key)
            .await
            .map_err(store_status)?;
        Ok(convert::key_to_pb(&key, Some(&plaintext)))
    }
}

/// An optional positive duration setting; unset or zero means none.
fn optional_duration(
    field: &str,
    given: Option<&prost_types::Duration>,
) -> Result<Option<std::time::Duration>, Status> {
    let Some(given) = given else {
        return Ok(None);
    };
    if given.seconds == 0 && given.nanos == 0 {
        return Ok(None);
    }
    let duration = std::time::Duration::try_from(*given)
        .map_err(|_| Status::invalid_argument(format!("{field}: must be positive")))?;
    if duration < std::time::Duration::from_secs(1) {
        return Err(Status::invalid_argument(format!("{field}: at least 1s")));
    }
    Ok(Some(duration))
}

fn check_name(name: &str) -> Result<String, Status> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Status::invalid_argument("name: required"));
    }
    if name.len() > 200 {
        return Err(Status::invalid_argument("name: at most 200 bytes"));
    }
    Ok(name.to_string())
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    async fn create_service(
        &self,
        request: Request<pb::CreateServiceRequest>,
    ) -> Result<Response<pb::Service>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let body = request.into_inner();
        let now = crate::clock::now();
        let service = Service {
            id: Uuid::new_v4(),
            name: check_name(&body.name)?,
            description: body.description,
            created_at: now,
            updated_at: now,
            escalation_policy: self
                .policy("escalation_policy_id", &body.escalation_policy_id)
                .await?,
            ack_timeout: optional_duration("ack_timeout", body.ack_timeout.as_ref())?,
            auto_resolve_after: optional_duration(
                "auto_resolve_after",
                body.auto_resolve_after.as_ref(),
            )?,
        };
        self.ctx
            .store
            .insert_service(&service)
            .await
            .map_err(store_status)?;
        Ok(Response::new(convert::service_to_pb(&service)))
    }

    async fn get_service(
        &self,
        request: Request<pb::GetServiceRequest>,
    ) -> Result<Response<pb::Service>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(convert::service_to_pb(
            &self.service(id).await?,
        )))
    }

    async fn list_services(
        &self,
        request: Request<pb::ListServicesRequest>,
    ) -> Result<Response<pb::ListServicesResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let (limit, offset) = page("", body.page_size, &body.page_token)?;
        let filter = Some(body.name_contains.as_str()).filter(|s| !s.is_empty());
        let found = self
            .ctx
            .store
            .list_services(filter, limit, offset)
            .await
            .map_err(store_status)?;
        Ok(Response::new(pb::ListServicesResponse {
            next_page_token: next_token(offset, found.items.len(), limit, found.total),
            services: found.items.iter().map(convert::service_to_pb).collect(),
            total_count: i32::try_from(found.total).unwrap_or(i32::MAX),
        }))
    }

    async fn update_service(
        &self,
        request: Request<pb::UpdateServiceRequest>,
    ) -> Result<Response<pb::Service>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let body = request.into_inner();
        let mut service = self.service(parse_id("id", &body.id)?).await?;
        let mask: Vec<&str> = if body.update_mask.is_empty() {
            vec![
                "name",
                "description",
                "escalation_policy_id",
                "ack_timeout",
                "auto_resolve_after",
            ]
        } else {
            body.update_mask.iter().map(String::as_str).collect()
        };
        for (i, field) in mask.into_iter().enumerate() {
            match field {
                "name" => service.name = check_name(&body.name)?,
                "description" => service.description = body.description.clone(),
                "escalation_policy_id" => {
                    service.escalation_policy = self
                        .policy("escalation_policy_id", &body.escalation_policy_id)
                        .await?;
                }
                "ack_timeout" => {
                    service.ack_timeout =
                        optional_duration("ack_timeout", body.ack_timeout.as_ref())?;
                }
                "auto_resolve_after" => {
                    service.auto_resolve_after =
                        optional_duration("auto_resolve_after", body.auto_resolve_after.as_ref())?;
                }
                other => {
                    return Err(Status::invalid_argument(format!(
                        "update_mask[{i}]: unknown field {other:?}"
                    )));
                }
            }
        }
        service.updated_at = crate::clock::now();
        if !self
            .ctx
            .store
            .update_service(&service)
            .await
            .map_err(store_status)?
        {
            return Err(Status::not_found(format!(
                "service {} not found",
                service.id
            )));
        }
        Ok(Response::new(convert::service_to_pb(&service)))
    }

    async fn delete_service(
        &self,
        request: Request<pb::DeleteServiceRequest>,
    ) -> Result<Response<pb::DeleteServiceResponse>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        let open = self
            .ctx
            .store
            .count_open_alerts(id)
            .await
            .map_err(store_status)?;
        if open > 0 {
            return Err(Status::failed_precondition(format!(
                "service {id} has {open} open alerts; resolve them first"
            )));
        }
        if !self
            .ctx
            .store
            .delete_service(id)
            .await
            .map_err(store_status)?
        {
            return Err(Status::not_found(format!("service {id} not found")));
        }
        self.ctx.auth.forget_all();
        Ok(Response::new(pb::DeleteServiceResponse {}))
    }

    async fn create_integration_key(
        &self,
        request: Request<pb::CreateIntegrationKeyRequest>,
    ) -> Result<Response<pb::IntegrationKey>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let body = request.into_inner();
        let service = self
            .service(parse_id("service_id", &body.service_id)?)
            .await?;
        let name = check_name(&body.name)?;
        Ok(Response::new(self.issue_key(service.id, &name).await?))
    }

    async fn list_integration_keys(
        &self,
        request: Request<pb::ListIntegrationKeysRequest>,
    ) -> Result<Response<pb::ListIntegrationKeysResponse>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let service = self
            .service(parse_id("service_id", &request.get_ref().service_id)?)
            .await?;
        let keys = self
            .ctx
            .store
            .list_integration_keys(service.id)
            .await
            .map_err(store_status)?;
        Ok(Response::new(pb::ListIntegrationKeysResponse {
            keys: keys.iter().map(|k| convert::key_to_pb(k, None)).collect(),
        }))
    }

    async fn rotate_integration_key(
        &self,
        request: Request<pb::RotateIntegrationKeyRequest>,
    ) -> Result<Response<pb::IntegrationKey>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let body = request.into_inner();
        let old = self.key(parse_id("id", &body.id)?).await?;
        if old.revoked_at.is_some() {
            return Err(Status::failed_precondition(format!(
                "integration key {} is revoked; create a new one",
                old.id
            )));
        }
        let grace = match body.grace_period {
            None => DEFAULT_ROTATION_GRACE,
            Some(d) if d.seconds < 0 || d.nanos < 0 => {
                return Err(Status::invalid_argument(
                    "grace_period: must not be negative",
                ));
            }
            Some(d) => chrono::Duration::try_seconds(d.seconds)
                .ok_or_else(|| Status::invalid_argument("grace_period: too long"))?,
        };
        let fresh = self.issue_key(old.service_id, &old.name).await?;
        let ends = crate::clock::now() + grace;
        let ends = old.expires_at.map_or(ends, |e| e.min(ends));
        self.ctx
            .store
            .retire_integration_key(old.id, Some(ends), None)
            .await
            .map_err(store_status)?;
        self.ctx.auth.forget_all();
        Ok(Response::new(fresh))
    }

    async fn revoke_integration_key(
        &self,
        request: Request<pb::RevokeIntegrationKeyRequest>,
    ) -> Result<Response<pb::IntegrationKey>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        self.key(id).await?;
        self.ctx
            .store
            .retire_integration_key(id, None, Some(crate::clock::now()))
            .await
            .map_err(store_status)?;
        self.ctx.auth.forget_all();
        Ok(Response::new(convert::key_to_pb(
            &self.key(id).await?,
            None,
        )))
    }
}

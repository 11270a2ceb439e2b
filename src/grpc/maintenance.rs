//! `alerting.routing.v1.MaintenanceService`: windows are checked and compiled when saved
//! (a bad matcher or zone is INVALID_ARGUMENT naming the field) and swapped into the
//! window book that routing consults before its rules.

use prost::Message;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::pb::alerting::routing::v1 as pb;
use super::pb::alerting::routing::v1::maintenance_service_server::MaintenanceService;
use super::{Context, author, convert, invalid, next_token, page, parse_id, store_status};
use crate::books::WindowBook;
use crate::definitions::audit::check_result;
use crate::definitions::maintenance::{compile, decode};
use crate::domain::access::Action;
use crate::domain::maintenance::applicable;
use crate::store::{Kind, StoredDefinition};

pub struct MaintenanceApi {
    ctx: Context,
    windows: WindowBook,
}

impl MaintenanceApi {
    pub fn new(ctx: Context, windows: WindowBook) -> MaintenanceApi {
        MaintenanceApi { ctx, windows }
    }

    async fn stored(&self, id: Uuid) -> Result<StoredDefinition, Status> {
        self.ctx
            .store
            .get_definition(Kind::MaintenanceWindow, id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found(format!("maintenance window {id} not found")))
    }

    async fn all(&self) -> Result<Vec<pb::MaintenanceWindow>, Status> {
        self.ctx
            .store
            .list_definitions(Kind::MaintenanceWindow)
            .await
            .map_err(store_status)?
            .iter()
            .map(|stored| decode(stored).map_err(Status::from))
            .collect()
    }
}

#[tonic::async_trait]
impl MaintenanceService for MaintenanceApi {
    async fn create_maintenance_window(
        &self,
        request: Request<pb::CreateMaintenanceWindowRequest>,
    ) -> Result<Response<pb::MaintenanceWindow>, Status> {
        let principal = self.ctx.authorize(&request, Action::Respond).await?;
        let mut window = request
            .into_inner()
            .window
            .ok_or_else(|| invalid("window", "required"))?;
        let id = Uuid::new_v4();
        compile(&window, id)?;
        let now = crate::clock::now();
        window.id = id.to_string();
        window.created_by = author(&principal);
        window.created_at = Some(convert::timestamp(now));
        window.updated_at = window.created_at;
        self.ctx
            .store
            .insert_definition(
                Kind::MaintenanceWindow,
                &StoredDefinition {
                    id,
                    name: window.name.clone(),
                    body: window.encode_to_vec(),
                    created_at: now,
                    updated_at: now,
                },
            )
            .await
            .map_err(store_status)?;
        self.windows.reload().await.map_err(store_status)?;
        Ok(Response::new(window))
    }

    async fn get_maintenance_window(
        &self,
        request: Request<pb::GetMaintenanceWindowRequest>,
    ) -> Result<Response<pb::MaintenanceWindow>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(decode(&self.stored(id).await?)?))
    }

    async fn list_maintenance_windows(
        &self,
        request: Request<pb::ListMaintenanceWindowsRequest>,
    ) -> Result<Response<pb::ListMaintenanceWindowsResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let (limit, offset) = page("", body.page_size, &body.page_token)?;
        let all = self.all().await?;
        let total = all.len() as i64;
        let windows: Vec<_> = all
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .collect();
        Ok(Response::new(pb::ListMaintenanceWindowsResponse {
            next_page_token: next_token(offset, windows.len(), limit, total),
            windows,
            total_count: total as i32,
        }))
    }

    async fn update_maintenance_window(
        &self,
        request: Request<pb::UpdateMaintenanceWindowRequest>,
    ) -> Result<Response<pb::MaintenanceWindow>, Status> {
        self.ctx.authorize(&request, Action::Respond).await?;
        let mut window = request
            .into_inner()
            .window
            .ok_or_else(|| invalid("window", "required"))?;
        let id = parse_id("window.id", &window.id)?;
        let stored = self.stored(id).await?;
        let previous = decode(&stored)?;
        compile(&window, id)?;
        window.created_by = previous.created_by;
        window.created_at = previous.created_at;
        let now = crate::clock::now();
        window.updated_at = Some(convert::timestamp(now));
        self.ctx
            .store
            .update_definition(
                Kind::MaintenanceWindow,
                &StoredDefinition {
                    id,
                    name: window.name.clone(),
                    body: window.encode_to_vec(),
                    created_at: stored.created_at,
                    updated_at: now,
                },
            )
            .await
            .map_err(store_status)?;
        self.windows.reload().await.map_err(store_status)?;
        Ok(Response::new(window))
    }

    async fn delete_maintenance_window(
        &self,
        request: Request<pb::DeleteMaintenanceWindowRequest>,
    ) -> Result<Response<pb::DeleteMaintenanceWindowResponse>, Status> {
        self.ctx.authorize(&request, Action::Respond).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        if !self
            .ctx
            .store
            .delete_definition(Kind::MaintenanceWindow, id)
            .await
            .map_err(store_status)?
        {
            return Err(Status::not_found(format!(
                "maintenance window {id} not found"
            )));
        }
        self.windows.reload().await.map_err(store_status)?;
        Ok(Response::new(pb::DeleteMaintenanceWindowResponse {}))
    }

    async fn list_active_maintenance_windows(
        &self,
        request: Request<pb::ListActiveMaintenanceWindowsRequest>,
    ) -> Result<Response<pb::ListMaintenanceWindowsResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let now = match &request.get_ref().time {
            Some(t) => convert::instant("time", t)?,
            None => crate::clock::now(),
        };
        let active: Vec<Uuid> = self
            .windows
            .current()
            .iter()
            .filter(|w| w.active_at(now))
            .map(|w| w.id)
            .collect();
        let windows: Vec<_> = self
            .all()
            .await?
            .into_iter()
            .filter(|w| Uuid::parse_str(&w.id).is_ok_and(|id| active.contains(&id)))
            .collect();
        Ok(Response::new(pb::ListMaintenanceWindowsResponse {
            total_count: windows.len() as i32,
            windows,
            next_page_token: String::new(),
        }))
    }

    async fn check_alert_maintenance(
        &self,
        request: Request<pb::CheckAlertMaintenanceRequest>,
    ) -> Result<Response<pb::MaintenanceCheckResult>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let alert = body.alert.ok_or_else(|| invalid("alert", "required"))?;
        let now = match &body.time {
            Some(t) => convert::instant("time", t)?,
            None => crate::clock::now(),
        };
        let service = Uuid::parse_str(&alert.service_id).unwrap_or_default();
        let routed = super::routing::routed(&alert, &self.ctx.engine.enrichment().current())?;
        let windows = self.windows.current();
        Ok(Response::new(check_result(applicable(
            &windows, &routed, service, now,
        ))))
    }
}

//! `alerting.routing.v1.MaintenanceService`: windows are checked and compiled when saved
//! (a bad matcher or zone is INVALID_ARGUMENT naming the field) and swapped into the
//! window book that routing consults before its rules.

use std::sync::{Arc, RwLock};

use chrono::{Duration, NaiveTime, Utc};
use prost::Message;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::pb::alerting::routing::v1 as pb;
use super::pb::alerting::routing::v1::maintenance_service_server::MaintenanceService;
use super::{Context, author, convert, next_token, page, parse_id, store_status};
use crate::domain::access::Action;
use crate::domain::maintenance::{
    MaintenanceAction, MaintenanceWindow, Pattern, Recurrence, applicable,
};
use crate::domain::matcher::Matcher;
use crate::store::{Kind, Store, StoreError, StoredDefinition};

fn invalid(field: impl std::fmt::Display, reason: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {reason}"))
}

/// Checks a window as written and compiles it; errors name the field under `window`.
pub fn compile(window: &pb::MaintenanceWindow, id: Uuid) -> Result<MaintenanceWindow, Status> {
    if window.name.trim().is_empty() {
        return Err(invalid("window.name", "required"));
    }
    let starts_at = convert::instant(
        "window.start_time",
        window
            .start_time
            .as_ref()
            .ok_or_else(|| invalid("window.start_time", "required"))?,
    )?;
    let ends_at = window
        .end_time
        .as_ref()
        .map(|t| convert::instant("window.end_time", t))
        .transpose()?;
    if ends_at.is_some_and(|end| end <= starts_at) {
        return Err(invalid("window.end_time", "must be after the start"));
    }
    let action = match pb::MaintenanceAction::try_from(window.action) {
        Ok(pb::MaintenanceAction::Suppress) => MaintenanceAction::Suppress,
        Ok(pb::MaintenanceAction::Annotate) => MaintenanceAction::Annotate,
        Ok(pb::MaintenanceAction::ReduceSeverity) => MaintenanceAction::ReduceSeverity,
        _ => return Err(invalid("window.action", "required")),
    };
    let services = window
        .affected_services
        .iter()
        .enumerate()
        .map(|(i, s)| parse_id(&format!("window.affected_services[{i}]"), s))
        .collect::<Result<Vec<_>, _>>()?;
    let matchers = window
        .affected_labels
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Matcher::parse(m).map_err(|e| invalid(format!("window.affected_labels[{i}]"), e.reason))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let recurrence = window.recurrence.as_ref().map(recurrence).transpose()?;
    Ok(MaintenanceWindow {
        id,
        name: window.name.clone(),
        starts_at,
        ends_at,
        recurrence,
        sites: window.affected_sites.clone(),
        services,
        matchers,
        action,
    })
}

fn recurrence(r: &pb::MaintenanceRecurrence) -> Result<Recurrence, Status> {
    let at = "window.recurrence";
    let zone = r.timezone.parse().map_err(|_| {
        invalid(
            format!("{at}.timezone"),
            format!("not an IANA zone: {:?}", r.timezone),
        )
    })?;
    let pattern = match pb::RecurrenceFrequency::try_from(r.frequency) {
        Ok(pb::RecurrenceFrequency::Weekly) => {
            if r.days_of_week.is_empty() || r.days_of_week.iter().any(|d| !(0..=6).contains(d)) {
                return Err(invalid(
                    format!("{at}.days_of_week"),
                    "0 (Sunday) to 6, at least one",
                ));
            }
            Pattern::Weekly(r.days_of_week.iter().map(|d| *d as u8).collect())
        }
        Ok(pb::RecurrenceFrequency::Monthly) => {
            if r.days_of_month.is_empty() || r.days_of_month.iter().any(|d| !(1..=31).contains(d)) {
                return Err(invalid(
                    format!("{at}.days_of_month"),
                    "1 to 31, at least one",
                ));
            }
            Pattern::Monthly(r.days_of_month.iter().map(|d| *d as u32).collect())
        }
        _ => return Err(invalid(format!("{at}.frequency"), "required")),
    };
    let start = NaiveTime::parse_from_str(&r.start_time, "%H:%M").map_err(|_| {
        invalid(
            format!("{at}.start_time"),
            format!("{:?} is not HH:MM", r.start_time),
        )
    })?;
    let duration = r
        .duration
        .as_ref()
        .filter(|d| d.seconds > 0)
        .and_then(|d| Duration::try_seconds(d.seconds))
        .ok_or_else(|| invalid(format!("{at}.duration"), "must be positive"))?;
    Ok(Recurrence {
        zone,
        pattern,
        start,
        duration,
    })
}

fn decode(stored: &StoredDefinition) -> Result<pb::MaintenanceWindow, Status> {
    let mut window = pb::MaintenanceWindow::decode(stored.body.as_slice()).map_err(|e| {
        Status::data_loss(format!(
            "maintenance window {} is unreadable: {e}",
            stored.id
        ))
    })?;
    window.id = stored.id.to_string();
    Ok(window)
}

/// The compiled windows routing consults, rebuilt and swapped when a window changes.
#[derive(Clone)]
pub struct WindowBook {
    store: Arc<dyn Store>,
    current: Arc<RwLock<Arc<Vec<MaintenanceWindow>>>>,
    changed: Arc<tokio::sync::Notify>,
}

impl WindowBook {
    pub async fn load(store: Arc<dyn Store>) -> Result<WindowBook, StoreError> {
        let book = WindowBook {
            store,
            current: Arc::default(),
            changed: Arc::default(),
        };
        book.reload().await?;
        Ok(book)
    }

    pub fn current(&self) -> Arc<Vec<MaintenanceWindow>> {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub async fn reload(&self) -> Result<(), StoreError> {
        let mut windows = Vec::new();
        for stored in self.store.list_definitions(Kind::MaintenanceWindow).await? {
            match decode(&stored).and_then(|w| compile(&w, stored.id)) {
                Ok(window) => windows.push(window),
                Err(why) => {
                    tracing::error!(window = %stored.id, %why, "maintenance window skipped")
                }
            }
        }
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(windows);
        }
        self.changed.notify_waiters();
        Ok(())
    }

    /// Resolves the next time the windows change.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// What a check found, for the wire.
pub fn check_result(window: Option<&MaintenanceWindow>) -> pb::MaintenanceCheckResult {
    match window {
        None => pb::MaintenanceCheckResult::default(),
        Some(w) => pb::MaintenanceCheckResult {
            in_maintenance: true,
            window_id: w.id.to_string(),
            window_name: w.name.clone(),
            action: match w.action {
                MaintenanceAction::Suppress => pb::MaintenanceAction::Suppress,
                MaintenanceAction::Annotate => pb::MaintenanceAction::Annotate,
                MaintenanceAction::ReduceSeverity => pb::MaintenanceAction::ReduceSeverity,
            } as i32,
        },
    }
}

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
            .map(decode)
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
        let now = Utc::now();
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
        let now = Utc::now();
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
            None => Utc::now(),
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
            None => Utc::now(),
        };
        let service = Uuid::parse_str(&alert.service_id).unwrap_or_default();
        let routed = super::routing::routed(&alert, &self.ctx.engine.enrichment().current())?;
        let windows = self.windows.current();
        Ok(Response::new(check_result(applicable(
            &windows, &routed, service, now,
        ))))
    }
}

//! The gRPC edge (tonic): parse, authenticate, validate, convert, hand to the engine or
//! the store, and map errors to status codes. No business rules live here.

mod alerts;
pub mod carriers;
mod catalog;
pub mod contact_methods;
pub mod convert;
pub mod customer_tiers;
pub mod equipment_types;
pub mod escalation;
pub mod inhibition;
mod listing;
pub mod maintenance;
pub mod notifications;
pub mod reference;
pub mod routing;
pub mod routing_defaults;
pub mod schedules;
pub mod sites;
pub mod teams;
pub mod templates;
mod users;

use std::sync::Arc;

use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

use crate::actors::{Engine, EngineError};
use crate::auth::{AuthError, Authenticator};
use crate::definitions::{Invalid, LoadError};
use crate::domain::access::{self, Action, Principal};
use crate::domain::incoming::{AlertLimits, AlertProblem};
use crate::flood_guard::FloodGuard;
use crate::pb;
use crate::store::{Store, StoreError};

pub use alerts::AlertApi;
pub use carriers::CarrierApi;
pub use catalog::CatalogApi;
pub use customer_tiers::CustomerTierApi;
pub use equipment_types::EquipmentTypeApi;
pub use escalation::EscalationApi;
pub use maintenance::MaintenanceApi;
pub use notifications::NotificationApi;
pub use routing::RoutingApi;
pub use schedules::ScheduleApi;
pub use sites::SiteApi;
pub use teams::TeamApi;
pub use templates::TemplateApi;
pub use users::{UserApi, issue_token};

/// What every service needs.
#[derive(Clone)]
pub struct Context {
    pub engine: Engine,
    pub store: Arc<dyn Store>,
    pub auth: Authenticator,
    pub limits: AlertLimits,
    pub flood_guard: Arc<FloodGuard>,
    /// Escalation chains: EscalateAlert moves them, StartEscalation starts them.
    pub escalations: crate::actors::escalation::EscalationActors,
    /// Cancelled at shutdown: long-lived streams end so the server can stop.
    pub shutdown: tokio_util::sync::CancellationToken,
}

impl Context {
    /// Checks the bearer and that its holder may do `action`.
    pub async fn authorize<T>(
        &self,
        request: &Request<T>,
        action: Action,
    ) -> Result<Principal, Status> {
        let principal = self
            .auth
            .authenticate(bearer(request.metadata())?)
            .await
            .map_err(auth_status)?;
        access::authorize(&principal, action)
            .map_err(|e| Status::permission_denied(e.to_string()))?;
        Ok(principal)
    }
}

/// Who to record as the author of a change.
pub fn author(principal: &Principal) -> String {
    match principal {
        Principal::User { user_id, .. } => user_id.to_string(),
        Principal::Integration { key_id, .. } => key_id.to_string(),
    }
}

fn bearer(metadata: &MetadataMap) -> Result<&str, Status> {
    let missing = || Status::unauthenticated(AuthError::Missing.to_string());
    let value = metadata
        .get("authorization")
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(missing)
}

pub fn auth_status(error: AuthError) -> Status {
    match error {
        AuthError::Missing | AuthError::Invalid => Status::unauthenticated(error.to_string()),
        AuthError::Store(e) => store_status(e),
    }
}

pub fn store_status(error: StoreError) -> Status {
    match error {
        StoreError::Conflict(what) => Status::already_exists(format!("{what} already exists")),
        other => {
            tracing::error!(error = %other, "store error");
            Status::unavailable(format!("storage unavailable: {other}"))
        }
    }
}

pub fn engine_status(error: EngineError) -> Status {
    match error {
        EngineError::Overloaded => Status::resource_exhausted(error.to_string()),
        EngineError::AlertNotFound(_) => Status::not_found(error.to_string()),
        EngineError::Lifecycle(_) => Status::failed_precondition(error.to_string()),
        EngineError::Store(e) => store_status(e),
        EngineError::Commit(_) | EngineError::Unavailable(_) => {
            Status::unavailable(error.to_string())
        }
    }
}

/// A definition as written is wrong: INVALID_ARGUMENT naming the fields at fault. The
/// one place field problems become a status.
impl From<Invalid> for Status {
    fn from(invalid: Invalid) -> Status {
        Status::invalid_argument(invalid.to_string())
    }
}

impl From<LoadError> for Status {
    fn from(error: LoadError) -> Status {
        match error {
            LoadError::NotFound { .. } => Status::not_found(error.to_string()),
            LoadError::Unreadable { .. } => Status::data_loss(error.to_string()),
            LoadError::Invalid(invalid) => invalid.into(),
            LoadError::Store(error) => store_status(error),
        }
    }
}

/// One field at fault: INVALID_ARGUMENT naming it.
pub fn invalid(field: impl std::fmt::Display, reason: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {reason}"))
}

pub fn problem_status(problem: AlertProblem) -> Status {
    Status::invalid_argument(problem.to_string())
}

/// A required id field, parsed; the field's name is in the error.
pub fn parse_id(field: &str, value: &str) -> Result<uuid::Uuid, Status> {
    if value.is_empty() {
        return Err(Status::invalid_argument(format!("{field}: required")));
    }
    uuid::Uuid::parse_str(value)
        .map_err(|_| Status::invalid_argument(format!("{field}: not a UUID: {value:?}")))
}

/// An optional webhook URL: empty, or http(s).
pub fn check_optional_url(field: &str, url: &str) -> Result<(), Status> {
    if url.is_empty() || url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "{field}: must be an http(s) URL"
        )))
    }
}

/// Offset paging: the token is the offset of the next page.
pub fn page(field_prefix: &str, size: i32, token: &str) -> Result<(i64, i64), Status> {
    if size < 0 {
        return Err(Status::invalid_argument(format!(
            "{field_prefix}page_size: must not be negative"
        )));
    }
    let limit = if size == 0 {
        50
    } else {
        i64::from(size.min(1000))
    };
    let offset = if token.is_empty() {
        0
    } else {
        token
            .parse::<i64>()
            .ok()
            .filter(|o| *o >= 0)
            .ok_or_else(|| {
                Status::invalid_argument(format!("{field_prefix}page_token: not a token we issued"))
            })?
    };
    Ok((limit, offset))
}

/// The token for the page after one that started at `offset` with `returned` items.
pub fn next_token(offset: i64, returned: usize, limit: i64, total: i64) -> String {
    let next = offset + returned as i64;
    if returned as i64 == limit && next < total {
        next.to_string()
    } else {
        String::new()
    }
}

//! Default routing on `alerting.routing.v1.RoutingService`: the actions that run when no
//! rule matches, kept as one settings document and swapped into the rule book with the
//! rules, so a decision sees rules and defaults from the same moment.

use chrono::Utc;
use prost::Message;
use tonic::{Request, Response, Status};

use super::pb::alerting::routing::v1 as pb;
use super::routing::check_action;
use super::{Context, author, convert, store_status};
use crate::domain::access::Action;
use crate::domain::routing::Defaults;
use crate::domain::severity::Severity;
use crate::rulebook::RuleBook;

/// The settings document the defaults are stored as.
pub const DOCUMENT: &str = "routing_defaults";

/// Checks defaults as written and compiles them; errors name the field under `defaults`.
pub fn compile(defaults: &pb::DefaultRouting) -> Result<Defaults<pb::RoutingAction>, Status> {
    for (i, action) in defaults.actions.iter().enumerate() {
        check_action(action, &format!("defaults.actions[{i}]"))?;
    }
    let minimum_severity =
        convert::severity_from_pb("defaults.minimum_severity", defaults.minimum_severity)?
            .unwrap_or(Severity::Info);
    Ok(Defaults {
        actions: defaults.actions.clone(),
        minimum_severity,
    })
}

/// The saved defaults, or none (nothing runs when no rule matches).
pub fn decode(body: Option<&[u8]>) -> Result<pb::DefaultRouting, String> {
    body.map_or(Ok(pb::DefaultRouting::default()), |b| {
        pb::DefaultRouting::decode(b).map_err(|e| format!("routing defaults are unreadable: {e}"))
    })
}

/// The default-routing RPCs; `RoutingApi` hands them here.
pub struct DefaultsApi {
    pub ctx: Context,
    pub rules: RuleBook,
}

impl DefaultsApi {
    pub async fn get(
        &self,
        request: Request<pb::GetDefaultRoutingRequest>,
    ) -> Result<Response<pb::DefaultRouting>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = self
            .ctx
            .store
            .get_document(DOCUMENT)
            .await
            .map_err(store_status)?;
        decode(body.as_deref())
            .map(Response::new)
            .map_err(Status::data_loss)
    }

    pub async fn update(
        &self,
        request: Request<pb::UpdateDefaultRoutingRequest>,
    ) -> Result<Response<pb::DefaultRouting>, Status> {
        let principal = self.ctx.authorize(&request, Action::Administer).await?;
        let mut defaults = request.into_inner().defaults.unwrap_or_default();
        compile(&defaults)?;
        let now = Utc::now();
        defaults.updated_by = author(&principal);
        defaults.updated_at = Some(convert::timestamp(now));
        self.ctx
            .store
            .put_document(DOCUMENT, &defaults.encode_to_vec(), now)
            .await
            .map_err(store_status)?;
        self.rules.reload().await.map_err(store_status)?;
        Ok(Response::new(defaults))
    }
}

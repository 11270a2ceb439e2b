//! Default routing on `alerting.routing.v1.RoutingService`: the actions that run when no
//! rule matches, kept as one settings document and swapped into the rule book with the
//! rules, so a decision sees rules and defaults from the same moment.

use prost::Message;
use tonic::{Request, Response, Status};

use super::pb::alerting::routing::v1 as pb;
use super::{Context, author, convert, store_status};
use crate::books::rules::RuleBook;
use crate::definitions::routing_defaults::{DOCUMENT, compile, decode};
use crate::domain::access::Action;

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
        let now = crate::clock::now();
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

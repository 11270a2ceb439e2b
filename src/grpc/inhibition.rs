//! Inhibition rules on `alerting.routing.v1.RoutingService`: checked and compiled when
//! saved (a bad matcher is INVALID_ARGUMENT naming it), stored in their wire form, and
//! swapped into the inhibition book that routing consults after maintenance.

use prost::Message;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::pb::alerting::routing::v1 as pb;
use super::{Context, author, convert, invalid, parse_id, store_status};
use crate::books::inhibitions::InhibitionBook;
use crate::definitions::inhibition::{compile, decode};
use crate::domain::access::Action;
use crate::store::{Kind, StoredDefinition};

/// The inhibition RPCs; `RoutingApi` hands them here.
pub struct InhibitionApi {
    pub ctx: Context,
    pub book: InhibitionBook,
}

impl InhibitionApi {
    pub async fn create(
        &self,
        request: Request<pb::CreateInhibitionRuleRequest>,
    ) -> Result<Response<pb::InhibitionRule>, Status> {
        let principal = self.ctx.authorize(&request, Action::Administer).await?;
        let mut rule = request
            .into_inner()
            .rule
            .ok_or_else(|| invalid("rule", "required"))?;
        let id = Uuid::new_v4();
        compile(&rule, id)?;
        let now = crate::clock::now();
        rule.id = id.to_string();
        rule.created_by = author(&principal);
        rule.created_at = Some(convert::timestamp(now));
        let stored = StoredDefinition {
            id,
            name: rule.name.clone(),
            body: rule.encode_to_vec(),
            created_at: now,
            updated_at: now,
        };
        self.ctx
            .store
            .insert_definition(Kind::InhibitionRule, &stored)
            .await
            .map_err(store_status)?;
        self.book.reload().await.map_err(store_status)?;
        Ok(Response::new(rule))
    }

    pub async fn list(
        &self,
        request: Request<pb::ListInhibitionRulesRequest>,
    ) -> Result<Response<pb::ListInhibitionRulesResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let rules = self
            .ctx
            .store
            .list_definitions(Kind::InhibitionRule)
            .await
            .map_err(store_status)?
            .iter()
            .map(decode)
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListInhibitionRulesResponse { rules }))
    }

    pub async fn delete(
        &self,
        request: Request<pb::DeleteInhibitionRuleRequest>,
    ) -> Result<Response<pb::DeleteInhibitionRuleResponse>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        if !self
            .ctx
            .store
            .delete_definition(Kind::InhibitionRule, id)
            .await
            .map_err(store_status)?
        {
            return Err(Status::not_found(format!("inhibition rule {id} not found")));
        }
        self.book.reload().await.map_err(store_status)?;
        Ok(Response::new(pb::DeleteInhibitionRuleResponse {}))
    }
}

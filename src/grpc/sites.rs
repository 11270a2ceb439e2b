//! `alerting.routing.v1.SiteService`: sites and POPs, found by id or by code. A site is
//! compiled (zone, business hours, device patterns) exactly as enrichment uses it before
//! it is stored.

use prost_types::Timestamp;
use tonic::{Request, Response, Status};

use super::listing::page_of;
use super::page;
use super::pb::alerting::routing::v1 as pb;
use super::pb::alerting::routing::v1::site_service_server::SiteService;
use super::reference::{Reference, Registry};
use crate::definitions::site::compile;
use crate::domain::access::Action;

impl Reference for pb::Site {
    const FIELD: &'static str = "site";
    const KEY: &'static str = "code";

    fn id(&self) -> &str {
        &self.id
    }

    /// Codes are upper case; an unset tier is 3 (standard), an unset zone UTC.
    fn normalise(&mut self) -> Result<(), Status> {
        self.code = self.code.trim().to_uppercase();
        if self.tier == 0 {
            self.tier = 3;
        }
        if self.timezone.is_empty() {
            self.timezone = "UTC".into();
        }
        compile(self).map(drop).map_err(Status::from)
    }

    fn key(&self) -> String {
        self.code.to_lowercase()
    }

    fn teams(&self) -> Vec<(String, &str)> {
        vec![
            ("site.primary_team_id".into(), &self.primary_team_id),
            ("site.secondary_team_id".into(), &self.secondary_team_id),
        ]
    }

    fn policies(&self) -> Vec<(String, &str)> {
        vec![(
            "site.escalation_policy_id".into(),
            &self.escalation_policy_id,
        )]
    }

    fn stamp(&mut self, created: Timestamp, updated: Timestamp) {
        self.created_at = Some(created);
        self.updated_at = Some(updated);
    }
}

pub struct SiteApi {
    sites: Registry<pb::Site>,
}

impl SiteApi {
    pub fn new(ctx: super::Context) -> SiteApi {
        SiteApi {
            sites: Registry::new(ctx),
        }
    }

    async fn authorize<T>(&self, request: &Request<T>, action: Action) -> Result<(), Status> {
        self.sites
            .context()
            .authorize(request, action)
            .await
            .map(drop)
    }
}

#[tonic::async_trait]
impl SiteService for SiteApi {
    async fn create_site(
        &self,
        request: Request<pb::CreateSiteRequest>,
    ) -> Result<Response<pb::Site>, Status> {
        self.authorize(&request, Action::Administer).await?;
        Ok(Response::new(
            self.sites.create(request.into_inner().site).await?,
        ))
    }

    async fn get_site(
        &self,
        request: Request<pb::GetSiteRequest>,
    ) -> Result<Response<pb::Site>, Status> {
        self.authorize(&request, Action::Read).await?;
        Ok(Response::new(self.sites.get(&request.get_ref().id).await?))
    }

    async fn get_site_by_code(
        &self,
        request: Request<pb::GetSiteByCodeRequest>,
    ) -> Result<Response<pb::Site>, Status> {
        self.authorize(&request, Action::Read).await?;
        Ok(Response::new(
            self.sites.by_key("code", &request.get_ref().code).await?,
        ))
    }

    async fn list_sites(
        &self,
        request: Request<pb::ListSitesRequest>,
    ) -> Result<Response<pb::ListSitesResponse>, Status> {
        self.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let (limit, offset) = page("", body.page_size, &body.page_token)?;
        let matching: Vec<pb::Site> = self
            .sites
            .list()
            .await?
            .into_iter()
            .filter(|s| body.r#type == 0 || s.r#type == body.r#type)
            .filter(|s| body.region.is_empty() || s.region.eq_ignore_ascii_case(&body.region))
            .collect();
        let (sites, next_page_token, total_count) = page_of(matching, limit, offset);
        Ok(Response::new(pb::ListSitesResponse {
            sites,
            next_page_token,
            total_count,
        }))
    }

    async fn update_site(
        &self,
        request: Request<pb::UpdateSiteRequest>,
    ) -> Result<Response<pb::Site>, Status> {
        self.authorize(&request, Action::Administer).await?;
        Ok(Response::new(
            self.sites.update(request.into_inner().site).await?,
        ))
    }

    async fn delete_site(
        &self,
        request: Request<pb::DeleteSiteRequest>,
    ) -> Result<Response<pb::DeleteSiteResponse>, Status> {
        self.authorize(&request, Action::Administer).await?;
        self.sites.delete(&request.get_ref().id).await?;
        Ok(Response::new(pb::DeleteSiteResponse {}))
    }
}

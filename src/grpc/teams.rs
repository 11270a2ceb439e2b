//! `alerting.routing.v1.TeamService`: teams, their members and roles, the sites, POPs and
//! services they look after, and their NOC tier. A team is checked when saved: its
//! users and services must exist, its webhook must be an http(s) URL.

use chrono::Utc;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::listing::page_of;
use super::pb::alerting::routing::v1 as pb;
use super::pb::alerting::routing::v1::team_service_server::TeamService;
use super::{Context, check_optional_url, convert, invalid, page, parse_id, store_status};
use crate::definitions::Definitions;
use crate::domain::access::Action;

pub struct TeamApi {
    ctx: Context,
    teams: Definitions<pb::Team>,
}

impl TeamApi {
    pub fn new(ctx: Context) -> TeamApi {
        TeamApi {
            teams: Definitions::new(ctx.store.clone()),
            ctx,
        }
    }

    /// Checks a team as written, with every reference; errors name the field.
    async fn check(&self, team: &mut pb::Team) -> Result<(), Status> {
        if team.name.trim().is_empty() {
            return Err(invalid("team.name", "required"));
        }
        check_optional_url("team.webhook_url", &team.webhook_url)?;
        if !team.default_escalation_policy_id.is_empty() {
            let field = "team.default_escalation_policy_id";
            let id = parse_id(field, &team.default_escalation_policy_id)?;
            let policies: Definitions<pb::EscalationPolicy> =
                Definitions::new(self.ctx.store.clone());
            if policies.find(id).await?.is_none() {
                return Err(invalid(field, "no such escalation policy"));
            }
        }
        pb::NocTier::try_from(team.tier).map_err(|_| invalid("team.tier", "unknown tier"))?;
        let mut seen = Vec::new();
        for (i, member) in team.members.iter_mut().enumerate() {
            let at = format!("team.members[{i}]");
            let user = self.user(&format!("{at}.user_id"), &member.user_id).await?;
            if seen.contains(&user) {
                return Err(invalid(format!("{at}.user_id"), "listed twice"));
            }
            seen.push(user);
            member.role = role(&at, member.role)? as i32;
        }
        for (i, service) in team.service_ids.iter().enumerate() {
            let field = format!("team.service_ids[{i}]");
            let id = parse_id(&field, service)?;
            if self
                .ctx
                .store
                .get_service(id)
                .await
                .map_err(store_status)?
                .is_none()
            {
                return Err(invalid(field, "no such service"));
            }
        }
        Ok(())
    }

    async fn user(&self, field: &str, id: &str) -> Result<Uuid, Status> {
        let id = parse_id(field, id)?;
        match self.ctx.store.get_user(id).await.map_err(store_status)? {
            Some(_) => Ok(id),
            None => Err(invalid(field, "no such user")),
        }
    }

    async fn unique_name(&self, team: &pb::Team) -> Result<(), Status> {
        let taken = self
            .teams
            .list()
            .await?
            .iter()
            .any(|t| t.name == team.name && t.id != team.id);
        if taken {
            return Err(Status::already_exists(format!(
                "a team named {:?} already exists",
                team.name
            )));
        }
        Ok(())
    }

    async fn save(
        &self,
        mut team: pb::Team,
        created: chrono::DateTime<Utc>,
    ) -> Result<pb::Team, Status> {
        let id = parse_id("team.id", &team.id)?;
        let now = crate::clock::now();
        team.updated_at = Some(convert::timestamp(now));
        self.teams.update(id, &team, created, now).await?;
        Ok(team)
    }
}

/// A member's role; unspecified means a plain member.
fn role(at: &str, value: i32) -> Result<pb::TeamRole, Status> {
    match pb::TeamRole::try_from(value) {
        Ok(pb::TeamRole::Unspecified) => Ok(pb::TeamRole::Member),
        Ok(role) => Ok(role),
        Err(_) => Err(invalid(format!("{at}.role"), "unknown role")),
    }
}

#[tonic::async_trait]
impl TeamService for TeamApi {
    async fn create_team(
        &self,
        request: Request<pb::CreateTeamRequest>,
    ) -> Result<Response<pb::Team>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let mut team = request
            .into_inner()
            .team
            .ok_or_else(|| invalid("team", "required"))?;
        self.check(&mut team).await?;
        let id = Uuid::new_v4();
        team.id = id.to_string();
        self.unique_name(&team).await?;
        let now = crate::clock::now();
        team.created_at = Some(convert::timestamp(now));
        team.updated_at = team.created_at;
        self.teams.insert(id, &team, now).await?;
        Ok(Response::new(team))
    }

    async fn get_team(
        &self,
        request: Request<pb::GetTeamRequest>,
    ) -> Result<Response<pb::Team>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(self.teams.get(id).await?.0))
    }

    async fn list_teams(
        &self,
        request: Request<pb::ListTeamsRequest>,
    ) -> Result<Response<pb::ListTeamsResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let (limit, offset) = page("", body.page_size, &body.page_token)?;
        let needle = body.name_contains.to_lowercase();
        let matching: Vec<pb::Team> = self
            .teams
            .list()
            .await?
            .into_iter()
            .filter(|t| needle.is_empty() || t.name.to_lowercase().contains(&needle))
            .filter(|t| body.tier == 0 || t.tier == body.tier)
            .collect();
        let (teams, next_page_token, total_count) = page_of(matching, limit, offset);
        Ok(Response::new(pb::ListTeamsResponse {
            teams,
            next_page_token,
            total_count,
        }))
    }

    async fn update_team(
        &self,
        request: Request<pb::UpdateTeamRequest>,
    ) -> Result<Response<pb::Team>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let body = request.into_inner();
        let given = body.team.ok_or_else(|| invalid("team", "required"))?;
        let id = parse_id("team.id", &given.id)?;
        let (mut team, created) = self.teams.get(id).await?;
        let all = [
            "name",
            "description",
            "tier",
            "sites",
            "pops",
            "service_ids",
            "webhook_url",
            "default_escalation_policy_id",
        ];
        let mask: Vec<&str> = if body.update_mask.is_empty() {
            all.to_vec()
        } else {
            body.update_mask.iter().map(String::as_str).collect()
        };
        for (i, field) in mask.iter().enumerate() {
            match *field {
                "name" => team.name = given.name.clone(),
                "description" => team.description = given.description.clone(),
                "tier" => team.tier = given.tier,
                "sites" => team.sites = given.sites.clone(),
                "pops" => team.pops = given.pops.clone(),
                "service_ids" => team.service_ids = given.service_ids.clone(),
                "webhook_url" => team.webhook_url = given.webhook_url.clone(),
                "default_escalation_policy_id" => {
                    team.default_escalation_policy_id = given.default_escalation_policy_id.clone();
                }
                "members" => team.members = given.members.clone(),
                other => {
                    return Err(invalid(
                        format!("update_mask[{i}]"),
                        format!("unknown field {other:?}"),
                    ));
                }
            }
        }
        self.check(&mut team).await?;
        self.unique_name(&team).await?;
        Ok(Response::new(self.save(team, created).await?))
    }

    async fn delete_team(
        &self,
        request: Request<pb::DeleteTeamRequest>,
    ) -> Result<Response<pb::DeleteTeamResponse>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        self.teams.delete(id).await?;
        Ok(Response::new(pb::DeleteTeamResponse {}))
    }

    async fn add_team_member(
        &self,
        request: Request<pb::AddTeamMemberRequest>,
    ) -> Result<Response<pb::Team>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let body = request.into_inner();
        let id = parse_id("team_id", &body.team_id)?;
        let mut member = body.member.ok_or_else(|| invalid("member", "required"))?;
        self.user("member.user_id", &member.user_id).await?;
        member.role = role("member", member.role)? as i32;
        let (mut team, created) = self.teams.get(id).await?;
        if team.members.iter().any(|m| m.user_id == member.user_id) {
            return Err(Status::already_exists(format!(
                "user {} is already a member of team {id}",
                member.user_id
            )));
        }
        team.members.push(member);
        Ok(Response::new(self.save(team, created).await?))
    }

    async fn remove_team_member(
        &self,
        request: Request<pb::RemoveTeamMemberRequest>,
    ) -> Result<Response<pb::Team>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let body = request.into_inner();
        let id = parse_id("team_id", &body.team_id)?;
        parse_id("user_id", &body.user_id)?;
        let (mut team, created) = self.teams.get(id).await?;
        let before = team.members.len();
        team.members.retain(|m| m.user_id != body.user_id);
        if team.members.len() == before {
            return Err(Status::not_found(format!(
                "user {} is not a member of team {id}",
                body.user_id
            )));
        }
        Ok(Response::new(self.save(team, created).await?))
    }

    async fn update_team_member(
        &self,
        request: Request<pb::UpdateTeamMemberRequest>,
    ) -> Result<Response<pb::Team>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let body = request.into_inner();
        let id = parse_id("team_id", &body.team_id)?;
        let given = body.member.ok_or_else(|| invalid("member", "required"))?;
        parse_id("member.user_id", &given.user_id)?;
        let new_role = role("member", given.role)?;
        let (mut team, created) = self.teams.get(id).await?;
        let member = team
            .members
            .iter_mut()
            .find(|m| m.user_id == given.user_id)
            .ok_or_else(|| {
                Status::not_found(format!(
                    "user {} is not a member of team {id}",
                    given.user_id
                ))
            })?;
        member.role = new_role as i32;
        Ok(Response::new(self.save(team, created).await?))
    }

    async fn get_user_teams(
        &self,
        request: Request<pb::GetUserTeamsRequest>,
    ) -> Result<Response<pb::GetUserTeamsResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let user = parse_id("user_id", &request.get_ref().user_id)?.to_string();
        let teams = self
            .teams
            .list()
            .await?
            .into_iter()
            .filter(|t| t.members.iter().any(|m| m.user_id == user))
            .collect();
        Ok(Response::new(pb::GetUserTeamsResponse { teams }))
    }
}

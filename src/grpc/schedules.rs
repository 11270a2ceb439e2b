//! `alerting.routing.v1.ScheduleService`: schedules with their rotations and overrides,
//! checked and compiled when saved (every problem named by its field), answered by the
//! pure maths in `domain::schedule`, and handed to the schedule actors when they change.
//!
//! Over 600 lines on purpose: the service has seventeen RPCs (schedules, overrides,
//! who is on call, shifts, gaps, handoffs and their acknowledgement), each a short
//! handler over the shared loading and reference checks at the top; the rules they
//! apply live in `definitions::schedule` and `domain::schedule`.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::listing::page_of;
use super::pb::alerting::routing::v1 as pb;
use super::pb::alerting::routing::v1::schedule_service_server::ScheduleService;
use super::{Context, author, convert, invalid, page, parse_id, store_status};
use crate::actors::schedule::ScheduleActors;
use crate::definitions::Definitions;
use crate::definitions::schedule::{compile, override_input};
use crate::domain::access::{self, Action, Owned};
use crate::domain::alert::Alert;
use crate::domain::schedule::{
    Handoff, RangeError, Schedule, Shift, ShiftSource, validate_override,
};
use crate::handoff_summary::{HandoffSummary, summarize};
use crate::store::{HandoffEvent, Store, StoreError, StoredHandoff};

/// Default span of ListUpcomingShifts.
const DEFAULT_SPAN: TimeDelta = TimeDelta::days(14);

pub fn shift_to_pb(shift: &Shift) -> pb::Shift {
    pb::Shift {
        rotation_id: shift.rotation_id.map(|r| r.to_string()).unwrap_or_default(),
        override_id: shift.override_id.map(|o| o.to_string()).unwrap_or_default(),
        user_id: shift.user_id.to_string(),
        level: i32::try_from(shift.level).unwrap_or(i32::MAX),
        start_time: Some(convert::timestamp(shift.start)),
        end_time: Some(convert::timestamp(shift.end)),
        source: match shift.source {
            ShiftSource::Rotation => pb::ShiftSource::Rotation,
            ShiftSource::Override => pb::ShiftSource::Override,
        } as i32,
    }
}

fn planned_handoff_to_pb(schedule_id: Uuid, handoff: &Handoff) -> pb::Handoff {
    pb::Handoff {
        schedule_id: schedule_id.to_string(),
        rotation_id: handoff.rotation_id.to_string(),
        level: i32::try_from(handoff.level).unwrap_or(i32::MAX),
        at: Some(convert::timestamp(handoff.at)),
        outgoing_user_id: handoff.outgoing_user_id.to_string(),
        incoming_user_id: handoff.incoming_user_id.to_string(),
        ..pb::Handoff::default()
    }
}

/// A recorded handoff with what was sent about it.
pub async fn handoff_with_events(
    store: &dyn Store,
    handoff: &StoredHandoff,
) -> Result<pb::Handoff, Status> {
    let events = store
        .handoff_events(handoff.id)
        .await
        .map_err(store_status)?;
    Ok(handoff_to_pb(handoff, &events))
}

pub fn handoff_to_pb(handoff: &StoredHandoff, events: &[HandoffEvent]) -> pb::Handoff {
    pb::Handoff {
        id: handoff.id.to_string(),
        schedule_id: handoff.schedule_id.to_string(),
        rotation_id: handoff.rotation_id.to_string(),
        level: handoff.level,
        at: Some(convert::timestamp(handoff.at)),
        outgoing_user_id: handoff.outgoing_user_id.to_string(),
        incoming_user_id: handoff.incoming_user_id.to_string(),
        awaiting_ack: handoff.require_ack && handoff.acknowledged_at.is_none(),
        acknowledged_at: convert::opt_timestamp(handoff.acknowledged_at),
        acknowledged_by: handoff.acknowledged_by.clone().unwrap_or_default(),
        escalated_at: convert::opt_timestamp(handoff.escalated_at),
        events: events
            .iter()
            .map(|e| pb::HandoffEvent {
                kind: e.kind.clone(),
                at: Some(convert::timestamp(e.at)),
                detail: e.detail.clone(),
            })
            .collect(),
    }
}

/// Outgoing users kept on call at `at` because the handoff to their successor awaits
/// its acknowledgement: (level, user).
pub async fn held_over(
    store: &dyn Store,
    schedule_id: Uuid,
    at: DateTime<Utc>,
) -> Result<Vec<(u32, Uuid)>, StoreError> {
    Ok(store
        .list_handoffs(schedule_id, 100)
        .await?
        .into_iter()
        .filter(|h| h.require_ack && h.at <= at && h.acknowledged_at.is_none_or(|a| at < a))
        .map(|h| (u32::try_from(h.level).unwrap_or(1), h.outgoing_user_id))
        .collect())
}

fn alert_to_summary(alert: &Alert) -> pb::HandoffAlert {
    pb::HandoffAlert {
        id: alert.id.to_string(),
        number: alert.number,
        summary: alert.summary.clone(),
        severity: alert.severity.as_str().to_string(),
        status: alert.status.as_str().to_string(),
        triggered_at: Some(convert::timestamp(alert.triggered_at)),
    }
}

/// A handoff's summary on the wire.
async fn summary_to_pb(
    store: &Arc<dyn Store>,
    summary: HandoffSummary,
    handoff: &StoredHandoff,
) -> Result<pb::HandoffSummary, Status> {
    Ok(pb::HandoffSummary {
        handoff: Some(handoff_with_events(&**store, handoff).await?),
        open_alerts: summary.open_alerts.iter().map(alert_to_summary).collect(),
        shift_alerts: summary.shift_alerts.iter().map(alert_to_summary).collect(),
        shift_start: convert::opt_timestamp(summary.shift_start),
    })
}

fn range_status(error: RangeError) -> Status {
    Status::invalid_argument(format!("end_time: {error}"))
}

pub struct ScheduleApi {
    ctx: Context,
    schedules: Definitions<pb::Schedule>,
    actors: ScheduleActors,
}

impl ScheduleApi {
    pub fn new(ctx: Context, actors: ScheduleActors) -> ScheduleApi {
        ScheduleApi {
            schedules: Definitions::new(ctx.store.clone()),
            ctx,
            actors,
        }
    }

    /// The schedule, when it was created, and its compiled form.
    async fn load(&self, id: Uuid) -> Result<(pb::Schedule, DateTime<Utc>, Schedule), Status> {
        let (schedule, created) = self.schedules.get(id).await?;
        let compiled = compile(&schedule)
            .map_err(|e| Status::data_loss(format!("schedule {id} no longer compiles: {e}")))?;
        Ok((schedule, created, compiled))
    }

    /// Checks every user and the team a schedule names exist.
    async fn check_references(&self, schedule: &pb::Schedule) -> Result<(), Status> {
        let mut users: BTreeSet<(String, String)> = BTreeSet::new();
        for (i, r) in schedule.rotations.iter().enumerate() {
            for (j, m) in r.members.iter().enumerate() {
                users.insert((
                    m.user_id.clone(),
                    format!("schedule.rotations[{i}].members[{j}].user_id"),
                ));
            }
        }
        for (i, o) in schedule.overrides.iter().enumerate() {
            users.insert((
                o.user_id.clone(),
                format!("schedule.overrides[{i}].user_id"),
            ));
        }
        let mut checked = BTreeSet::new();
        for (user, field) in users {
            if !checked.insert(user.clone()) {
                continue;
            }
            let id = parse_id(&field, &user)?;
            if self
                .ctx
                .store
                .get_user(id)
                .await
                .map_err(store_status)?
                .is_none()
            {
                return Err(invalid(field, "no such user"));
            }
        }
        if !schedule.team_id.is_empty() {
            let team = parse_id("schedule.team_id", &schedule.team_id)?;
            let teams: Definitions<pb::Team> = Definitions::new(self.ctx.store.clone());
            if teams.find(team).await?.is_none() {
                return Err(invalid("schedule.team_id", "no such team"));
            }
        }
        Ok(())
    }

    /// Checks, stores and hands a changed schedule to its actor.
    async fn save(
        &self,
        mut schedule: pb::Schedule,
        created: DateTime<Utc>,
    ) -> Result<pb::Schedule, Status> {
        compile(&schedule)?;
        self.check_references(&schedule).await?;
        let id = parse_id("schedule.id", &schedule.id)?;
        let now = crate::clock::now();
        schedule.updated_at = Some(convert::timestamp(now));
        self.schedules.update(id, &schedule, created, now).await?;
        self.actors.changed(id);
        Ok(schedule)
    }

    async fn on_call(&self, id: Uuid, at: DateTime<Utc>) -> Result<pb::OnCallResponse, Status> {
        let (_, _, schedule) = self.load(id).await?;
        let mut answer = schedule.on_call_at(at);
        let mut held_over_user_ids = Vec::new();
        for (level, user) in held_over(&*self.ctx.store, id, at)
            .await
            .map_err(store_status)?
        {
            let users = answer.levels.entry(level).or_default();
            if !users.contains(&user) {
                users.push(user);
            }
            held_over_user_ids.push(user.to_string());
        }
        let current_shifts = schedule
            .shifts(at, at + TimeDelta::seconds(1))
            .map_err(range_status)?
            .iter()
            .filter(|s| s.start <= at && at < s.end)
            .map(shift_to_pb)
            .collect();
        let paging = answer.paging_level();
        Ok(pb::OnCallResponse {
            schedule_id: id.to_string(),
            time: Some(convert::timestamp(at)),
            primary_user_id: answer.primary().map(|u| u.to_string()).unwrap_or_default(),
            secondary_user_id: answer
                .secondary()
                .map(|u| u.to_string())
                .unwrap_or_default(),
            levels: answer
                .levels
                .iter()
                .map(|(level, users)| pb::OnCallLevel {
                    level: i32::try_from(*level).unwrap_or(i32::MAX),
                    user_ids: users.iter().map(Uuid::to_string).collect(),
                })
                .collect(),
            current_shifts,
            next_handoff: schedule
                .next_handoff(at)
                .map(|h| planned_handoff_to_pb(id, &h)),
            paging_level: paging
                .as_ref()
                .map_or(0, |p| i32::try_from(p.level).unwrap_or(i32::MAX)),
            fallback: paging.is_some_and(|p| p.fallback),
            held_over_user_ids,
        })
    }

    /// A handoff by id, or the schedule's newest one that `wanted` accepts.
    async fn handoff(
        &self,
        schedule: Uuid,
        id: &str,
        wanted: impl Fn(&StoredHandoff) -> bool,
    ) -> Result<StoredHandoff, Status> {
        if id.is_empty() {
            return self
                .ctx
                .store
                .list_handoffs(schedule, 100)
                .await
                .map_err(store_status)?
                .into_iter()
                .find(|h| wanted(h))
                .ok_or_else(|| {
                    Status::not_found(format!("schedule {schedule} has no such handoff"))
                });
        }
        let id = parse_id("handoff_id", id)?;
        self.ctx
            .store
            .get_handoff(id)
            .await
            .map_err(store_status)?
            .filter(|h| h.schedule_id == schedule)
            .ok_or_else(|| Status::not_found(format!("handoff {id} not found")))
    }
}

#[tonic::async_trait]
impl ScheduleService for ScheduleApi {
    async fn create_schedule(
        &self,
        request: Request<pb::CreateScheduleRequest>,
    ) -> Result<Response<pb::Schedule>, Status> {
        let principal = self.ctx.authorize(&request, Action::Administer).await?;
        let mut schedule = request
            .into_inner()
            .schedule
            .ok_or_else(|| invalid("schedule", "required"))?;
        let id = Uuid::new_v4();
        schedule.id = id.to_string();
        let now = crate::clock::now();
        for rotation in &mut schedule.rotations {
            rotation.id = Uuid::new_v4().to_string();
        }
        for o in &mut schedule.overrides {
            o.id = Uuid::new_v4().to_string();
            o.created_by = author(&principal);
            o.created_at = Some(convert::timestamp(now));
        }
        compile(&schedule)?;
        self.check_references(&schedule).await?;
        schedule.created_by = author(&principal);
        schedule.created_at = Some(convert::timestamp(now));
        schedule.updated_at = schedule.created_at;
        self.schedules.insert(id, &schedule, now).await?;
        self.actors.changed(id);
        Ok(Response::new(schedule))
    }

    async fn get_schedule(
        &self,
        request: Request<pb::GetScheduleRequest>,
    ) -> Result<Response<pb::Schedule>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(self.schedules.get(id).await?.0))
    }

    async fn list_schedules(
        &self,
        request: Request<pb::ListSchedulesRequest>,
    ) -> Result<Response<pb::ListSchedulesResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let (limit, offset) = page("", body.page_size, &body.page_token)?;
        let needle = body.name_contains.to_lowercase();
        let matching: Vec<pb::Schedule> = self
            .schedules
            .list()
            .await?
            .into_iter()
            .filter(|s| needle.is_empty() || s.name.to_lowercase().contains(&needle))
            .filter(|s| body.team_id.is_empty() || s.team_id == body.team_id)
            .collect();
        let (schedules, next_page_token, total_count) = page_of(matching, limit, offset);
        Ok(Response::new(pb::ListSchedulesResponse {
            schedules,
            next_page_token,
            total_count,
        }))
    }

    async fn update_schedule(
        &self,
        request: Request<pb::UpdateScheduleRequest>,
    ) -> Result<Response<pb::Schedule>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let body = request.into_inner();
        let given = body
            .schedule
            .ok_or_else(|| invalid("schedule", "required"))?;
        let id = parse_id("schedule.id", &given.id)?;
        let (mut schedule, created) = self.schedules.get(id).await?;
        let all = ["name", "description", "timezone", "team_id", "handoff"];
        let mask: Vec<&str> = if body.update_mask.is_empty() {
            all.to_vec()
        } else {
            body.update_mask.iter().map(String::as_str).collect()
        };
        for (i, field) in mask.iter().enumerate() {
            match *field {
                "name" => schedule.name = given.name.clone(),
                "description" => schedule.description = given.description.clone(),
                "timezone" => schedule.timezone = given.timezone.clone(),
                "team_id" => schedule.team_id = given.team_id.clone(),
                "handoff" => schedule.handoff = given.handoff.clone(),
                other => {
                    return Err(invalid(
                        format!("update_mask[{i}]"),
                        format!(
                            "unknown field {other:?} (rotations and overrides have calls of their own)"
                        ),
                    ));
                }
            }
        }
        Ok(Response::new(self.save(schedule, created).await?))
    }

    async fn delete_schedule(
        &self,
        request: Request<pb::DeleteScheduleRequest>,
    ) -> Result<Response<pb::DeleteScheduleResponse>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        self.schedules.delete(id).await?;
        self.actors.changed(id);
        Ok(Response::new(pb::DeleteScheduleResponse {}))
    }

    async fn add_rotation(
        &self,
        request: Request<pb::AddRotationRequest>,
    ) -> Result<Response<pb::Schedule>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let body = request.into_inner();
        let id = parse_id("schedule_id", &body.schedule_id)?;
        let mut rotation = body
            .rotation
            .ok_or_else(|| invalid("rotation", "required"))?;
        rotation.id = Uuid::new_v4().to_string();
        let (mut schedule, created) = self.schedules.get(id).await?;
        schedule.rotations.push(rotation);
        Ok(Response::new(self.save(schedule, created).await?))
    }

    async fn update_rotation(
        &self,
        request: Request<pb::UpdateRotationRequest>,
    ) -> Result<Response<pb::Schedule>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let body = request.into_inner();
        let id = parse_id("schedule_id", &body.schedule_id)?;
        let rotation = body
            .rotation
            .ok_or_else(|| invalid("rotation", "required"))?;
        parse_id("rotation.id", &rotation.id)?;
        let (mut schedule, created) = self.schedules.get(id).await?;
        let slot = schedule
            .rotations
            .iter_mut()
            .find(|r| r.id == rotation.id)
            .ok_or_else(|| Status::not_found(format!("rotation {} not found", rotation.id)))?;
        *slot = rotation;
        Ok(Response::new(self.save(schedule, created).await?))
    }

    async fn remove_rotation(
        &self,
        request: Request<pb::RemoveRotationRequest>,
    ) -> Result<Response<pb::Schedule>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let body = request.into_inner();
        let id = parse_id("schedule_id", &body.schedule_id)?;
        parse_id("rotation_id", &body.rotation_id)?;
        let (mut schedule, created) = self.schedules.get(id).await?;
        let before = schedule.rotations.len();
        schedule.rotations.retain(|r| r.id != body.rotation_id);
        if schedule.rotations.len() == before {
            return Err(Status::not_found(format!(
                "rotation {} not found",
                body.rotation_id
            )));
        }
        Ok(Response::new(self.save(schedule, created).await?))
    }

    async fn create_override(
        &self,
        request: Request<pb::CreateOverrideRequest>,
    ) -> Result<Response<pb::ScheduleOverride>, Status> {
        let principal = self.ctx.authorize(&request, Action::Respond).await?;
        let body = request.into_inner();
        let id = parse_id("schedule_id", &body.schedule_id)?;
        let mut created_override = body
            .r#override
            .ok_or_else(|| invalid("override", "required"))?;
        created_override.id = Uuid::new_v4().to_string();
        created_override.created_by = author(&principal);
        created_override.created_at = Some(convert::timestamp(crate::clock::now()));
        let input = override_input(&created_override, "override")?;
        validate_override(&input, "override").map_err(|found| {
            Status::invalid_argument(
                found
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let (mut schedule, created) = self.schedules.get(id).await?;
        schedule.overrides.push(created_override.clone());
        self.save(schedule, created).await?;
        Ok(Response::new(created_override))
    }

    async fn delete_override(
        &self,
        request: Request<pb::DeleteOverrideRequest>,
    ) -> Result<Response<pb::DeleteOverrideResponse>, Status> {
        self.ctx.authorize(&request, Action::Respond).await?;
        let body = request.into_inner();
        let id = parse_id("schedule_id", &body.schedule_id)?;
        parse_id("override_id", &body.override_id)?;
        let (mut schedule, created) = self.schedules.get(id).await?;
        let before = schedule.overrides.len();
        schedule.overrides.retain(|o| o.id != body.override_id);
        if schedule.overrides.len() == before {
            return Err(Status::not_found(format!(
                "override {} not found",
                body.override_id
            )));
        }
        self.save(schedule, created).await?;
        Ok(Response::new(pb::DeleteOverrideResponse {}))
    }

    async fn list_overrides(
        &self,
        request: Request<pb::ListOverridesRequest>,
    ) -> Result<Response<pb::ListOverridesResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let id = parse_id("schedule_id", &body.schedule_id)?;
        let from = body
            .start_time
            .as_ref()
            .map(|t| convert::instant("start_time", t))
            .transpose()?;
        let to = body
            .end_time
            .as_ref()
            .map(|t| convert::instant("end_time", t))
            .transpose()?;
        let (schedule, _) = self.schedules.get(id).await?;
        let instant = |t: Option<prost_types::Timestamp>| {
            t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        };
        let overlaps = |o: &pb::ScheduleOverride| {
            let (start, end) = (instant(o.start_time), instant(o.end_time));
            from.is_none_or(|f| end.is_some_and(|e| e > f))
                && to.is_none_or(|t| start.is_some_and(|s| s < t))
        };
        Ok(Response::new(pb::ListOverridesResponse {
            overrides: schedule.overrides.into_iter().filter(overlaps).collect(),
        }))
    }

    async fn get_current_on_call(
        &self,
        request: Request<pb::GetCurrentOnCallRequest>,
    ) -> Result<Response<pb::OnCallResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let id = parse_id("schedule_id", &request.get_ref().schedule_id)?;
        Ok(Response::new(self.on_call(id, crate::clock::now()).await?))
    }

    async fn get_on_call_at_time(
        &self,
        request: Request<pb::GetOnCallAtTimeRequest>,
    ) -> Result<Response<pb::OnCallResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.get_ref();
        let id = parse_id("schedule_id", &body.schedule_id)?;
        let at = convert::instant(
            "time",
            body.time
                .as_ref()
                .ok_or_else(|| invalid("time", "required"))?,
        )?;
        Ok(Response::new(self.on_call(id, at).await?))
    }

    async fn list_upcoming_shifts(
        &self,
        request: Request<pb::ListUpcomingShiftsRequest>,
    ) -> Result<Response<pb::ListUpcomingShiftsResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let id = parse_id("schedule_id", &body.schedule_id)?;
        let from = match &body.start_time {
            Some(t) => convert::instant("start_time", t)?,
            None => crate::clock::now(),
        };
        let to = match &body.end_time {
            Some(t) => convert::instant("end_time", t)?,
            None => from + DEFAULT_SPAN,
        };
        let user = if body.user_id.is_empty() {
            None
        } else {
            Some(parse_id("user_id", &body.user_id)?)
        };
        let (_, _, schedule) = self.load(id).await?;
        let shifts = schedule
            .shifts(from, to)
            .map_err(range_status)?
            .iter()
            .filter(|s| user.is_none_or(|u| s.user_id == u))
            .map(shift_to_pb)
            .collect();
        Ok(Response::new(pb::ListUpcomingShiftsResponse { shifts }))
    }

    async fn get_coverage_gaps(
        &self,
        request: Request<pb::GetCoverageGapsRequest>,
    ) -> Result<Response<pb::GetCoverageGapsResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let id = parse_id("schedule_id", &body.schedule_id)?;
        let instant = |field: &str, t: Option<&prost_types::Timestamp>| {
            convert::instant(field, t.ok_or_else(|| invalid(field, "required"))?)
        };
        let from = instant("start_time", body.start_time.as_ref())?;
        let to = instant("end_time", body.end_time.as_ref())?;
        let level = match body.level {
            0 => 1,
            l if l < 0 => return Err(invalid("level", "must be at least 1")),
            l => l.unsigned_abs(),
        };
        let (_, _, schedule) = self.load(id).await?;
        let gaps = schedule
            .coverage_gaps_at_level(level, from, to)
            .map_err(range_status)?
            .iter()
            .map(|g| pb::CoverageGap {
                start_time: Some(convert::timestamp(g.start)),
                end_time: Some(convert::timestamp(g.end)),
            })
            .collect();
        Ok(Response::new(pb::GetCoverageGapsResponse { gaps }))
    }

    async fn acknowledge_handoff(
        &self,
        request: Request<pb::AcknowledgeHandoffRequest>,
    ) -> Result<Response<pb::Handoff>, Status> {
        let principal = self.ctx.authorize(&request, Action::Respond).await?;
        let body = request.into_inner();
        let id = parse_id("schedule_id", &body.schedule_id)?;
        let handoff = self
            .handoff(id, &body.handoff_id, |h| {
                h.require_ack && h.acknowledged_at.is_none()
            })
            .await?;
        if !handoff.require_ack {
            return Err(Status::failed_precondition(
                "this handoff does not wait for an acknowledgement",
            ));
        }
        if handoff.acknowledged_at.is_some() {
            return Ok(Response::new(
                handoff_with_events(&*self.ctx.store, &handoff).await?,
            ));
        }
        // The incoming person takes their own shift; an admin may take it for them.
        access::authorize_own(&principal, handoff.incoming_user_id, Owned::IncomingShift)
            .map_err(|e| Status::permission_denied(e.to_string()))?;
        let now = crate::clock::now();
        let store = &self.ctx.store;
        if store
            .acknowledge_handoff(handoff.id, &author(&principal), now)
            .await
            .map_err(store_status)?
        {
            let event = HandoffEvent {
                kind: "acknowledged".into(),
                at: now,
                detail: author(&principal),
            };
            store
                .add_handoff_event(handoff.id, &event)
                .await
                .map_err(store_status)?;
        }
        let handoff = store
            .get_handoff(handoff.id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found("the handoff was deleted"))?;
        self.actors.changed(id);
        Ok(Response::new(
            handoff_with_events(&**store, &handoff).await?,
        ))
    }

    async fn get_handoff_summary(
        &self,
        request: Request<pb::GetHandoffSummaryRequest>,
    ) -> Result<Response<pb::HandoffSummary>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let id = parse_id("schedule_id", &body.schedule_id)?;
        let handoff = self.handoff(id, &body.handoff_id, |_| true).await?;
        let (schedule, _, compiled) = self.load(id).await?;
        let summary = summarize(&self.ctx.store, &schedule, &compiled, &handoff).await?;
        Ok(Response::new(
            summary_to_pb(&self.ctx.store, summary, &handoff).await?,
        ))
    }

    async fn list_handoffs(
        &self,
        request: Request<pb::ListHandoffsRequest>,
    ) -> Result<Response<pb::ListHandoffsResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let id = parse_id("schedule_id", &body.schedule_id)?;
        let (limit, _) = page("", body.page_size, "")?;
        let store = &self.ctx.store;
        let mut handoffs = Vec::new();
        for handoff in store.list_handoffs(id, limit).await.map_err(store_status)? {
            handoffs.push(handoff_with_events(&**store, &handoff).await?);
        }
        Ok(Response::new(pb::ListHandoffsResponse { handoffs }))
    }
}

//! Schedules: rotations and overrides checked as written (every problem named by its
//! field, all at once) and compiled into the domain's [`Schedule`].

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{FieldProblem, Invalid, fields};
use crate::domain::schedule::{
    OverrideInput, Problem, Reminders, RestrictionInput, RotationInput, Schedule, validate_schedule,
};
use crate::pb::alerting::routing::v1 as pb;

fn rotation_kind(value: i32) -> &'static str {
    match pb::RotationType::try_from(value) {
        Ok(pb::RotationType::Daily) => "daily",
        Ok(pb::RotationType::Weekly) => "weekly",
        Ok(pb::RotationType::Biweekly) => "biweekly",
        Ok(pb::RotationType::Custom) => "custom",
        _ => "unspecified",
    }
}

fn override_kind(value: i32) -> &'static str {
    match pb::OverrideType::try_from(value) {
        Ok(pb::OverrideType::Replace) => "replace",
        Ok(pb::OverrideType::Add) => "add",
        Ok(pb::OverrideType::Remove) => "remove",
        _ => "unspecified",
    }
}

fn rotation_input(r: &pb::Rotation, at: &str) -> Result<RotationInput, Invalid> {
    let mut members: Vec<(i32, usize, &pb::RotationMember)> = r
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.position, i, m))
        .collect();
    members.sort_by_key(|(position, i, _)| (*position, *i));
    let members = members
        .into_iter()
        .map(|(_, i, m)| fields::id(&format!("{at}.members[{i}].user_id"), &m.user_id))
        .collect::<Result<Vec<_>, _>>()?;
    let config = r.shift_config.clone().unwrap_or_default();
    let shift_length = fields::duration(
        &format!("{at}.shift_config.shift_length"),
        config.shift_length.as_ref(),
    )?;
    Ok(RotationInput {
        id: fields::id(&format!("{at}.id"), &r.id)?,
        name: r.name.clone(),
        kind: rotation_kind(r.r#type).to_string(),
        members,
        start: fields::instant(
            &format!("{at}.start_time"),
            r.start_time
                .as_ref()
                .ok_or_else(|| Invalid::field(format!("{at}.start_time"), "required"))?,
        )?,
        shift_length: shift_length.map(|d| d.num_seconds()),
        handoff_time: config.handoff_time,
        handoff_days: config.handoff_days.iter().map(|d| i64::from(*d)).collect(),
        restrictions: r
            .restrictions
            .iter()
            .map(|w| RestrictionInput {
                days: w.days_of_week.iter().map(|d| i64::from(*d)).collect(),
                start: w.start_time.clone(),
                end: w.end_time.clone(),
            })
            .collect(),
        level: i64::from(r.level),
    })
}

pub fn override_input(o: &pb::ScheduleOverride, at: &str) -> Result<OverrideInput, Invalid> {
    let instant = |name: &str, t: Option<&prost_types::Timestamp>| {
        let field = format!("{at}.{name}");
        fields::instant(&field, t.ok_or_else(|| Invalid::field(&field, "required"))?)
    };
    Ok(OverrideInput {
        id: fields::id(&format!("{at}.id"), &o.id)?,
        kind: override_kind(o.r#type).to_string(),
        user_id: fields::id(&format!("{at}.user_id"), &o.user_id)?,
        replaced_user_id: if o.replaced_user_id.is_empty() {
            None
        } else {
            Some(fields::id(
                &format!("{at}.replaced_user_id"),
                &o.replaced_user_id,
            )?)
        },
        start: instant("start_time", o.start_time.as_ref())?,
        end: instant("end_time", o.end_time.as_ref())?,
        level: i64::from(o.level),
        reason: o.reason.clone(),
        author: o.created_by.clone(),
        created_at: o
            .created_at
            .as_ref()
            .map(|t| fields::instant(&format!("{at}.created_at"), t))
            .transpose()?
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
    })
}

fn problems(prefix: &str, found: Vec<Problem>) -> Invalid {
    Invalid(
        found
            .into_iter()
            .map(|p| FieldProblem {
                field: format!("{prefix}.{}", p.field),
                reason: p.message,
            })
            .collect(),
    )
}

/// Checks a schedule as written and compiles it; errors name the field under `schedule`.
pub fn compile(schedule: &pb::Schedule) -> Result<Schedule, Invalid> {
    if schedule.name.trim().is_empty() {
        return Err(Invalid::field("schedule.name", "required"));
    }
    let rotations = schedule
        .rotations
        .iter()
        .enumerate()
        .map(|(i, r)| rotation_input(r, &format!("schedule.rotations[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let overrides = schedule
        .overrides
        .iter()
        .enumerate()
        .map(|(i, o)| override_input(o, &format!("schedule.overrides[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let handoff = schedule.handoff.clone().unwrap_or_default();
    reminders(&handoff)?;
    fields::duration(
        "schedule.handoff.escalate_if_no_ack",
        handoff.escalate_if_no_ack.as_ref(),
    )?;
    fields::optional_url("schedule.handoff.webhook_url", &handoff.webhook_url)?;
    validate_schedule(&schedule.timezone, &rotations, &overrides)
        .map_err(|found| problems("schedule", found))
}

/// The reminder offsets a schedule's handoff settings ask for.
pub fn reminders(handoff: &pb::HandoffConfig) -> Result<Reminders, Invalid> {
    Ok(Reminders {
        outgoing: fields::duration(
            "schedule.handoff.outgoing_reminder",
            handoff.outgoing_reminder.as_ref(),
        )?,
        incoming: fields::duration(
            "schedule.handoff.incoming_reminder",
            handoff.incoming_reminder.as_ref(),
        )?,
    })
}

/// A schedule as paging uses it: compiled, with the team it belongs to.
pub struct PagedSchedule {
    pub team: Option<Uuid>,
    pub schedule: Schedule,
}

/// Compiles a stored schedule for paging.
pub fn compile_paged(schedule: &pb::Schedule, _id: Uuid) -> Result<PagedSchedule, Invalid> {
    Ok(PagedSchedule {
        team: Uuid::parse_str(&schedule.team_id).ok(),
        schedule: compile(schedule)?,
    })
}

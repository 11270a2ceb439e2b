//! Escalation policies: checked as written (fields named) and compiled into the
//! domain's [`Policy`], with CEL skip conditions compiled once.

use chrono::TimeDelta;
use uuid::Uuid;

use super::{Invalid, fields};
use crate::domain::escalation::{Exhausted, Policy, Step, Target};
use crate::domain::routing::{CelCondition, CelEnv};
use crate::domain::severity::Severity;
use crate::pb::alerting::routing::v1 as pb;

fn target(t: &pb::EscalationTarget, at: &str) -> Result<Target, Invalid> {
    use pb::EscalationTargetType as T;
    let id = |field: &str, value: &str| fields::id(&format!("{at}.{field}"), value);
    match T::try_from(t.r#type) {
        Ok(T::User) => Ok(Target::User(id("user_id", &t.user_id)?)),
        Ok(T::Schedule) => Ok(Target::Schedule {
            id: id("schedule_id", &t.schedule_id)?,
            level: match t.level {
                0 => 1,
                l if l < 0 => {
                    return Err(Invalid::field(format!("{at}.level"), "must be at least 1"));
                }
                l => l.unsigned_abs(),
            },
        }),
        Ok(T::Team) => Ok(Target::Team(id("team_id", &t.team_id)?)),
        Ok(T::Channel) => {
            if t.webhook_url.is_empty() {
                return Err(Invalid::field(format!("{at}.webhook_url"), "required"));
            }
            fields::optional_url(&format!("{at}.webhook_url"), &t.webhook_url)?;
            Ok(Target::Channel(t.webhook_url.clone()))
        }
        Ok(T::Policy) => Ok(Target::Policy(id("policy_id", &t.policy_id)?)),
        _ => Err(Invalid::field(format!("{at}.type"), "required")),
    }
}

/// Checks a policy as written and compiles it; errors name the field under `policy`.
pub fn compile(policy: &pb::EscalationPolicy, id: Uuid) -> Result<Policy, Invalid> {
    if policy.name.trim().is_empty() {
        return Err(Invalid::field("policy.name", "required"));
    }
    if policy.steps.is_empty() {
        return Err(Invalid::field("policy.steps", "give at least one step"));
    }
    let delay = |field: String, d: Option<&prost_types::Duration>| match d {
        None => Ok(TimeDelta::zero()),
        Some(d) if d.seconds < 0 || d.nanos < 0 => {
            Err(Invalid::field(field, "must not be negative"))
        }
        Some(d) => TimeDelta::try_seconds(d.seconds)
            .map(|s| s + TimeDelta::nanoseconds(i64::from(d.nanos)))
            .ok_or_else(|| Invalid::field(field, "too long")),
    };
    let mut steps = Vec::with_capacity(policy.steps.len());
    for (i, step) in policy.steps.iter().enumerate() {
        let at = format!("policy.steps[{i}]");
        if step.targets.is_empty() {
            return Err(Invalid::field(
                format!("{at}.targets"),
                "give at least one target",
            ));
        }
        let skip = if step.skip_condition_cel.trim().is_empty() {
            None
        } else {
            Some(
                CelCondition::compile(&step.skip_condition_cel, &CelEnv::new())
                    .map_err(|e| Invalid::field(format!("{at}.skip_condition_cel"), e))?,
            )
        };
        steps.push(Step {
            skip,
            delay: delay(format!("{at}.delay"), step.delay.as_ref())?,
            targets: step
                .targets
                .iter()
                .enumerate()
                .map(|(j, t)| target(t, &format!("{at}.targets[{j}]")))
                .collect::<Result<_, _>>()?,
        });
    }
    if policy.repeat_count < 0 {
        return Err(Invalid::field(
            "policy.repeat_count",
            "must not be negative",
        ));
    }
    let repeat_delay = policy
        .repeat_delay
        .as_ref()
        .map(|d| delay("policy.repeat_delay".into(), Some(d)))
        .transpose()?;
    use pb::ExhaustedAction as E;
    let exhausted = match E::try_from(policy.exhausted_action) {
        Ok(E::Unspecified) | Ok(E::Stop) => Exhausted::Stop,
        Ok(E::Notify) => {
            let fallback = policy
                .fallback_target
                .as_ref()
                .ok_or_else(|| Invalid::field("policy.fallback_target", "required to notify"))?;
            match target(fallback, "policy.fallback_target")? {
                Target::Policy(_) => {
                    return Err(Invalid::field(
                        "policy.fallback_target",
                        "a policy is not a fallback; hand over in a step instead",
                    ));
                }
                other => Exhausted::Notify(other),
            }
        }
        Ok(E::CreateTicket) => Exhausted::CreateTicket(
            fields::severity("policy.ticket_severity", policy.ticket_severity)?
                .unwrap_or(Severity::High),
        ),
        Err(_) => return Err(Invalid::field("policy.exhausted_action", "unknown action")),
    };
    Ok(Policy {
        id,
        name: policy.name.clone(),
        steps,
        repeat_count: policy.repeat_count.unsigned_abs(),
        repeat_delay,
        exhausted,
    })
}

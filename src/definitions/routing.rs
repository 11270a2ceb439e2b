//! Routing rules: conditions (matchers, regexes, CEL), time windows and actions checked
//! as written and compiled into the domain's [`Rule`], so deciding never compiles.

use prost::Message;
use uuid::Uuid;

use super::{Invalid, LoadError, fields};
use crate::domain::notify::channel::Channel;
use crate::domain::routing::{
    CelCondition, CelEnv, Condition, ConditionSpec, Field, Operator, Rule, RuleCondition,
    TimeCondition,
};
use crate::pb::alerting::routing::v1 as pb;
use crate::store::StoredRule;

/// Checks a rule as written and compiles it; every error names the field at fault
/// under `prefix` (`rule`).
pub fn compile(
    rule: &pb::RoutingRule,
    id: Uuid,
    env: &CelEnv,
    prefix: &str,
) -> Result<Rule<pb::RoutingAction>, Invalid> {
    if rule.name.trim().is_empty() {
        return Err(Invalid::field(format!("{prefix}.name"), "required"));
    }
    let mut conditions = Vec::with_capacity(rule.conditions.len());
    for (i, condition) in rule.conditions.iter().enumerate() {
        conditions.push(compile_condition(
            condition,
            env,
            &format!("{prefix}.conditions[{i}]"),
        )?);
    }
    let time = match &rule.time_condition {
        None => None,
        Some(t) => {
            let windows = window_parts(&t.windows);
            Some(
                TimeCondition::parse(&t.timezone, &windows, t.invert).map_err(|e| {
                    Invalid::field(format!("{prefix}.time_condition.{}", e.field), e.reason)
                })?,
            )
        }
    };
    if rule.actions.is_empty() {
        return Err(Invalid::field(
            format!("{prefix}.actions"),
            "a rule needs at least one action",
        ));
    }
    for (i, action) in rule.actions.iter().enumerate() {
        check_action(action, &format!("{prefix}.actions[{i}]"))?;
    }
    Ok(Rule {
        id,
        name: rule.name.clone(),
        priority: rule.priority,
        enabled: rule.enabled,
        terminal: rule.terminal,
        conditions,
        time,
        actions: rule.actions.clone(),
    })
}

fn compile_condition(
    condition: &pb::RoutingCondition,
    env: &CelEnv,
    at: &str,
) -> Result<RuleCondition, Invalid> {
    use pb::ConditionType as T;
    let kind = pb::ConditionType::try_from(condition.r#type)
        .map_err(|_| Invalid::field(format!("{at}.type"), "unknown condition type"))?;
    let field = match kind {
        T::Unspecified => return Err(Invalid::field(format!("{at}.type"), "required")),
        T::Cel => {
            return CelCondition::compile(&condition.cel_expression, env)
                .map(RuleCondition::Cel)
                .map_err(|e| Invalid::field(format!("{at}.cel_expression"), e));
        }
        T::Label => Field::Label(condition.field.clone()),
        T::Annotation => Field::Annotation(condition.field.clone()),
        T::Severity => Field::Severity,
        T::Source => Field::Source,
        T::Service => Field::Service,
        T::Site => Field::Site,
        T::Pop => Field::Pop,
        T::CustomerTier => Field::CustomerTier,
        T::EquipmentType => Field::EquipmentType,
        T::Carrier => Field::Carrier,
    };
    use pb::ConditionOperator as O;
    let operator = match pb::ConditionOperator::try_from(condition.operator) {
        Ok(O::Equals) => Operator::Equals,
        Ok(O::NotEquals) => Operator::NotEquals,
        Ok(O::Contains) => Operator::Contains,
        Ok(O::NotContains) => Operator::NotContains,
        Ok(O::StartsWith) => Operator::StartsWith,
        Ok(O::EndsWith) => Operator::EndsWith,
        Ok(O::Regex) => Operator::Regex,
        Ok(O::In) => Operator::In,
        Ok(O::NotIn) => Operator::NotIn,
        Ok(O::Exists) => Operator::Exists,
        Ok(O::NotExists) => Operator::NotExists,
        Ok(O::GreaterThan) => Operator::GreaterThan,
        Ok(O::LessThan) => Operator::LessThan,
        Ok(O::Unspecified) | Err(_) => {
            return Err(Invalid::field(format!("{at}.operator"), "required"));
        }
    };
    let value = if operator == Operator::Regex && !condition.regex_pattern.is_empty() {
        condition.regex_pattern.clone()
    } else if condition.string_value.is_empty() && condition.number_value != 0.0 {
        condition.number_value.to_string()
    } else {
        condition.string_value.clone()
    };
    let spec = ConditionSpec {
        value,
        values: condition
            .string_list
            .as_ref()
            .map(|l| l.values.clone())
            .unwrap_or_default(),
    };
    Condition::compile(field, operator, spec)
        .map(RuleCondition::Match)
        .map_err(|e| Invalid::field(format!("{at}.{}", e.field), e.reason))
}

pub fn check_action(action: &pb::RoutingAction, at: &str) -> Result<(), Invalid> {
    use pb::ActionType as A;
    let id = |field: &str, value: &str| fields::id(&format!("{at}.{field}"), value).map(|_| ());
    let missing =
        |part: &str| Invalid::field(format!("{at}.{part}"), "required for this action type");
    match pb::ActionType::try_from(action.r#type) {
        Ok(A::NotifyWebhook) => {
            let url = &action
                .notify_webhook
                .as_ref()
                .ok_or_else(|| missing("notify_webhook"))?
                .webhook_url;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Invalid::field(
                    format!("{at}.notify_webhook.webhook_url"),
                    "an http:// or https:// URL is required",
                ));
            }
        }
        Ok(A::NotifyChannel) => {
            let notify = action
                .notify_channel
                .as_ref()
                .ok_or_else(|| missing("notify_channel"))?;
            let target = notify
                .target
                .as_ref()
                .ok_or_else(|| missing("notify_channel.target"))?;
            destination_of(target).map_err(|(field, why)| {
                Invalid::field(format!("{at}.notify_channel.target.{field}"), why)
            })?;
            if !notify.template_id.is_empty() {
                id("notify_channel.template_id", &notify.template_id)?;
            }
        }
        Ok(A::Suppress) => {
            if let Some(duration) = action.suppress.as_ref().and_then(|s| s.duration)
                && (duration.seconds < 0 || duration.nanos < 0)
            {
                return Err(Invalid::field(
                    format!("{at}.suppress.duration"),
                    "must not be negative",
                ));
            }
        }
        Ok(A::SetLabel) => {
            let key = &action
                .set_label
                .as_ref()
                .ok_or_else(|| missing("set_label"))?
                .key;
            if key.is_empty() {
                return Err(Invalid::field(format!("{at}.set_label.key"), "required"));
            }
        }
        Ok(A::Aggregate) => {
            let aggregate = action
                .aggregate
                .as_ref()
                .ok_or_else(|| missing("aggregate"))?;
            let positive = aggregate
                .window
                .as_ref()
                .is_some_and(|w| w.seconds > 0 || (w.seconds == 0 && w.nanos > 0));
            if !positive {
                return Err(Invalid::field(
                    format!("{at}.aggregate.window"),
                    "must be positive",
                ));
            }
            if aggregate.max_alerts < 0 {
                return Err(Invalid::field(
                    format!("{at}.aggregate.max_alerts"),
                    "must not be negative",
                ));
            }
            let target = aggregate
                .target
                .as_ref()
                .ok_or_else(|| missing("aggregate.target"))?;
            destination_of(target).map_err(|(field, why)| {
                Invalid::field(format!("{at}.aggregate.target.{field}"), why)
            })?;
        }
        Ok(A::Escalate) => id(
            "escalate.escalation_policy_id",
            &action
                .escalate
                .as_ref()
                .ok_or_else(|| missing("escalate"))?
                .escalation_policy_id,
        )?,
        Ok(A::NotifyOncall) => id(
            "notify_oncall.schedule_id",
            &action
                .notify_oncall
                .as_ref()
                .ok_or_else(|| missing("notify_oncall"))?
                .schedule_id,
        )?,
        Ok(A::NotifyTeam) => id(
            "notify_team.team_id",
            &action
                .notify_team
                .as_ref()
                .ok_or_else(|| missing("notify_team"))?
                .team_id,
        )?,
        Ok(A::NotifyUser) => id(
            "notify_user.user_id",
            &action
                .notify_user
                .as_ref()
                .ok_or_else(|| missing("notify_user"))?
                .user_id,
        )?,
        Ok(A::CreateTicket) => {}
        Ok(A::Unspecified) | Err(_) => {
            return Err(Invalid::field(format!("{at}.type"), "required"));
        }
    }
    Ok(())
}

/// A stored rule, decoded and compiled (for the rule book).
pub fn decode_and_compile(
    stored: &StoredRule,
    env: &CelEnv,
) -> Result<Rule<pb::RoutingAction>, String> {
    let rule = pb::RoutingRule::decode(stored.body.as_slice()).map_err(|e| e.to_string())?;
    compile(&rule, stored.id, env, "rule").map_err(|e| e.to_string())
}

/// A stored rule as it was written, with the columns kept beside its body.
pub fn decode(stored: &StoredRule) -> Result<pb::RoutingRule, LoadError> {
    let mut rule =
        pb::RoutingRule::decode(stored.body.as_slice()).map_err(|e| LoadError::Unreadable {
            noun: "routing rule",
            id: stored.id,
            why: e.to_string(),
        })?;
    rule.id = stored.id.to_string();
    rule.priority = stored.priority;
    Ok(rule)
}

/// Time windows as `TimeCondition::parse` takes them: (days, start, end). A day out of
/// range stays out of range, so parsing names it.
pub fn window_parts(windows: &[pb::TimeWindow]) -> Vec<(Vec<u8>, String, String)> {
    windows
        .iter()
        .map(|w| {
            (
                w.days_of_week
                    .iter()
                    .map(|d| u8::try_from(*d).unwrap_or(u8::MAX))
                    .collect(),
                w.start_time.clone(),
                w.end_time.clone(),
            )
        })
        .collect()
}

/// Where a channel target sends: its channel and address (a Slack channel id, a URL,
/// an email address or number). Errors name the target's field at fault.
pub fn destination_of(
    target: &pb::ChannelTarget,
) -> Result<(Channel, String), (&'static str, String)> {
    let channel = match pb::ChannelType::try_from(target.channel) {
        Ok(pb::ChannelType::Webhook) => Channel::Webhook,
        Ok(pb::ChannelType::Slack) => Channel::Slack,
        Ok(pb::ChannelType::Teams) => Channel::Teams,
        Ok(pb::ChannelType::Email) => Channel::Email,
        Ok(pb::ChannelType::Sms) => Channel::Sms,
        Ok(pb::ChannelType::Voice) => Channel::Voice,
        _ => return Err(("channel", "required".into())),
    };
    let (field, address) = match channel {
        Channel::Slack => (
            "slack.channel_id",
            target
                .slack
                .as_ref()
                .map(|s| s.channel_id.clone())
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| target.address.clone()),
        ),
        Channel::Webhook => (
            "webhook.url",
            target
                .webhook
                .as_ref()
                .map(|w| w.url.clone())
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| target.address.clone()),
        ),
        _ => ("address", target.address.clone()),
    };
    let address = address.trim().to_string();
    channel
        .check_address(&address)
        .map_err(|why| (field, why))?;
    Ok((channel, address))
}

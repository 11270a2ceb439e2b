//! `alerting.routing.v1.RoutingService`: rules are checked and compiled when saved
//! (a bad regex or CEL expression is INVALID_ARGUMENT naming the field), stored in their
//! wire form, and decided on by the one pure function in `domain::routing`.

use std::collections::BTreeMap;

use chrono::Utc;
use prost::Message;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::inhibition::InhibitionApi;
use super::pb::alerting::routing::v1 as pb;
use super::pb::alerting::routing::v1::routing_service_server::RoutingService;
use super::pb::alerting::v1 as alerting;
use super::routing_defaults::DefaultsApi;
use super::{Context, author, convert, next_token, page, parse_id, store_status};
use crate::domain::access::Action;
use crate::domain::enrich::{Enrichment, ReferenceData};
use crate::domain::notify::channel::Channel;
use crate::domain::routing::{
    CelCondition, CelEnv, Condition, ConditionResult, ConditionSpec, Explain, Field, Operator,
    RoutedAlert, Rule, RuleCondition, RuleEvaluation, TimeCondition,
};
use crate::domain::severity::Severity;
use crate::inhibitions::InhibitionBook;
use crate::rulebook::RuleBook;
use crate::store::StoredRule;

pub struct RoutingApi {
    ctx: Context,
    rules: RuleBook,
    windows: super::WindowBook,
    inhibition: InhibitionApi,
    defaults: DefaultsApi,
}

impl RoutingApi {
    pub fn new(
        ctx: Context,
        rules: RuleBook,
        windows: super::WindowBook,
        inhibitions: InhibitionBook,
    ) -> RoutingApi {
        RoutingApi {
            inhibition: InhibitionApi {
                ctx: ctx.clone(),
                book: inhibitions,
            },
            defaults: DefaultsApi {
                ctx: ctx.clone(),
                rules: rules.clone(),
            },
            ctx,
            rules,
            windows,
        }
    }

    async fn stored(&self, id: Uuid) -> Result<StoredRule, Status> {
        self.ctx
            .store
            .get_rule(id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found(format!("routing rule {id} not found")))
    }

    async fn reload(&self) -> Result<(), Status> {
        self.rules.reload().await.map_err(store_status)
    }
}

fn invalid(field: impl std::fmt::Display, reason: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {reason}"))
}

/// Checks a rule as written and compiles it; every error names the field at fault
/// under `prefix` (`rule`).
pub fn compile(
    rule: &pb::RoutingRule,
    id: Uuid,
    env: &CelEnv,
    prefix: &str,
) -> Result<Rule<pb::RoutingAction>, Status> {
    if rule.name.trim().is_empty() {
        return Err(invalid(format!("{prefix}.name"), "required"));
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
                    invalid(format!("{prefix}.time_condition.{}", e.field), e.reason)
                })?,
            )
        }
    };
    if rule.actions.is_empty() {
        return Err(invalid(
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
) -> Result<RuleCondition, Status> {
    use pb::ConditionType as T;
    let kind = pb::ConditionType::try_from(condition.r#type)
        .map_err(|_| invalid(format!("{at}.type"), "unknown condition type"))?;
    let field = match kind {
        T::Unspecified => return Err(invalid(format!("{at}.type"), "required")),
        T::Cel => {
            return CelCondition::compile(&condition.cel_expression, env)
                .map(RuleCondition::Cel)
                .map_err(|e| invalid(format!("{at}.cel_expression"), e));
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
            return Err(invalid(format!("{at}.operator"), "required"));
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
        .map_err(|e| invalid(format!("{at}.{}", e.field), e.reason))
}

pub(super) fn check_action(action: &pb::RoutingAction, at: &str) -> Result<(), Status> {
    use pb::ActionType as A;
    let id = |field: &str, value: &str| parse_id(&format!("{at}.{field}"), value).map(|_| ());
    let missing = |part: &str| invalid(format!("{at}.{part}"), "required for this action type");
    match pb::ActionType::try_from(action.r#type) {
        Ok(A::NotifyWebhook) => {
            let url = &action
                .notify_webhook
                .as_ref()
                .ok_or_else(|| missing("notify_webhook"))?
                .webhook_url;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(
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
                invalid(format!("{at}.notify_channel.target.{field}"), why)
            })?;
            if !notify.template_id.is_empty() {
                id("notify_channel.template_id", &notify.template_id)?;
            }
        }
        Ok(A::Suppress) => {
            if let Some(duration) = action.suppress.as_ref().and_then(|s| s.duration)
                && (duration.seconds < 0 || duration.nanos < 0)
            {
                return Err(invalid(
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
                return Err(invalid(format!("{at}.set_label.key"), "required"));
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
                return Err(invalid(
                    format!("{at}.aggregate.window"),
                    "must be positive",
                ));
            }
            if aggregate.max_alerts < 0 {
                return Err(invalid(
                    format!("{at}.aggregate.max_alerts"),
                    "must not be negative",
                ));
            }
            let target = aggregate
                .target
                .as_ref()
                .ok_or_else(|| missing("aggregate.target"))?;
            destination_of(target)
                .map_err(|(field, why)| invalid(format!("{at}.aggregate.target.{field}"), why))?;
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
        Ok(A::Unspecified) | Err(_) => return Err(invalid(format!("{at}.type"), "required")),
    }
    Ok(())
}

/// A stored rule, decoded and compiled (for the rule book).
pub fn decode_and_compile(
    stored: &StoredRule,
    env: &CelEnv,
) -> Result<Rule<pb::RoutingAction>, String> {
    let rule = pb::RoutingRule::decode(stored.body.as_slice()).map_err(|e| e.to_string())?;
    compile(&rule, stored.id, env, "rule").map_err(|e| e.message().to_string())
}

fn decode(stored: &StoredRule) -> Result<pb::RoutingRule, Status> {
    let mut rule = pb::RoutingRule::decode(stored.body.as_slice())
        .map_err(|e| Status::data_loss(format!("routing rule {} is unreadable: {e}", stored.id)))?;
    rule.id = stored.id.to_string();
    rule.priority = stored.priority;
    Ok(rule)
}

fn to_stored(rule: &pb::RoutingRule, id: Uuid, created: chrono::DateTime<Utc>) -> StoredRule {
    StoredRule {
        id,
        name: rule.name.clone(),
        priority: rule.priority,
        enabled: rule.enabled,
        tags: rule.tags.clone(),
        body: rule.encode_to_vec(),
        created_at: created,
        updated_at: Utc::now(),
    }
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

/// An alert as routing sees it, from its wire form. A sample (no id) is enriched as a new
/// alert would be; a stored alert was enriched when it opened.
pub fn routed(alert: &alerting::Alert, reference: &ReferenceData) -> Result<RoutedAlert, Status> {
    let mut labels: BTreeMap<String, String> = alert.labels.clone().into_iter().collect();
    let mut annotations: BTreeMap<String, String> = alert.annotations.clone().into_iter().collect();
    let mut severity = match convert::severity_from_pb("alert.severity", alert.severity)? {
        Some(s) => s,
        None => labels
            .get("severity")
            .map_or(Severity::Medium, |raw| Severity::from_label(raw)),
    };
    let status = match alerting::AlertStatus::try_from(alert.status) {
        Ok(alerting::AlertStatus::Unspecified) | Err(_) => "triggered".to_string(),
        Ok(s) => s
            .as_str_name()
            .trim_start_matches("ALERT_STATUS_")
            .to_ascii_lowercase(),
    };
    if alert.id.is_empty() {
        Enrichment::of(reference, &labels, severity).apply(
            &mut labels,
            &mut annotations,
            &mut severity,
        );
    }
    Ok(RoutedAlert {
        summary: alert.summary.clone(),
        severity,
        source: alert.source.clone(),
        service_id: alert.service_id.clone(),
        status,
        reference: reference.facts_of(&labels),
        labels,
        annotations,
    })
}

/// A stored alert as routing sees it.
pub fn routed_from_domain(alert: &crate::domain::alert::Alert) -> RoutedAlert {
    RoutedAlert {
        summary: alert.summary.clone(),
        severity: alert.severity,
        source: alert.source.clone(),
        service_id: alert.service_id.to_string(),
        status: alert.status.as_str().to_string(),
        labels: alert.labels.clone(),
        annotations: alert.annotations.clone(),
        reference: Default::default(),
    }
}

fn condition_to_pb(index: usize, result: &ConditionResult) -> pb::ConditionResult {
    pb::ConditionResult {
        index: index as i32,
        field: result.field.clone(),
        operator: result.operator.to_string(),
        expected: result.expected.clone(),
        actual: result.actual.clone().unwrap_or_default(),
        matched: result.matched,
        error: result.error.clone().unwrap_or_default(),
    }
}

pub fn evaluation_to_pb(evaluation: &RuleEvaluation) -> pb::RuleEvaluation {
    pb::RuleEvaluation {
        rule_id: evaluation.rule_id.to_string(),
        rule_name: evaluation.rule_name.clone(),
        evaluated: evaluation.evaluated,
        matched: evaluation.matched,
        skipped_because: evaluation.skipped_because.unwrap_or_default().to_string(),
        time_result: evaluation.time.as_ref().map(|t| pb::TimeConditionResult {
            matched: t.matched,
            reason: t.reason.clone(),
        }),
        condition_results: evaluation
            .conditions
            .iter()
            .enumerate()
            .map(|(i, c)| condition_to_pb(i, c))
            .collect(),
    }
}

#[tonic::async_trait]
impl RoutingService for RoutingApi {
    async fn create_routing_rule(
        &self,
        request: Request<pb::CreateRoutingRuleRequest>,
    ) -> Result<Response<pb::RoutingRule>, Status> {
        let principal = self.ctx.authorize(&request, Action::Administer).await?;
        let mut rule = request
            .into_inner()
            .rule
            .ok_or_else(|| invalid("rule", "required"))?;
        let id = Uuid::new_v4();
        compile(&rule, id, self.rules.env(), "rule")?;
        let now = Utc::now();
        rule.id = id.to_string();
        rule.created_by = author(&principal);
        rule.updated_by = rule.created_by.clone();
        rule.created_at = Some(convert::timestamp(now));
        rule.updated_at = rule.created_at;
        self.ctx
            .store
            .insert_rule(&to_stored(&rule, id, now))
            .await
            .map_err(store_status)?;
        self.reload().await?;
        Ok(Response::new(rule))
    }

    async fn get_routing_rule(
        &self,
        request: Request<pb::GetRoutingRuleRequest>,
    ) -> Result<Response<pb::RoutingRule>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(decode(&self.stored(id).await?)?))
    }

    async fn list_routing_rules(
        &self,
        request: Request<pb::ListRoutingRulesRequest>,
    ) -> Result<Response<pb::ListRoutingRulesResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let (limit, offset) = page("", body.page_size, &body.page_token)?;
        let needle = body.name_contains.to_lowercase();
        let matching: Vec<StoredRule> = self
            .ctx
            .store
            .list_rules()
            .await
            .map_err(store_status)?
            .into_iter()
            .filter(|r| !body.enabled_only || r.enabled)
            .filter(|r| body.tags.iter().all(|t| r.tags.contains(t)))
            .filter(|r| needle.is_empty() || r.name.to_lowercase().contains(&needle))
            .collect();
        let total = matching.len() as i64;
        let rules = matching
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(decode)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Response::new(pb::ListRoutingRulesResponse {
            next_page_token: next_token(offset, rules.len(), limit, total),
            rules,
            total_count: total as i32,
        }))
    }

    async fn update_routing_rule(
        &self,
        request: Request<pb::UpdateRoutingRuleRequest>,
    ) -> Result<Response<pb::RoutingRule>, Status> {
        let principal = self.ctx.authorize(&request, Action::Administer).await?;
        let body = request.into_inner();
        let given = body.rule.ok_or_else(|| invalid("rule", "required"))?;
        let id = parse_id("rule.id", &given.id)?;
        let stored = self.stored(id).await?;
        let mut rule = decode(&stored)?;
        if body.update_mask.is_empty() {
            let kept = (rule.created_by.clone(), rule.created_at);
            rule = given;
            (rule.created_by, rule.created_at) = kept;
        } else {
            for (i, field) in body.update_mask.iter().enumerate() {
                match field.as_str() {
                    "name" => rule.name = given.name.clone(),
                    "description" => rule.description = given.description.clone(),
                    "priority" => rule.priority = given.priority,
                    "enabled" => rule.enabled = given.enabled,
                    "terminal" => rule.terminal = given.terminal,
                    "conditions" => rule.conditions = given.conditions.clone(),
                    "time_condition" => rule.time_condition = given.time_condition.clone(),
                    "actions" => rule.actions = given.actions.clone(),
                    "tags" => rule.tags = given.tags.clone(),
                    other => {
                        return Err(invalid(
                            format!("update_mask[{i}]"),
                            format!("unknown field {other:?}"),
                        ));
                    }
                }
            }
        }
        compile(&rule, id, self.rules.env(), "rule")?;
        rule.id = id.to_string();
        rule.updated_by = author(&principal);
        rule.updated_at = Some(convert::timestamp(Utc::now()));
        if !self
            .ctx
            .store
            .update_rule(&to_stored(&rule, id, stored.created_at))
            .await
            .map_err(store_status)?
        {
            return Err(Status::not_found(format!("routing rule {id} not found")));
        }
        self.reload().await?;
        Ok(Response::new(rule))
    }

    async fn delete_routing_rule(
        &self,
        request: Request<pb::DeleteRoutingRuleRequest>,
    ) -> Result<Response<pb::DeleteRoutingRuleResponse>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        if !self.ctx.store.delete_rule(id).await.map_err(store_status)? {
            return Err(Status::not_found(format!("routing rule {id} not found")));
        }
        self.reload().await?;
        Ok(Response::new(pb::DeleteRoutingRuleResponse {}))
    }

    async fn reorder_routing_rules(
        &self,
        request: Request<pb::ReorderRoutingRulesRequest>,
    ) -> Result<Response<pb::ListRoutingRulesResponse>, Status> {
        let principal = self.ctx.authorize(&request, Action::Administer).await?;
        let ids = request
            .into_inner()
            .rule_ids
            .iter()
            .enumerate()
            .map(|(i, id)| parse_id(&format!("rule_ids[{i}]"), id))
            .collect::<Result<Vec<_>, _>>()?;
        if ids.is_empty() {
            return Err(invalid("rule_ids", "required"));
        }
        let mut reordered = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                return Err(invalid(format!("rule_ids[{i}]"), "listed twice"));
            }
            let stored = self.stored(*id).await?;
            let mut rule = decode(&stored)?;
            rule.priority = (i as i32 + 1) * 10;
            rule.updated_by = author(&principal);
            rule.updated_at = Some(convert::timestamp(Utc::now()));
            reordered.push((to_stored(&rule, *id, stored.created_at), rule));
        }
        for (stored, _) in &reordered {
            self.ctx
                .store
                .update_rule(stored)
                .await
                .map_err(store_status)?;
        }
        self.reload().await?;
        let rules: Vec<pb::RoutingRule> = reordered.into_iter().map(|(_, r)| r).collect();
        Ok(Response::new(pb::ListRoutingRulesResponse {
            total_count: rules.len() as i32,
            rules,
            next_page_token: String::new(),
        }))
    }

    async fn test_routing_rule(
        &self,
        request: Request<pb::TestRoutingRuleRequest>,
    ) -> Result<Response<pb::TestRoutingRuleResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let (rule, id) = match (&body.rule, body.rule_id.as_str()) {
            (Some(rule), "") => (rule.clone(), Uuid::nil()),
            (None, id) if !id.is_empty() => {
                let id = parse_id("rule_id", id)?;
                (decode(&self.stored(id).await?)?, id)
            }
            _ => {
                return Err(invalid(
                    "rule_id",
                    "give a saved rule's id or a rule, not both",
                ));
            }
        };
        let mut compiled = compile(&rule, id, self.rules.env(), "rule")?;
        // A test asks about this rule alone, enabled or not.
        compiled.enabled = true;
        let alert = routed(
            body.alert
                .as_ref()
                .ok_or_else(|| invalid("alert", "required"))?,
            &self.ctx.engine.enrichment().current(),
        )?;
        let now = match &body.test_time {
            Some(t) => convert::instant("test_time", t)?,
            None => Utc::now(),
        };
        let set = crate::domain::routing::RuleSet::new(
            vec![compiled],
            crate::domain::routing::Defaults::none(),
            self.rules.env().clone(),
        );
        let decision = set.decide(&alert, now, true, Explain::Everything);
        Ok(Response::new(pb::TestRoutingRuleResponse {
            evaluation: decision.evaluations.first().map(evaluation_to_pb),
            actions: decision
                .actions
                .iter()
                .map(|(rule, action)| pb::DecidedAction {
                    rule_id: rule.map(|r| r.to_string()).unwrap_or_default(),
                    action: Some((*action).clone()),
                })
                .collect(),
        }))
    }

    async fn get_routing_audit_logs(
        &self,
        request: Request<pb::GetRoutingAuditLogsRequest>,
    ) -> Result<Response<pb::GetRoutingAuditLogsResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let (limit, offset) = page("", body.page_size, &body.page_token)?;
        let optional_id = |field: &str, value: &str| {
            (!value.is_empty())
                .then(|| parse_id(field, value))
                .transpose()
        };
        let query = crate::store::AuditQuery {
            alert_id: optional_id("alert_id", &body.alert_id)?,
            rule_id: optional_id("rule_id", &body.rule_id)?,
            from: body
                .start_time
                .as_ref()
                .map(|t| convert::instant("start_time", t))
                .transpose()?,
            to: body
                .end_time
                .as_ref()
                .map(|t| convert::instant("end_time", t))
                .transpose()?,
            limit,
            offset,
        };
        let found = self
            .ctx
            .store
            .list_audit(&query)
            .await
            .map_err(store_status)?;
        let logs = found
            .items
            .iter()
            .map(|entry| {
                pb::RoutingAuditLog::decode(entry.body.as_slice()).map_err(|e| {
                    Status::data_loss(format!("audit entry {} is unreadable: {e}", entry.id))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Response::new(pb::GetRoutingAuditLogsResponse {
            next_page_token: next_token(offset, logs.len(), limit, found.total),
            logs,
            total_count: i32::try_from(found.total).unwrap_or(i32::MAX),
        }))
    }

    async fn simulate_routing(
        &self,
        request: Request<pb::SimulateRoutingRequest>,
    ) -> Result<Response<pb::SimulateRoutingResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let alert = routed(
            body.alert
                .as_ref()
                .ok_or_else(|| invalid("alert", "required"))?,
            &self.ctx.engine.enrichment().current(),
        )?;
        let now = match &body.simulate_time {
            Some(t) => convert::instant("simulate_time", t)?,
            None => Utc::now(),
        };
        let service = body
            .alert
            .as_ref()
            .and_then(|a| Uuid::parse_str(&a.service_id).ok())
            .unwrap_or_default();
        let windows = self.windows.current();
        let held = crate::domain::maintenance::applicable(&windows, &alert, service, now);
        let alert_id = body
            .alert
            .as_ref()
            .and_then(|a| Uuid::parse_str(&a.id).ok())
            .unwrap_or_default();
        let inhibitor = self.inhibition.book.inhibitor(alert_id, &alert.labels);
        let set = self.rules.current();
        let decision = set.decide(&alert, now, body.include_disabled, Explain::Everything);
        let mut warnings = self.rules.broken();
        if set.rules().is_empty() {
            warnings.push("there are no routing rules".into());
        }
        for evaluation in &decision.evaluations {
            for (i, condition) in evaluation.conditions.iter().enumerate() {
                if let Some(error) = &condition.error {
                    warnings.push(format!(
                        "rule {:?}: condition {i} failed to evaluate: {error}",
                        evaluation.rule_name
                    ));
                }
            }
        }
        if decision.actions.is_empty() {
            warnings.push("no rule matched and no default actions apply".into());
        }
        if let Some(inhibitor) = &inhibitor {
            warnings.push(format!(
                "open alert {} inhibits this alert (inhibition rule {:?}): the rules' actions would not run",
                inhibitor.source, inhibitor.rule_name
            ));
        }
        if let Some(window) = held
            && window.action == crate::domain::maintenance::MaintenanceAction::Suppress
        {
            warnings.push(format!(
                "maintenance window {:?} suppresses this alert: the rules' actions would not run",
                window.name
            ));
        }
        Ok(Response::new(pb::SimulateRoutingResponse {
            evaluations: decision.evaluations.iter().map(evaluation_to_pb).collect(),
            actions: decision
                .actions
                .iter()
                .map(|(rule, action)| pb::DecidedAction {
                    rule_id: rule.map(|r| r.to_string()).unwrap_or_default(),
                    action: Some((*action).clone()),
                })
                .collect(),
            used_default_actions: decision.used_defaults,
            warnings,
            maintenance_result: Some(super::maintenance::check_result(held)),
            inhibition: inhibitor.map(|i| i.to_pb()),
        }))
    }

    async fn create_inhibition_rule(
        &self,
        request: Request<pb::CreateInhibitionRuleRequest>,
    ) -> Result<Response<pb::InhibitionRule>, Status> {
        self.inhibition.create(request).await
    }

    async fn list_inhibition_rules(
        &self,
        request: Request<pb::ListInhibitionRulesRequest>,
    ) -> Result<Response<pb::ListInhibitionRulesResponse>, Status> {
        self.inhibition.list(request).await
    }

    async fn delete_inhibition_rule(
        &self,
        request: Request<pb::DeleteInhibitionRuleRequest>,
    ) -> Result<Response<pb::DeleteInhibitionRuleResponse>, Status> {
        self.inhibition.delete(request).await
    }

    async fn get_default_routing(
        &self,
        request: Request<pb::GetDefaultRoutingRequest>,
    ) -> Result<Response<pb::DefaultRouting>, Status> {
        self.defaults.get(request).await
    }

    async fn update_default_routing(
        &self,
        request: Request<pb::UpdateDefaultRoutingRequest>,
    ) -> Result<Response<pb::DefaultRouting>, Status> {
        self.defaults.update(request).await
    }
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

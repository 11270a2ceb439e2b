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
use super::{Context, author, convert, invalid, next_token, page, parse_id, store_status};
use crate::books::WindowBook;
use crate::books::inhibitions::InhibitionBook;
use crate::books::rules::RuleBook;
use crate::definitions::audit::{check_result, evaluation_to_pb};
use crate::definitions::routing::{compile, decode};
use crate::domain::access::Action;
use crate::domain::enrich::{Enrichment, ReferenceData};
use crate::domain::routing::{Explain, RoutedAlert};
use crate::domain::severity::Severity;
use crate::store::StoredRule;

pub struct RoutingApi {
    ctx: Context,
    rules: RuleBook,
    windows: WindowBook,
    inhibition: InhibitionApi,
    defaults: DefaultsApi,
}

impl RoutingApi {
    pub fn new(
        ctx: Context,
        rules: RuleBook,
        windows: WindowBook,
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

fn to_stored(rule: &pb::RoutingRule, id: Uuid, created: chrono::DateTime<Utc>) -> StoredRule {
    StoredRule {
        id,
        name: rule.name.clone(),
        priority: rule.priority,
        enabled: rule.enabled,
        tags: rule.tags.clone(),
        body: rule.encode_to_vec(),
        created_at: created,
        updated_at: crate::clock::now(),
    }
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
        let now = crate::clock::now();
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
        rule.updated_at = Some(convert::timestamp(crate::clock::now()));
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
            rule.updated_at = Some(convert::timestamp(crate::clock::now()));
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
            None => crate::clock::now(),
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
            None => crate::clock::now(),
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
            maintenance_result: Some(check_result(held)),
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

//! Routing rules over gRPC: saved only when they compile, listed, reordered, tested one
//! at a time and simulated as a whole by the same decision the engine will take.

mod common;

use common::{ADMIN_TOKEN, Db, Server, authed};
use oncall::pb::alerting::routing::v1 as pb;
use oncall::pb::alerting::v1 as alerting;
use oncall::pb::directory::v1 as dir;
use tonic::Code;

fn webhook(url: &str) -> pb::RoutingAction {
    pb::RoutingAction {
        r#type: pb::ActionType::NotifyWebhook as i32,
        notify_webhook: Some(pb::NotifyWebhookAction {
            webhook_url: url.into(),
        }),
        ..Default::default()
    }
}

/// The contract's example: critical at IAD1 in London office hours goes to a webhook.
fn critical_iad_office_hours() -> pb::RoutingRule {
    pb::RoutingRule {
        name: "crit".into(),
        priority: 10,
        enabled: true,
        terminal: true,
        conditions: vec![
            pb::RoutingCondition {
                r#type: pb::ConditionType::Severity as i32,
                operator: pb::ConditionOperator::Equals as i32,
                string_value: "critical".into(),
                ..Default::default()
            },
            pb::RoutingCondition {
                r#type: pb::ConditionType::Cel as i32,
                cel_expression: "labels.site == 'IAD1'".into(),
                ..Default::default()
            },
        ],
        time_condition: Some(pb::TimeCondition {
            timezone: "Europe/London".into(),
            windows: vec![pb::TimeWindow {
                days_of_week: vec![1, 2, 3, 4, 5],
                start_time: "08:00".into(),
                end_time: "18:00".into(),
            }],
            invert: false,
        }),
        actions: vec![webhook("http://127.0.0.1:9/crit")],
        tags: vec!["core".into()],
        ..Default::default()
    }
}

fn sample(severity: alerting::Severity, site: &str) -> alerting::Alert {
    alerting::Alert {
        summary: "BGP session down".into(),
        severity: severity as i32,
        source: "alertmanager".into(),
        labels: [("site".to_string(), site.to_string())].into(),
        ..Default::default()
    }
}

fn at(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

/// Friday 27 November 2026, 12:00 and 20:00 UTC (= London).
const FRIDAY_NOON: i64 = 1_795_780_800;
const FRIDAY_EVENING: i64 = FRIDAY_NOON + 8 * 3600;

#[tokio::test]
async fn rules_are_checked_saved_ordered_tested_and_simulated() {
    let db = Db::sqlite();
    let server = Server::start(&db).await;
    let mut routing = server.routing().await;

    let crit = routing
        .create_routing_rule(authed(
            pb::CreateRoutingRuleRequest {
                rule: Some(critical_iad_office_hours()),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!crit.id.is_empty());
    assert!(!crit.created_by.is_empty());
    let mut catch_all = critical_iad_office_hours();
    catch_all.name = "everything else".into();
    catch_all.priority = 100;
    catch_all.terminal = false;
    catch_all.conditions.clear();
    catch_all.time_condition = None;
    catch_all.tags = vec!["fallback".into()];
    catch_all.actions = vec![webhook("http://127.0.0.1:9/all")];
    let fallback = routing
        .create_routing_rule(authed(
            pb::CreateRoutingRuleRequest {
                rule: Some(catch_all),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();

    // Bad rules are refused with the field at fault.
    for (mutate, field) in [
        (
            Box::new(|r: &mut pb::RoutingRule| {
                r.conditions[1].cel_expression = "labels.site ==".into()
            }) as Box<dyn Fn(&mut pb::RoutingRule)>,
            "rule.conditions[1].cel_expression",
        ),
        (
            Box::new(|r: &mut pb::RoutingRule| {
                r.conditions[0] = pb::RoutingCondition {
                    r#type: pb::ConditionType::Label as i32,
                    field: "device".into(),
                    operator: pb::ConditionOperator::Regex as i32,
                    regex_pattern: "(".into(),
                    ..Default::default()
                }
            }),
            "rule.conditions[0].regex_pattern",
        ),
        (
            Box::new(|r: &mut pb::RoutingRule| {
                r.time_condition.as_mut().unwrap().timezone = "Mars/Base".into()
            }),
            "rule.time_condition.timezone",
        ),
        (
            Box::new(|r: &mut pb::RoutingRule| r.actions[0] = webhook("ftp://x")),
            "rule.actions[0].notify_webhook.webhook_url",
        ),
        (
            Box::new(|r: &mut pb::RoutingRule| r.actions.clear()),
            "rule.actions",
        ),
        (
            Box::new(|r: &mut pb::RoutingRule| r.name.clear()),
            "rule.name",
        ),
    ] {
        let mut rule = critical_iad_office_hours();
        mutate(&mut rule);
        let err = routing
            .create_routing_rule(authed(
                pb::CreateRoutingRuleRequest { rule: Some(rule) },
                ADMIN_TOKEN,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err}");
        assert!(
            err.message().starts_with(field),
            "{field}: {}",
            err.message()
        );
    }

    // Only admins write rules.
    let (_, viewer) = server.user_with_token("vera", dir::Role::Viewer).await;
    let err = routing
        .create_routing_rule(authed(
            pb::CreateRoutingRuleRequest {
                rule: Some(critical_iad_office_hours()),
            },
            &viewer,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // Listing filters by tag and name.
    let listed = routing
        .list_routing_rules(authed(
            pb::ListRoutingRulesRequest {
                tags: vec!["core".into()],
                ..Default::default()
            },
            &viewer,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_count, 1);
    assert_eq!(listed.rules[0].name, "crit");

    // Simulation: critical at IAD1 on Friday noon hits the terminal rule only.
    let simulate = |alert: alerting::Alert, time: i64| pb::SimulateRoutingRequest {
        alert: Some(alert),
        simulate_time: at(time),
        include_disabled: false,
    };
    let noon = routing
        .simulate_routing(authed(
            simulate(sample(alerting::Severity::Critical, "IAD1"), FRIDAY_NOON),
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(noon.actions.len(), 1);
    assert_eq!(noon.actions[0].rule_id, crit.id);
    assert!(noon.evaluations[0].matched);
    assert_eq!(
        noon.evaluations[1].skipped_because,
        "an earlier terminal rule matched"
    );
    // In the evening the time condition fails and the fallback takes it.
    let evening = routing
        .simulate_routing(authed(
            simulate(sample(alerting::Severity::Critical, "IAD1"), FRIDAY_EVENING),
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!evening.evaluations[0].matched);
    let time = evening.evaluations[0].time_result.as_ref().unwrap();
    assert!(
        !time.matched && time.reason.contains("outside"),
        "{}",
        time.reason
    );
    assert_eq!(evening.actions.len(), 1);
    assert_eq!(evening.actions[0].rule_id, fallback.id);

    // TestRoutingRule explains each condition.
    let tested = routing
        .test_routing_rule(authed(
            pb::TestRoutingRuleRequest {
                rule_id: crit.id.clone(),
                rule: None,
                alert: Some(sample(alerting::Severity::High, "IAD1")),
                test_time: at(FRIDAY_NOON),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    let evaluation = tested.evaluation.unwrap();
    assert!(!evaluation.matched);
    let severity = &evaluation.condition_results[0];
    assert_eq!(
        (
            severity.expected.as_str(),
            severity.actual.as_str(),
            severity.matched
        ),
        ("critical", "high", false)
    );
    assert!(
        evaluation.condition_results[1].matched,
        "the CEL condition held"
    );
    assert!(tested.actions.is_empty());

    // Reorder puts the fallback first; update with a mask disables it.
    let reordered = routing
        .reorder_routing_rules(authed(
            pb::ReorderRoutingRulesRequest {
                rule_ids: vec![fallback.id.clone(), crit.id.clone()],
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reordered.rules[0].priority, 10);
    assert_eq!(reordered.rules[1].priority, 20);
    let mut disabled = fallback.clone();
    disabled.enabled = false;
    let updated = routing
        .update_routing_rule(authed(
            pb::UpdateRoutingRuleRequest {
                rule: Some(disabled),
                update_mask: vec!["enabled".into()],
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!updated.enabled);
    assert_eq!(updated.priority, 10, "fields outside the mask are kept");
    let simulated = routing
        .simulate_routing(authed(
            simulate(sample(alerting::Severity::Low, "FRA3"), FRIDAY_NOON),
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(simulated.actions.is_empty());
    assert_eq!(simulated.evaluations[0].skipped_because, "disabled");
    assert!(
        simulated
            .warnings
            .iter()
            .any(|w| w.contains("no default actions"))
    );
    let what_if = routing
        .simulate_routing(authed(
            pb::SimulateRoutingRequest {
                include_disabled: true,
                ..simulate(sample(alerting::Severity::Low, "FRA3"), FRIDAY_NOON)
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(what_if.actions.len(), 1);

    routing
        .delete_routing_rule(authed(
            pb::DeleteRoutingRuleRequest {
                id: fallback.id.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let err = routing
        .get_routing_rule(authed(
            pb::GetRoutingRuleRequest { id: fallback.id },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Rules survive a restart (they are compiled again from the store).
    let mut server = server;
    server.restart().await;
    let mut routing = server.routing().await;
    let after = routing
        .simulate_routing(authed(
            simulate(sample(alerting::Severity::Critical, "IAD1"), FRIDAY_NOON),
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.actions.len(), 1);
}

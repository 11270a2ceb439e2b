//! Routing for real: rules over gRPC, alerts in over a webhook, a local sink receives
//! exactly the expected POSTs, the audit log records the decision, and SimulateRouting
//! shows the decision the engine took.

mod common;

use common::{ADMIN_TOKEN, Db, Server, authed, eventually, fixture, webhook_sink};
use std::time::Duration;

use oncall::pb::alerting::routing::v1 as pb;
use oncall::pb::alerting::v1 as alerting;

fn condition(kind: pb::ConditionType, field: &str, value: &str) -> pb::RoutingCondition {
    pb::RoutingCondition {
        r#type: kind as i32,
        field: field.into(),
        operator: pb::ConditionOperator::Equals as i32,
        string_value: value.into(),
        ..Default::default()
    }
}

fn rule(
    name: &str,
    priority: i32,
    terminal: bool,
    conditions: Vec<pb::RoutingCondition>,
    actions: Vec<pb::RoutingAction>,
) -> pb::RoutingRule {
    pb::RoutingRule {
        name: name.into(),
        priority,
        enabled: true,
        terminal,
        conditions,
        actions,
        ..Default::default()
    }
}

fn action(kind: pb::ActionType) -> pb::RoutingAction {
    pb::RoutingAction {
        r#type: kind as i32,
        ..Default::default()
    }
}

#[tokio::test]
async fn rules_route_alerts_to_webhooks_and_record_why() {
    let (sink_url, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let (service, key) = server.service_with_key("core").await;
    let mut routing = server.routing().await;
    let create = |rule: pb::RoutingRule| {
        authed(
            pb::CreateRoutingRuleRequest { rule: Some(rule) },
            ADMIN_TOKEN,
        )
    };

    let mut page = action(pb::ActionType::NotifyWebhook);
    page.notify_webhook = Some(pb::NotifyWebhookAction {
        webhook_url: format!("{sink_url}/critical"),
    });
    let mut escalate = action(pb::ActionType::Escalate);
    escalate.escalate = Some(pb::EscalateAction {
        escalation_policy_id: uuid::Uuid::new_v4().to_string(),
    });
    let critical = routing
        .create_routing_rule(create(rule(
            "critical pages",
            10,
            true,
            vec![condition(pb::ConditionType::Severity, "", "critical")],
            vec![page, escalate],
        )))
        .await
        .unwrap()
        .into_inner();
    let mut set_team = action(pb::ActionType::SetLabel);
    set_team.set_label = Some(pb::SetLabelAction {
        key: "team".into(),
        value: "optics".into(),
    });
    routing
        .create_routing_rule(create(rule(
            "optics team",
            20,
            false,
            vec![condition(pb::ConditionType::Label, "alertname", "IfDown")],
            vec![set_team],
        )))
        .await
        .unwrap();
    let mut hush = action(pb::ActionType::Suppress);
    hush.suppress = Some(pb::SuppressAction {
        reason: "known flapping port".into(),
        duration: None,
    });
    let mut also_page = action(pb::ActionType::NotifyWebhook);
    also_page.notify_webhook = Some(pb::NotifyWebhookAction {
        webhook_url: format!("{sink_url}/noise"),
    });
    routing
        .create_routing_rule(create(rule(
            "noise",
            30,
            true,
            vec![condition(pb::ConditionType::Label, "alertname", "Noise")],
            vec![hush, also_page],
        )))
        .await
        .unwrap();

    // A critical BGP alert: one POST to the sink, and an escalation that fails in the
    // audit log because its policy does not exist (it was deleted, say).
    let (status, _, _) = server
        .post_json(
            &format!("/api/v1/webhook/alertmanager/{key}"),
            &fixture("alertmanager/am-0.25-webhook-1.json"),
        )
        .await;
    assert_eq!(status, 200);
    let posts = eventually("the webhook POST", async || {
        let posts = received.lock().unwrap().clone();
        (!posts.is_empty()).then_some(posts)
    })
    .await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].0, "/critical");
    assert_eq!(posts[0].1["fingerprint"], "920301b2e33ecfe9");
    assert_eq!(posts[0].1["severity"], "critical");
    assert_eq!(posts[0].1["rule"]["name"], "critical pages");
    let bgp = server
        .list_all(&service)
        .await
        .0
        .into_iter()
        .find(|a| a.fingerprint == "920301b2e33ecfe9")
        .unwrap();
    let audit = server.audit_of(&bgp.id).await;
    let outcomes: Vec<&str> = audit.actions.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["sent", "failed"]);
    assert!(
        audit.actions[1].detail.contains("not found"),
        "{}",
        audit.actions[1].detail
    );
    assert!(audit.actions.iter().all(|a| a.rule_id == critical.id));
    assert!(audit.evaluations[0].matched);
    let timeline = server
        .alerts()
        .await
        .get_alert_events(authed(
            alerting::GetAlertEventsRequest { id: bgp.id.clone() },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert!(
        timeline
            .iter()
            .any(|e| e.r#type == alerting::AlertEventType::Notified as i32)
    );

    // SimulateRouting shows the decision the engine took.
    let simulated = routing
        .simulate_routing(authed(
            pb::SimulateRoutingRequest {
                alert: Some(bgp.clone()),
                simulate_time: None,
                include_disabled: false,
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    let simulated_rules: Vec<&str> = simulated
        .actions
        .iter()
        .map(|a| a.rule_id.as_str())
        .collect();
    let audited_rules: Vec<&str> = audit.actions.iter().map(|a| a.rule_id.as_str()).collect();
    assert_eq!(simulated_rules, audited_rules);

    // The storm group: no POSTs (warning severity), but every IfDown gets its team label.
    let (status, _, _) = server
        .post_json(
            &format!("/api/v1/webhook/alertmanager/{key}"),
            &fixture("alertmanager/am-0.25-webhook-storm-group.json"),
        )
        .await;
    assert_eq!(status, 200);
    eventually("every storm alert labelled", async || {
        let alerts = server.list_all(&service).await.0;
        let labelled = alerts
            .iter()
            .filter(|a| a.labels.get("team").map(String::as_str) == Some("optics"))
            .count();
        (labelled == 235).then_some(())
    })
    .await;

    // Suppression holds the alert and sends nothing.
    let (status, _, body) = server
        .post_json(
            &format!("/api/v1/webhook/generic/{key}"),
            r#"{"summary": "port flapping", "labels": {"alertname": "Noise"}}"#,
        )
        .await;
    assert_eq!(status, 200);
    let id = body["alert"]["id"].as_str().unwrap().to_string();
    let mut alerts = server.alerts().await;
    eventually("suppression", async || {
        let alert = alerts
            .get_alert(authed(
                alerting::GetAlertRequest { id: id.clone() },
                ADMIN_TOKEN,
            ))
            .await
            .ok()?
            .into_inner();
        (alert.status == alerting::AlertStatus::Suppressed as i32).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let posts = received.lock().unwrap().clone();
    assert_eq!(
        posts.len(),
        1,
        "the suppressed alert was not posted: {posts:?}"
    );
    // A suppressed alert can still be resolved.
    alerts
        .resolve_alert(authed(
            alerting::ResolveAlertRequest {
                id,
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn default_actions_run_when_no_rule_matches_at_or_above_their_severity() {
    let (sink_url, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let (_, key) = server.service_with_key("core").await;
    let mut routing = server.routing().await;
    let update = |actions: Vec<pb::RoutingAction>, minimum: alerting::Severity| {
        authed(
            pb::UpdateDefaultRoutingRequest {
                defaults: Some(pb::DefaultRouting {
                    actions,
                    minimum_severity: minimum as i32,
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        )
    };
    let mut bad = action(pb::ActionType::NotifyWebhook);
    bad.notify_webhook = Some(pb::NotifyWebhookAction {
        webhook_url: "ftp://example.net".into(),
    });
    let err = routing
        .update_default_routing(update(vec![bad], alerting::Severity::High))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().starts_with("defaults.actions[0]"),
        "{}",
        err.message()
    );
    let mut page = action(pb::ActionType::NotifyWebhook);
    page.notify_webhook = Some(pb::NotifyWebhookAction {
        webhook_url: format!("{sink_url}/unrouted"),
    });
    routing
        .update_default_routing(update(vec![page.clone()], alerting::Severity::High))
        .await
        .unwrap();
    let saved = routing
        .get_default_routing(authed(pb::GetDefaultRoutingRequest {}, ADMIN_TOKEN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(saved.actions, vec![page]);
    assert_eq!(saved.minimum_severity, alerting::Severity::High as i32);

    let mut ids = Vec::new();
    for (summary, severity) in [("disk 80%", "low"), ("core down", "critical")] {
        let body = serde_json::json!({"summary": summary, "severity": severity}).to_string();
        let (status, _, answer) = server
            .post_json(&format!("/api/v1/webhook/generic/{key}"), &body)
            .await;
        assert_eq!(status, 200, "{answer}");
        ids.push(answer["alert"]["id"].as_str().unwrap().to_string());
    }
    let critical = server.audit_of(&ids[1]).await;
    assert!(critical.used_default_actions);
    assert_eq!(critical.actions[0].outcome, "sent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let posts = received.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "only the critical alert is posted");
    assert_eq!(posts[0].1["summary"], "core down");
}

#[tokio::test]
async fn a_timed_suppression_holds_then_lets_the_rule_page() {
    let (sink_url, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let (_, key) = server.service_with_key("core").await;
    let mut routing = server.routing().await;
    let mut hush = action(pb::ActionType::Suppress);
    hush.suppress = Some(pb::SuppressAction {
        reason: "flapping circuit: give it two seconds".into(),
        duration: Some(prost_types::Duration {
            seconds: 2,
            nanos: 0,
        }),
    });
    let mut page = action(pb::ActionType::NotifyWebhook);
    page.notify_webhook = Some(pb::NotifyWebhookAction {
        webhook_url: format!("{sink_url}/late"),
    });
    let rule = routing
        .create_routing_rule(authed(
            pb::CreateRoutingRuleRequest {
                rule: Some(rule("hold then page", 1, true, vec![], vec![hush, page])),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    let (status, _, body) = server
        .post_json(
            &format!("/api/v1/webhook/generic/{key}"),
            &fixture("generic/minimal.json"),
        )
        .await;
    assert_eq!(status, 200);
    let id = body["alert"]["id"].as_str().unwrap().to_string();
    let first = server.audit_of(&id).await;
    assert_eq!(first.actions[0].outcome, "suppressed");
    assert_eq!(first.actions[1].outcome, "skipped");
    let mut alerts = server.alerts().await;
    let status_now = async |alerts: &mut alerting::alert_service_client::AlertServiceClient<_>| {
        alerts
            .get_alert(authed(
                alerting::GetAlertRequest { id: id.clone() },
                ADMIN_TOKEN,
            ))
            .await
            .unwrap()
            .into_inner()
            .status
    };
    assert_eq!(
        status_now(&mut alerts).await,
        alerting::AlertStatus::Suppressed as i32
    );
    assert!(received.lock().unwrap().is_empty());

    let posts = eventually("the late page", async || {
        let posts = received.lock().unwrap().clone();
        (!posts.is_empty()).then_some(posts)
    })
    .await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].1["rule"]["id"], rule.id.as_str());
    assert_eq!(
        status_now(&mut alerts).await,
        alerting::AlertStatus::Triggered as i32
    );
    // The release's audit entry is written once its routing batch is done.
    let last = eventually("the audit entry of the release", async || {
        let last = server.audit_of(&id).await;
        (last.actions.first()?.outcome == "expired").then_some(last)
    })
    .await;
    assert_eq!(last.actions[1].outcome, "sent");
}

#[tokio::test]
async fn private_destinations_are_refused_by_default() {
    let (sink_url, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start(&db).await;
    let (_, key) = server.service_with_key("strict").await;
    let mut routing = server.routing().await;
    let mut page = action(pb::ActionType::NotifyWebhook);
    page.notify_webhook = Some(pb::NotifyWebhookAction {
        webhook_url: format!("{sink_url}/all"),
    });
    routing
        .create_routing_rule(authed(
            pb::CreateRoutingRuleRequest {
                rule: Some(rule("all", 1, true, vec![], vec![page])),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let (status, _, body) = server
        .post_json(
            &format!("/api/v1/webhook/generic/{key}"),
            r#"{"summary": "x"}"#,
        )
        .await;
    assert_eq!(status, 200);
    let id = body["alert"]["id"].as_str().unwrap().to_string();
    let audit = server.audit_of(&id).await;
    assert_eq!(audit.actions[0].outcome, "refused");
    assert!(
        audit.actions[0].detail.contains("private"),
        "{}",
        audit.actions[0].detail
    );
    assert!(received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_aggregate_rule_turns_a_storm_into_one_post_per_group_and_window() {
    let (sink_url, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let (_, key) = server.service_with_key("storm").await;
    let mut routing = server.routing().await;
    let mut group = action(pb::ActionType::Aggregate);
    group.aggregate = Some(pb::AggregateAction {
        group_by: vec!["site".into()],
        window: Some(prost_types::Duration {
            seconds: 2,
            nanos: 0,
        }),
        max_alerts: 0,
        target: Some(pb::ChannelTarget {
            channel: pb::ChannelType::Webhook as i32,
            webhook: Some(pb::WebhookTarget {
                url: format!("{sink_url}/grouped"),
            }),
            ..Default::default()
        }),
    });
    routing
        .create_routing_rule(authed(
            pb::CreateRoutingRuleRequest {
                rule: Some(rule(
                    "group interface storms",
                    1,
                    true,
                    vec![condition(pb::ConditionType::Label, "alertname", "IfDown")],
                    vec![group],
                )),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    // 50 alerts at IAD1, then 10 at FRA3, inside one window.
    let (status, _, _) = server
        .post_json(
            &format!("/api/v1/webhook/alertmanager/{key}"),
            &common::alertmanager_batch(0, 50),
        )
        .await;
    assert_eq!(status, 200);
    let fra3 = common::alertmanager_batch(1_000, 10).replace("IAD1", "FRA3");
    let (status, _, _) = server
        .post_json(&format!("/api/v1/webhook/alertmanager/{key}"), &fra3)
        .await;
    assert_eq!(status, 200);
    let posts = eventually("two grouped POSTs", async || {
        let posts = received.lock().unwrap().clone();
        (posts.len() >= 2).then_some(posts)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        received.lock().unwrap().len(),
        2,
        "one POST per group per window"
    );
    let mut counts: Vec<(String, u64)> = posts
        .iter()
        .map(|(path, body)| {
            assert_eq!(path, "/grouped");
            assert_eq!(body["rule"]["name"], "group interface storms");
            (
                body["group"]["site"].as_str().unwrap().to_string(),
                body["count"].as_u64().unwrap(),
            )
        })
        .collect();
    counts.sort();
    assert_eq!(counts, [("FRA3".to_string(), 10), ("IAD1".to_string(), 50)]);
}

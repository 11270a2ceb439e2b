//! Escalation over gRPC with short delays: pages arrive in step order, an ack stops the
//! chain, a `kill -9` between steps neither loses nor repeats a page, routing's
//! `escalate` action starts a chain, and a handover cycle is refused.

mod common;

use common::admin::{seconds, step, to_user};
use common::{ADMIN_TOKEN, Db, Server, authed, eventually, paged, webhook_sink};
use futures_util::StreamExt;
use std::time::Duration;

use oncall::pb::alerting::routing::v1 as pb;
use oncall::pb::alerting::routing::v1::escalation_service_client::EscalationServiceClient;
use oncall::pb::alerting::v1 as alerting;
use tonic::Code;

async fn policy(
    client: &mut EscalationServiceClient<tonic::transport::Channel>,
    name: &str,
    steps: Vec<pb::EscalationStep>,
) -> pb::EscalationPolicy {
    client
        .create_escalation_policy(authed(
            pb::CreateEscalationPolicyRequest {
                policy: Some(pb::EscalationPolicy {
                    name: name.into(),
                    steps,
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn new_alert(server: &Server, key: &str, summary: &str) -> String {
    let body = serde_json::json!({"summary": summary, "severity": "critical"}).to_string();
    let (status, _, answer) = server
        .post_json(&format!("/api/v1/webhook/generic/{key}"), &body)
        .await;
    assert_eq!(status, 200, "{answer}");
    answer["alert"]["id"].as_str().unwrap().to_string()
}

async fn escalate(server: &Server, alert: &str, reason: &str) {
    server
        .alerts()
        .await
        .escalate_alert(authed(
            alerting::EscalateAlertRequest {
                id: alert.into(),
                reason: reason.into(),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
}

async fn acknowledge(server: &Server, alert: &str, user: &str) {
    server
        .alerts()
        .await
        .acknowledge_alert(authed(
            alerting::AcknowledgeAlertRequest {
                id: alert.into(),
                user_id: user.into(),
                note: "on it".into(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
}

async fn start(
    client: &mut EscalationServiceClient<tonic::transport::Channel>,
    alert: &str,
    policy: &str,
) -> pb::EscalationStatus {
    client
        .start_escalation(authed(
            pb::StartEscalationRequest {
                alert_id: alert.into(),
                policy_id: policy.into(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn steps_page_in_order_and_an_ack_stops_the_chain() {
    let (sink, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let (_, key) = server.service_with_key("core").await;
    let alice = server.pageable_user(&sink, "alice").await;
    let bob = server.pageable_user(&sink, "bob").await;
    let mut escalation = server.escalation().await;
    let core = policy(
        &mut escalation,
        "core",
        vec![step(0, vec![to_user(&alice)]), step(2, vec![to_user(&bob)])],
    )
    .await;

    let first = new_alert(&server, &key, "core-1 down").await;
    let chain = start(&mut escalation, &first, &core.id).await;
    assert_eq!(chain.status, "active");
    let again = start(&mut escalation, &first, &core.id).await;
    assert_eq!(
        again.chain_id, chain.chain_id,
        "one chain per alert and policy"
    );
    eventually("both steps", async || {
        (paged(&received, &first).len() >= 2).then_some(())
    })
    .await;
    assert_eq!(paged(&received, &first), ["alice", "bob"]);
    let status = escalation
        .get_escalation_status(authed(
            pb::GetEscalationStatusRequest {
                alert_id: first.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    let chain = &status.chains[0];
    assert_eq!(chain.status, "exhausted");
    let outcomes: Vec<(i32, &str)> = chain
        .pages
        .iter()
        .map(|p| (p.step_number, p.outcome.as_str()))
        .collect();
    assert_eq!(outcomes, [(1, "sent"), (2, "sent")]);

    // Acknowledged after the first page: the second never comes.
    let second = new_alert(&server, &key, "core-2 down").await;
    start(&mut escalation, &second, &core.id).await;
    eventually("the first page", async || {
        (!paged(&received, &second).is_empty()).then_some(())
    })
    .await;
    acknowledge(&server, &second, &alice).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(paged(&received, &second), ["alice"]);

    // EscalateAlert fires the pending step now rather than in a minute.
    let slow = policy(
        &mut escalation,
        "slow",
        vec![
            step(0, vec![to_user(&alice)]),
            step(60, vec![to_user(&bob)]),
        ],
    )
    .await;
    let third = new_alert(&server, &key, "core-3 down").await;
    start(&mut escalation, &third, &slow.id).await;
    eventually("the first page", async || {
        (!paged(&received, &third).is_empty()).then_some(())
    })
    .await;
    escalate(&server, &third, "nobody answers").await;
    eventually("the escalated page", async || {
        (paged(&received, &third).len() >= 2).then_some(())
    })
    .await;
    assert_eq!(paged(&received, &third), ["alice", "bob"]);

    // A step whose skip condition holds pages nobody; a bad condition is refused.
    let mut skipping = step(0, vec![to_user(&alice)]);
    skipping.skip_condition_cel = "alert.severity == 'critical' &&".into();
    let refused = escalation
        .create_escalation_policy(authed(
            pb::CreateEscalationPolicyRequest {
                policy: Some(pb::EscalationPolicy {
                    name: "skipping".into(),
                    steps: vec![skipping.clone()],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused
            .message()
            .starts_with("policy.steps[0].skip_condition_cel"),
        "{}",
        refused.message()
    );
    skipping.skip_condition_cel = "alert.severity == 'critical'".into();
    let skip_criticals = policy(
        &mut escalation,
        "skip criticals",
        vec![skipping, step(1, vec![to_user(&bob)])],
    )
    .await;
    let fourth = new_alert(&server, &key, "core-4 down").await;
    start(&mut escalation, &fourth, &skip_criticals.id).await;
    eventually("the second step's page", async || {
        (!paged(&received, &fourth).is_empty()).then_some(())
    })
    .await;
    assert_eq!(paged(&received, &fourth), ["bob"]);
}

#[tokio::test]
async fn a_kill_between_steps_neither_loses_nor_repeats_a_page() {
    let (sink, received) = webhook_sink().await;
    let db = Db::sqlite();
    let mut server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let (_, key) = server.service_with_key("core").await;
    let alice = server.pageable_user(&sink, "alice").await;
    let bob = server.pageable_user(&sink, "bob").await;
    let mut escalation = server.escalation().await;
    let core = policy(
        &mut escalation,
        "core",
        vec![step(0, vec![to_user(&alice)]), step(3, vec![to_user(&bob)])],
    )
    .await;
    let alert = new_alert(&server, &key, "core-1 down").await;
    start(&mut escalation, &alert, &core.id).await;
    // Between steps: the first page is sent and its outcome stored.
    eventually("the first page's outcome stored", async || {
        let chains = escalation
            .get_escalation_status(authed(
                pb::GetEscalationStatusRequest {
                    alert_id: alert.clone(),
                },
                ADMIN_TOKEN,
            ))
            .await
            .ok()?
            .into_inner()
            .chains;
        let page = chains.first()?.pages.first()?;
        (page.outcome == "sent").then_some(())
    })
    .await;
    assert_eq!(paged(&received, &alert), ["alice"]);
    // Killed between steps: the second step is due while the server is down.
    server.restart().await;
    eventually("the second page after the restart", async || {
        (paged(&received, &alert).len() >= 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(paged(&received, &alert), ["alice", "bob"]);
}

#[tokio::test]
async fn routing_escalates_and_cycles_are_refused() {
    let (sink, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let (_, key) = server.service_with_key("core").await;
    let alice = server.pageable_user(&sink, "alice").await;
    let mut escalation = server.escalation().await;
    let tier2 = policy(
        &mut escalation,
        "tier 2",
        vec![step(0, vec![to_user(&alice)])],
    )
    .await;
    let tier1 = policy(
        &mut escalation,
        "tier 1",
        vec![step(
            0,
            vec![pb::EscalationTarget {
                r#type: pb::EscalationTargetType::Policy as i32,
                policy_id: tier2.id.clone(),
                ..Default::default()
            }],
        )],
    )
    .await;
    let mut looping = tier2.clone();
    looping.steps[0].targets.push(pb::EscalationTarget {
        r#type: pb::EscalationTargetType::Policy as i32,
        policy_id: tier1.id.clone(),
        ..Default::default()
    });
    let refused = escalation
        .update_escalation_policy(authed(
            pb::UpdateEscalationPolicyRequest {
                policy: Some(looping),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("tier 1 → tier 2 → tier 1")
            || refused.message().contains("tier 2 → tier 1 → tier 2"),
        "{}",
        refused.message()
    );
    let in_use = escalation
        .delete_escalation_policy(authed(
            pb::DeleteEscalationPolicyRequest {
                id: tier2.id.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(in_use.code(), Code::FailedPrecondition);

    // Routing's escalate action starts a chain on tier 1, which hands over to tier 2.
    server
        .routing()
        .await
        .create_routing_rule(authed(
            pb::CreateRoutingRuleRequest {
                rule: Some(pb::RoutingRule {
                    name: "escalate everything".into(),
                    enabled: true,
                    actions: vec![pb::RoutingAction {
                        r#type: pb::ActionType::Escalate as i32,
                        escalate: Some(pb::EscalateAction {
                            escalation_policy_id: tier1.id.clone(),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let alert = new_alert(&server, &key, "core-9 down").await;
    eventually("the handed-over page", async || {
        (!paged(&received, &alert).is_empty()).then_some(())
    })
    .await;
    let audit = server.audit_of(&alert).await;
    assert_eq!(audit.actions[0].outcome, "escalating");
    let status = escalation
        .get_escalation_status(authed(
            pb::GetEscalationStatusRequest {
                alert_id: alert.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    let states: Vec<(&str, &str)> = status
        .chains
        .iter()
        .map(|c| (c.policy_id.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            (tier1.id.as_str(), "handed_over"),
            (tier2.id.as_str(), "exhausted")
        ]
    );
}

/// Percentile of sorted milliseconds.
fn percentile(sorted: &[i64], p: f64) -> i64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::test]
async fn a_thousand_concurrent_chains_complete_without_a_duplicate_page() {
    const CHAINS: usize = 1_000;
    let (sink, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let (service, key) = server.service_with_key("storm").await;
    let channel = |path: &str| pb::EscalationTarget {
        r#type: pb::EscalationTargetType::Channel as i32,
        webhook_url: format!("{sink}/{path}"),
        ..Default::default()
    };
    let mut escalation = server.escalation().await;
    let storm = policy(
        &mut escalation,
        "storm",
        vec![
            step(0, vec![channel("first")]),
            step(2, vec![channel("second")]),
        ],
    )
    .await;
    let (status, _, _) = server
        .post_json(
            &format!("/api/v1/webhook/alertmanager/{key}"),
            &common::alertmanager_batch(0, CHAINS),
        )
        .await;
    assert_eq!(status, 200);
    let alerts: Vec<String> = server
        .list_all(&service)
        .await
        .0
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(alerts.len(), CHAINS);
    let starts = alerts.iter().map(|alert| {
        let mut client = escalation.clone();
        let (alert, policy) = (alert.clone(), storm.id.clone());
        async move { start(&mut client, &alert, &policy).await }
    });
    futures_util::stream::iter(starts)
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;

    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while received.lock().unwrap().len() < 2 * CHAINS {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {} pages arrived",
            received.lock().unwrap().len(),
            2 * CHAINS
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let posts = received.lock().unwrap().clone();
    assert_eq!(posts.len(), 2 * CHAINS, "no page twice");
    let mut seen = std::collections::HashSet::new();
    for (path, body) in &posts {
        let alert = body["alert"]["id"].as_str().unwrap_or_default().to_string();
        assert!(seen.insert((path.clone(), alert)), "duplicate page {path}");
    }

    // Timer lateness: how long after its due time each step fired.
    let mut late_ms = Vec::with_capacity(2 * CHAINS);
    for alert in &alerts {
        let chains = escalation
            .get_escalation_status(authed(
                pb::GetEscalationStatusRequest {
                    alert_id: alert.clone(),
                },
                ADMIN_TOKEN,
            ))
            .await
            .unwrap()
            .into_inner()
            .chains;
        let chain = &chains[0];
        assert_eq!(chain.status, "exhausted");
        let millis = |t: &Option<prost_types::Timestamp>| {
            t.map(|t| t.seconds * 1_000 + i64::from(t.nanos) / 1_000_000)
                .unwrap_or_default()
        };
        let started = millis(&chain.started_at);
        let first = millis(&chain.pages[0].created_at);
        let second = millis(&chain.pages[1].created_at);
        late_ms.push(first - started);
        late_ms.push(second - first - 2_000);
    }
    late_ms.sort_unstable();
    println!(
        "escalation timer lateness over {} steps of {CHAINS} concurrent chains: p50 {} ms, p99 {} ms, max {} ms",
        late_ms.len(),
        percentile(&late_ms, 0.50),
        percentile(&late_ms, 0.99),
        late_ms[late_ms.len() - 1]
    );
}

/// An alert of a customer tier, sent over the generic webhook.
async fn tier_alert(server: &Server, key: &str, tier: &str, severity: &str) -> String {
    let body = serde_json::json!({
        "summary": format!("{tier} customer down"),
        "severity": severity,
        "labels": {"customer_tier": tier},
    })
    .to_string();
    let (status, _, answer) = server
        .post_json(&format!("/api/v1/webhook/generic/{key}"), &body)
        .await;
    assert_eq!(status, 200, "{answer}");
    answer["alert"]["id"].as_str().unwrap().to_string()
}

async fn tier(server: &Server, name: &str, multiplier: f64, critical_response: i64) {
    server
        .tiers()
        .await
        .create_customer_tier(authed(
            pb::CreateCustomerTierRequest {
                tier: Some(pb::CustomerTier {
                    name: name.into(),
                    level: 1,
                    escalation_multiplier: multiplier,
                    critical_response: (critical_response > 0)
                        .then(|| seconds(critical_response))
                        .flatten(),
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn customer_tiers_scale_delays_and_an_sla_breach_jumps_to_the_next_step() {
    let (sink, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let (_, key) = server.service_with_key("customers").await;
    let alice = server.pageable_user(&sink, "alice").await;
    let bob = server.pageable_user(&sink, "bob").await;
    tier(&server, "enterprise", 0.5, 0).await;
    tier(&server, "platinum", 1.0, 1).await;
    let mut escalation = server.escalation().await;

    // Enterprise: a 4 s step comes after about 2 s.
    let tiered = policy(
        &mut escalation,
        "tiered",
        vec![step(0, vec![to_user(&alice)]), step(4, vec![to_user(&bob)])],
    )
    .await;
    let enterprise = tier_alert(&server, &key, "enterprise", "warning").await;
    start(&mut escalation, &enterprise, &tiered.id).await;
    eventually("the first page", async || {
        (!paged(&received, &enterprise).is_empty()).then_some(())
    })
    .await;
    let first = std::time::Instant::now();
    eventually("the second page", async || {
        (paged(&received, &enterprise).len() >= 2).then_some(())
    })
    .await;
    let gap = first.elapsed();
    assert!(
        gap >= Duration::from_millis(1_200) && gap <= Duration::from_millis(3_500),
        "the 4 s step came after {gap:?}"
    );

    // Platinum answers critical alerts within 1 s: past it, the 60 s step fires at once.
    let slow = policy(
        &mut escalation,
        "slow",
        vec![
            step(0, vec![to_user(&alice)]),
            step(60, vec![to_user(&bob)]),
        ],
    )
    .await;
    let platinum = tier_alert(&server, &key, "platinum", "critical").await;
    start(&mut escalation, &platinum, &slow.id).await;
    eventually("the SLA breach's page", async || {
        (paged(&received, &platinum).len() >= 2).then_some(())
    })
    .await;
    assert_eq!(paged(&received, &platinum), ["alice", "bob"]);
    let alert = server.alert(&platinum).await;
    let breaches: Vec<&alerting::AlertEvent> = alert
        .events
        .iter()
        .filter(|e| e.r#type == alerting::AlertEventType::SlaBreached as i32)
        .collect();
    assert_eq!(breaches.len(), 1, "{:?}", alert.events);
    assert!(
        breaches[0].message.contains("platinum"),
        "{:?}",
        breaches[0]
    );

    // An enterprise alert has no SLA at its severity: no breach is recorded.
    let events = server.alert(&enterprise).await.events;
    assert!(
        events
            .iter()
            .all(|e| e.r#type != alerting::AlertEventType::SlaBreached as i32)
    );
}

/// Sets a service's escalation defaults.
async fn configure_service(server: &Server, service: &str, update: alerting::UpdateServiceRequest) {
    server
        .catalog()
        .await
        .update_service(authed(
            alerting::UpdateServiceRequest {
                id: service.into(),
                ..update
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn services_and_teams_escalate_by_default() {
    let (sink, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let alice = server.pageable_user(&sink, "alice").await;
    let bob = server.pageable_user(&sink, "bob").await;
    let mut escalation = server.escalation().await;
    let to_alice = policy(
        &mut escalation,
        "to alice",
        vec![step(0, vec![to_user(&alice)])],
    )
    .await;
    let to_bob = policy(
        &mut escalation,
        "to bob",
        vec![step(0, vec![to_user(&bob)])],
    )
    .await;

    // A service's own default policy, with no routing rule at all.
    let (edge, edge_key) = server.service_with_key("edge").await;
    let status = server
        .catalog()
        .await
        .update_service(authed(
            alerting::UpdateServiceRequest {
                id: edge.clone(),
                update_mask: vec!["escalation_policy_id".into()],
                escalation_policy_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect_err("an unknown policy");
    assert_eq!(
        status.message(),
        "escalation_policy_id: no such escalation policy"
    );
    configure_service(
        &server,
        &edge,
        alerting::UpdateServiceRequest {
            update_mask: vec!["escalation_policy_id".into()],
            escalation_policy_id: to_alice.id.clone(),
            ..Default::default()
        },
    )
    .await;
    let on_edge = new_alert(&server, &edge_key, "edge-1 down").await;
    eventually("the service default's page", async || {
        (!paged(&received, &on_edge).is_empty()).then_some(())
    })
    .await;
    assert_eq!(paged(&received, &on_edge), ["alice"]);

    // A service without one takes the default of a team that looks after it.
    let (core, core_key) = server.service_with_key("core").await;
    server
        .teams()
        .await
        .create_team(authed(
            pb::CreateTeamRequest {
                team: Some(pb::Team {
                    name: "backbone".into(),
                    service_ids: vec![core.clone()],
                    default_escalation_policy_id: to_bob.id.clone(),
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let on_core = new_alert(&server, &core_key, "core-1 down").await;
    eventually("the team default's page", async || {
        (!paged(&received, &on_core).is_empty()).then_some(())
    })
    .await;
    assert_eq!(paged(&received, &on_core), ["bob"]);
    let audit = server.audit_of(&on_core).await;
    assert!(
        audit
            .actions
            .iter()
            .any(|a| a.outcome == "escalating" && a.detail.contains("default policy")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn an_ack_timeout_triggers_again_and_restarts_the_chain_and_silence_resolves() {
    let (sink, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let alice = server.pageable_user(&sink, "alice").await;
    let mut escalation = server.escalation().await;
    let to_alice = policy(
        &mut escalation,
        "to alice",
        vec![step(0, vec![to_user(&alice)])],
    )
    .await;
    let (edge, key) = server.service_with_key("edge").await;
    configure_service(
        &server,
        &edge,
        alerting::UpdateServiceRequest {
            update_mask: vec!["escalation_policy_id".into(), "ack_timeout".into()],
            escalation_policy_id: to_alice.id.clone(),
            ack_timeout: seconds(2),
            ..Default::default()
        },
    )
    .await;
    let alert = new_alert(&server, &key, "edge-1 down").await;
    eventually("the first page", async || {
        (!paged(&received, &alert).is_empty()).then_some(())
    })
    .await;
    acknowledge(&server, &alert, &alice).await;
    // Not resolved within 2 s: triggered again, and the chain pages from step 1 again.
    eventually("the page after the ack timed out", async || {
        (paged(&received, &alert).len() >= 2).then_some(())
    })
    .await;
    let again = server.alert(&alert).await;
    assert_eq!(again.status, alerting::AlertStatus::Triggered as i32);
    assert!(
        again
            .events
            .iter()
            .any(|e| e.message.contains("ack timeout of 2s: triggered again")),
        "{:?}",
        again.events
    );
    let status = escalation
        .get_escalation_status(authed(
            pb::GetEscalationStatusRequest {
                alert_id: alert.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    let generations: Vec<i32> = status.chains.iter().map(|c| c.generation).collect();
    assert!(
        generations.contains(&0) && generations.contains(&1),
        "{status:?}"
    );
    assert_eq!(paged(&received, &alert), ["alice", "alice"]);

    // Auto-resolve: a source silent for 2 s has its open alerts resolved by the system.
    configure_service(
        &server,
        &edge,
        alerting::UpdateServiceRequest {
            update_mask: vec!["auto_resolve_after".into()],
            auto_resolve_after: seconds(2),
            ..Default::default()
        },
    )
    .await;
    let resolved = eventually("the auto-resolve", async || {
        let now = server.alert(&alert).await;
        (now.status == alerting::AlertStatus::Resolved as i32).then_some(now)
    })
    .await;
    assert_eq!(resolved.resolved_by, "system");
}

/// The value of a gauge on `/metrics`.
async fn gauge(server: &Server, name: &str) -> i64 {
    let text = reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

#[tokio::test]
async fn idle_chains_give_up_their_actors_and_come_back_when_needed() {
    let (sink, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(
        &db,
        &["--allow-private-destinations", "--actor-idle-seconds", "1"],
    )
    .await;
    let (_, key) = server.service_with_key("core").await;
    let alice = server.pageable_user(&sink, "alice").await;
    let bob = server.pageable_user(&sink, "bob").await;
    let mut escalation = server.escalation().await;
    let slow = policy(
        &mut escalation,
        "slow",
        vec![
            step(0, vec![to_user(&alice)]),
            step(60, vec![to_user(&bob)]),
        ],
    )
    .await;
    let soon = policy(
        &mut escalation,
        "soon",
        vec![step(0, vec![to_user(&alice)]), step(3, vec![to_user(&bob)])],
    )
    .await;

    // A minute to the next step: the chain waits without an actor.
    let escalated = new_alert(&server, &key, "core-1 down").await;
    let acked = new_alert(&server, &key, "core-2 down").await;
    for alert in [&escalated, &acked] {
        start(&mut escalation, alert, &slow.id).await;
    }
    eventually("both chains passive", async || {
        (gauge(&server, "oncall_escalation_chains_passive").await == 2).then_some(())
    })
    .await;
    // EscalateAlert brings one back and fires its step now.
    escalate(&server, &escalated, "customer on the phone").await;
    eventually("the escalated step", async || {
        (paged(&received, &escalated).len() >= 2).then_some(())
    })
    .await;
    assert_eq!(paged(&received, &escalated), ["alice", "bob"]);
    // An ack stops a passive chain for good.
    acknowledge(&server, &acked, &alice).await;
    let status = eventually("the stopped chain", async || {
        let status = escalation
            .get_escalation_status(authed(
                pb::GetEscalationStatusRequest {
                    alert_id: acked.clone(),
                },
                ADMIN_TOKEN,
            ))
            .await
            .ok()?
            .into_inner();
        (status.chains.first()?.status == "stopped").then_some(status)
    })
    .await;
    assert_eq!(status.chains.len(), 1);

    // A passive chain wakes for its step on its own.
    let woken = new_alert(&server, &key, "core-3 down").await;
    start(&mut escalation, &woken, &soon.id).await;
    eventually("the woken chain's step", async || {
        (paged(&received, &woken).len() >= 2).then_some(())
    })
    .await;
    assert_eq!(paged(&received, &woken), ["alice", "bob"]);
    assert_eq!(paged(&received, &acked), ["alice"], "no page after the ack");
    eventually("no chain left", async || {
        (gauge(&server, "oncall_escalation_chains_passive").await == 0
            && gauge(&server, "oncall_escalation_chains_live").await == 0)
            .then_some(())
    })
    .await;
}

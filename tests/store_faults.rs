//! What escalation does when its store fails under it, with the server in-process on a
//! store that fails on demand: a policy or schedule that changed and cannot be read
//! again leaves the step pending (never "exhausted", never "nobody on call"), and once
//! the store answers the step pages exactly once. (Unchanged policies and schedules are
//! read from the compiled books, so the store is not asked at all.) "Nobody on call" is only the schedule's real answer, and
//! then the step's status and the alert's timeline say so.

mod common;

use std::time::Duration;

use common::{ADMIN_TOKEN, Db, Received, Server, authed, eventually, webhook_sink};
use oncall::pb::alerting::routing::v1 as pb;
use oncall::pb::alerting::v1 as alerting;
use oncall::pb::directory::v1 as dir;

/// A user paged through a verified webhook on the sink, at `/<name>`.
async fn pageable(server: &Server, sink: &str, name: &str) -> String {
    let (user, _) = server.user_with_token(name, dir::Role::Responder).await;
    server
        .users()
        .await
        .add_contact_method(authed(
            dir::AddContactMethodRequest {
                user_id: user.clone(),
                method: Some(dir::ContactMethod {
                    r#type: dir::ContactMethodType::Webhook as i32,
                    address: format!("{sink}/{name}"),
                    verified: true,
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    user
}

/// A schedule whose one daily rotation has `user` on call from `start`.
async fn schedule(server: &Server, user: &str, start: i64) -> String {
    server
        .schedules()
        .await
        .create_schedule(authed(
            pb::CreateScheduleRequest {
                schedule: Some(pb::Schedule {
                    name: format!("NOC {start}"),
                    timezone: "UTC".into(),
                    rotations: vec![pb::Rotation {
                        name: "level 1".into(),
                        r#type: pb::RotationType::Daily as i32,
                        members: vec![pb::RotationMember {
                            user_id: user.into(),
                            position: 1,
                        }],
                        start_time: Some(prost_types::Timestamp {
                            seconds: start,
                            nanos: 0,
                        }),
                        shift_config: Some(pb::ShiftConfig {
                            handoff_time: "08:00".into(),
                            ..Default::default()
                        }),
                        level: 1,
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
        .id
}

/// A policy of one step, `delay` seconds after the start, paging `target`.
async fn one_step_policy(
    server: &Server,
    name: &str,
    delay: i64,
    target: pb::EscalationTarget,
) -> String {
    server
        .escalation()
        .await
        .create_escalation_policy(authed(
            pb::CreateEscalationPolicyRequest {
                policy: Some(pb::EscalationPolicy {
                    name: name.into(),
                    steps: vec![pb::EscalationStep {
                        delay: Some(prost_types::Duration {
                            seconds: delay,
                            nanos: 0,
                        }),
                        targets: vec![target],
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
        .id
}

fn on_schedule(schedule: &str) -> pb::EscalationTarget {
    pb::EscalationTarget {
        r#type: pb::EscalationTargetType::Schedule as i32,
        schedule_id: schedule.into(),
        level: 1,
        ..Default::default()
    }
}

fn to_user(user: &str) -> pb::EscalationTarget {
    pb::EscalationTarget {
        r#type: pb::EscalationTargetType::User as i32,
        user_id: user.into(),
        ..Default::default()
    }
}

async fn new_alert(server: &Server, key: &str, summary: &str) -> String {
    let body = serde_json::json!({"summary": summary, "severity": "critical"}).to_string();
    let (status, _, answer) = server
        .post_json(&format!("/api/v1/webhook/generic/{key}"), &body)
        .await;
    assert_eq!(status, 200, "{answer}");
    answer["alert"]["id"].as_str().unwrap().to_string()
}

async fn start(server: &Server, alert: &str, policy: &str) {
    server
        .escalation()
        .await
        .start_escalation(authed(
            pb::StartEscalationRequest {
                alert_id: alert.into(),
                policy_id: policy.into(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
}

/// Saves the policy again under a new name: its compiled form is stale until reread.
async fn edit_policy(server: &Server, id: &str) {
    let mut client = server.escalation().await;
    let mut policy = client
        .get_escalation_policy(authed(
            pb::GetEscalationPolicyRequest { id: id.into() },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    policy.name.push_str(" (edited)");
    client
        .update_escalation_policy(authed(
            pb::UpdateEscalationPolicyRequest {
                policy: Some(policy),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
}

/// Saves the schedule again under a new name: its compiled form is stale until reread.
async fn edit_schedule(server: &Server, id: &str) {
    let mut client = server.schedules().await;
    let mut schedule = client
        .get_schedule(authed(pb::GetScheduleRequest { id: id.into() }, ADMIN_TOKEN))
        .await
        .unwrap()
        .into_inner();
    schedule.name.push_str(" (edited)");
    client
        .update_schedule(authed(
            pb::UpdateScheduleRequest {
                schedule: Some(schedule),
                update_mask: Vec::new(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
}

async fn status(server: &Server, alert: &str) -> pb::EscalationStatus {
    server
        .escalation()
        .await
        .get_escalation_status(authed(
            pb::GetEscalationStatusRequest {
                alert_id: alert.into(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
        .chains
        .remove(0)
}

fn pages_to(received: &Received, alert: &str) -> usize {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, body)| body["type"] == "page" && body["alert"]["id"] == alert)
        .count()
}

/// Waits while the store refuses `method` until it has refused `times` calls.
async fn refused(faults: &oncall::store::Faults, method: &str, times: u64) {
    eventually(&format!("{times} refused calls to {method}"), async || {
        (faults.refused(method) >= times).then_some(())
    })
    .await;
}

/// The step's page, once the store answers again; and no second one after.
async fn paged_once(server: &Server, received: &Received, alert: &str) {
    eventually("the page", async || {
        (pages_to(received, alert) == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(pages_to(received, alert), 1, "paged exactly once");
    let chain = status(server, alert).await;
    assert_eq!(chain.pages.len(), 1, "{chain:?}");
    assert_eq!(chain.pages[0].outcome, "sent", "{chain:?}");
}

#[tokio::test]
async fn a_policy_the_store_cannot_read_leaves_the_step_pending_until_it_can() {
    let (sink, received) = webhook_sink().await;
    let db = Db::sqlite();
    let (server, faults) = Server::in_process(&db, &["--allow-private-destinations"]).await;
    let (_, key) = server.service_with_key("core").await;
    let alice = pageable(&server, &sink, "alice").await;
    let policy = one_step_policy(&server, "primary", 1, to_user(&alice)).await;
    let alert = new_alert(&server, &key, "core-rtr-01 down").await;
    start(&server, &alert, &policy).await;

    edit_policy(&server, &policy).await;
    faults.fail(&["list_definitions:escalation_policies"]);
    refused(&faults, "list_definitions:escalation_policies", 3).await;
    let chain = status(&server, &alert).await;
    assert_eq!(chain.status, "active", "a store fault never ends a chain");
    assert!(chain.pages.is_empty(), "{chain:?}");
    assert_eq!(pages_to(&received, &alert), 0);

    faults.heal();
    paged_once(&server, &received, &alert).await;
    let metrics = reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("oncall_store_retries_total{work=\"escalation_step\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_schedule_the_store_cannot_read_is_not_taken_for_nobody_on_call() {
    let (sink, received) = webhook_sink().await;
    let db = Db::sqlite();
    let (server, faults) = Server::in_process(&db, &["--allow-private-destinations"]).await;
    let (_, key) = server.service_with_key("core").await;
    let alice = pageable(&server, &sink, "alice").await;
    let noc = schedule(&server, &alice, 1_767_225_600).await; // 2026-01-01
    let policy = one_step_policy(&server, "primary", 1, on_schedule(&noc)).await;
    let alert = new_alert(&server, &key, "core-rtr-01 down").await;
    start(&server, &alert, &policy).await;

    edit_schedule(&server, &noc).await;
    faults.fail(&["list_definitions:schedules"]);
    refused(&faults, "list_definitions:schedules", 3).await;
    let chain = status(&server, &alert).await;
    assert_eq!(chain.status, "active");
    assert_eq!(
        chain.current_step, 1,
        "the step is still pending: {chain:?}"
    );
    assert!(chain.pages.is_empty(), "{chain:?}");

    faults.heal();
    paged_once(&server, &received, &alert).await;
}

#[tokio::test]
async fn nobody_on_call_is_said_in_the_step_status_and_on_the_timeline() {
    let (sink, received) = webhook_sink().await;
    let db = Db::sqlite();
    let (server, _faults) = Server::in_process(&db, &["--allow-private-destinations"]).await;
    let (_, key) = server.service_with_key("core").await;
    let alice = pageable(&server, &sink, "alice").await;
    // The rotation starts in 2100: nobody is on call now.
    let empty = schedule(&server, &alice, 4_102_444_800).await;
    let policy = one_step_policy(&server, "primary", 0, on_schedule(&empty)).await;
    let alert = new_alert(&server, &key, "core-rtr-01 down").await;
    start(&server, &alert, &policy).await;

    let chain = eventually("the step to fire", async || {
        let chain = status(&server, &alert).await;
        (!chain.pages.is_empty()).then_some(chain)
    })
    .await;
    assert_eq!(chain.pages[0].outcome, "nobody on call", "{chain:?}");
    assert_eq!(
        chain.pages[0].target,
        format!("schedule:{empty}:level:1"),
        "{chain:?}"
    );
    let timeline = eventually("the timeline entry", async || {
        let events = server
            .alerts()
            .await
            .get_alert_events(authed(
                alerting::GetAlertEventsRequest { id: alert.clone() },
                ADMIN_TOKEN,
            ))
            .await
            .unwrap()
            .into_inner();
        let said = events
            .events
            .iter()
            .any(|e| e.message.contains("paged nobody") && e.message.contains("nobody is on call"));
        said.then_some(events)
    })
    .await;
    assert!(!timeline.events.is_empty());
    assert_eq!(pages_to(&received, &alert), 0);
}

//! What escalation does when its store fails under it, with the server in-process on a
//! store that fails on demand: a policy or schedule that changed and cannot be read
//! again leaves the step pending (never "exhausted", never "nobody on call"), and once
//! the store answers the step pages exactly once. (Unchanged policies and schedules are
//! read from the compiled books, so the store is not asked at all.) "Nobody on call" is only the schedule's real answer, and
//! then the step's status and the alert's timeline say so.

mod common;

use std::time::Duration;

use common::admin::{on_schedule, step, to_user};
use common::{ADMIN_TOKEN, Db, Received, Server, authed, eventually, webhook_sink};
use oncall::pb::alerting::routing::v1 as pb;

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
        .get_schedule(authed(
            pb::GetScheduleRequest { id: id.into() },
            ADMIN_TOKEN,
        ))
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
    let chain = server.escalation_status(alert).await;
    assert_eq!(chain.pages.len(), 1, "{chain:?}");
    assert_eq!(chain.pages[0].outcome, "sent", "{chain:?}");
}

#[tokio::test]
async fn a_policy_the_store_cannot_read_leaves_the_step_pending_until_it_can() {
    let (sink, received) = webhook_sink().await;
    let db = Db::sqlite();
    let (server, faults) = Server::in_process(&db, &["--allow-private-destinations"]).await;
    let (_, key) = server.service_with_key("core").await;
    let alice = server.pageable_user(&sink, "alice").await;
    let policy = server
        .policy("primary", vec![step(1, vec![to_user(&alice)])])
        .await;
    let alert = server.generic_alert(&key, "core-rtr-01 down").await;
    server.start_escalation(&alert, &policy).await;

    edit_policy(&server, &policy).await;
    faults.fail(&["list_definitions:escalation_policies"]);
    refused(&faults, "list_definitions:escalation_policies", 3).await;
    let chain = server.escalation_status(&alert).await;
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
    let alice = server.pageable_user(&sink, "alice").await;
    let noc = server.daily_schedule("NOC", &alice, 1_767_225_600).await; // 2026-01-01
    let policy = server
        .policy("primary", vec![step(1, vec![on_schedule(&noc)])])
        .await;
    let alert = server.generic_alert(&key, "core-rtr-01 down").await;
    server.start_escalation(&alert, &policy).await;

    edit_schedule(&server, &noc).await;
    faults.fail(&["list_definitions:schedules"]);
    refused(&faults, "list_definitions:schedules", 3).await;
    let chain = server.escalation_status(&alert).await;
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
    let alice = server.pageable_user(&sink, "alice").await;
    // The rotation starts in 2100: nobody is on call now.
    let empty = server.daily_schedule("NOC", &alice, 4_102_444_800).await;
    let policy = server
        .policy("primary", vec![step(0, vec![on_schedule(&empty)])])
        .await;
    let alert = server.generic_alert(&key, "core-rtr-01 down").await;
    server.start_escalation(&alert, &policy).await;

    let chain = eventually("the step to fire", async || {
        let chain = server.escalation_status(&alert).await;
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
        let events = server.events_of(&alert).await;
        let said = events
            .iter()
            .any(|e| e.message.contains("paged nobody") && e.message.contains("nobody is on call"));
        said.then_some(events)
    })
    .await;
    assert!(!timeline.is_empty());
    assert_eq!(pages_to(&received, &alert), 0);
}

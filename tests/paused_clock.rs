//! Timers an hour long, tested in well under a second: the server runs in-process under
//! a paused tokio clock that the test moves (`PausedClock`), and the engine's wall time
//! follows it, so a step due in an hour fires when the test has advanced an hour, and
//! not a second before.

mod common;

use std::time::Duration;

use common::admin::{step, to_user};
use common::{ADMIN_TOKEN, Db, PausedClock, Server, authed, eventually, paged, webhook_sink};
use oncall::pb::alerting::routing::v1 as routing;

const HOUR: i64 = 3_600;

#[tokio::test(start_paused = true)]
async fn an_hour_long_escalation_step_fires_when_the_clock_gets_there() {
    let clock = PausedClock::start();
    let (sink, received) = webhook_sink().await;
    let db = Db::sqlite();
    let (server, _faults) = Server::in_process(&db, &["--allow-private-destinations"]).await;
    let (_, key) = server.service_with_key("core").await;
    let alice = server.pageable_user(&sink, "alice").await;
    let bob = server.pageable_user(&sink, "bob").await;
    let policy = server
        .policy(
            "primary",
            vec![
                step(0, vec![to_user(&alice)]),
                step(HOUR, vec![to_user(&bob)]),
            ],
        )
        .await;
    let alert = server.generic_alert(&key, "core-rtr-01 down").await;
    server.start_escalation(&alert, &policy).await;
    eventually("the first step", async || {
        (paged(&received, &alert) == ["alice"]).then_some(())
    })
    .await;

    clock.advance(Duration::from_secs(3_590)).await;
    assert_eq!(paged(&received, &alert), ["alice"], "ten seconds early");

    clock.advance(Duration::from_secs(20)).await;
    eventually("the second step", async || {
        (paged(&received, &alert) == ["alice", "bob"]).then_some(())
    })
    .await;
    let chain = server.escalation_status(&alert).await;
    let at = |page: &routing::Page| page.created_at.as_ref().map_or(0, |t| t.seconds);
    let apart = at(&chain.pages[1]) - at(&chain.pages[0]);
    assert!(
        (HOUR..HOUR + 30).contains(&apart),
        "the stored pages are an hour apart in wall time too: {apart} s"
    );
}

#[tokio::test(start_paused = true)]
async fn an_hour_long_suppression_lets_the_rule_page_when_it_ends() {
    let clock = PausedClock::start();
    let (sink, received) = webhook_sink().await;
    let db = Db::sqlite();
    let (server, _faults) = Server::in_process(&db, &["--allow-private-destinations"]).await;
    let (_, key) = server.service_with_key("core").await;
    let hush = routing::RoutingAction {
        r#type: routing::ActionType::Suppress as i32,
        suppress: Some(routing::SuppressAction {
            reason: "planned fibre work: give it an hour".into(),
            duration: common::admin::seconds(HOUR),
        }),
        ..Default::default()
    };
    let page = routing::RoutingAction {
        r#type: routing::ActionType::NotifyWebhook as i32,
        notify_webhook: Some(routing::NotifyWebhookAction {
            webhook_url: format!("{sink}/late"),
        }),
        ..Default::default()
    };
    server
        .routing()
        .await
        .create_routing_rule(authed(
            routing::CreateRoutingRuleRequest {
                rule: Some(routing::RoutingRule {
                    name: "hold then page".into(),
                    priority: 1,
                    enabled: true,
                    terminal: true,
                    actions: vec![hush, page],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let alert = server.generic_alert(&key, "core-rtr-01 down").await;
    let audit = server.audit_of(&alert).await;
    assert_eq!(audit.actions[0].outcome, "suppressed", "{audit:?}");

    clock.advance(Duration::from_secs(3_590)).await;
    assert!(received.lock().unwrap().is_empty(), "ten seconds early");

    clock.advance(Duration::from_secs(70)).await;
    eventually("the page once the hold ends", async || {
        let posts = received.lock().unwrap().clone();
        posts.iter().any(|(path, _)| path == "/late").then_some(())
    })
    .await;
}

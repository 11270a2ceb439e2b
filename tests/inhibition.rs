//! Inhibition rules over gRPC, seen from outside: a BGP session down at a device holds
//! the interface alerts beneath it (those that came before and those that come after),
//! nothing is posted for them, and they are routed when the BGP alert resolves.

mod common;

use common::{ADMIN_TOKEN, Db, Server, authed, eventually, webhook_sink};
use std::time::Duration;

use oncall::pb::alerting::routing::v1 as pb;
use oncall::pb::alerting::v1 as alerting;
use tonic::Code;

/// An Alertmanager webhook with one alert.
fn am(status: &str, alertname: &str, device: &str) -> String {
    serde_json::json!({
        "receiver": "oncall", "status": status,
        "alerts": [{
            "status": status,
            "labels": {"alertname": alertname, "site": "IAD1", "device": device, "severity": "critical"},
            "annotations": {"summary": format!("{alertname} on {device}")},
            "startsAt": "2026-11-27T20:29:35Z",
            "endsAt": if status == "resolved" { "2026-11-27T21:00:00Z" } else { "0001-01-01T00:00:00Z" },
            "generatorURL": "",
            "fingerprint": format!("{alertname}-{device}")
        }],
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://am:9093", "version": "4", "groupKey": "{}", "truncatedAlerts": 0
    })
    .to_string()
}

fn inhibition(source: &[&str], target: &[&str]) -> pb::CreateInhibitionRuleRequest {
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
    pb::CreateInhibitionRuleRequest {
        rule: Some(pb::InhibitionRule {
            name: "bgp-down-hides-ifdown".into(),
            source_matchers: strings(source),
            target_matchers: strings(target),
            equal: vec!["site".into(), "device".into()],
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn a_bgp_session_down_holds_the_interface_alerts_beneath_it_until_it_resolves() {
    let (base, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let (service, key) = server.service_with_key("backbone").await;
    let mut routing = server.routing().await;
    let hook = pb::RoutingAction {
        r#type: pb::ActionType::NotifyWebhook as i32,
        notify_webhook: Some(pb::NotifyWebhookAction {
            webhook_url: format!("{base}/page"),
        }),
        ..Default::default()
    };
    routing
        .create_routing_rule(authed(
            pb::CreateRoutingRuleRequest {
                rule: Some(pb::RoutingRule {
                    name: "page everything".into(),
                    enabled: true,
                    actions: vec![hook],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();

    let bad = routing
        .create_inhibition_rule(authed(
            inhibition(&["alertname=~("], &["alertname=InterfaceDown"]),
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        bad.message().starts_with("rule.source_matchers[0]"),
        "{}",
        bad.message()
    );
    let rule = routing
        .create_inhibition_rule(authed(
            inhibition(
                &["alertname=BGPSessionDown"],
                &["alertname=~InterfaceDown|PeerUnreachable"],
            ),
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();

    let post = async |body: String| {
        let path = format!("/api/v1/webhook/alertmanager/{key}");
        assert_eq!(server.post_json(&path, &body).await.0, 200);
    };
    let status_of = async |alertname: &str, device: &str| {
        let fingerprint = format!("{alertname}-{device}");
        server
            .list_all(&service)
            .await
            .0
            .into_iter()
            .filter(|a| a.fingerprint == fingerprint)
            .max_by_key(|a| a.number)
            .map(|a| (a.id, a.status))
    };
    let posted = |count: usize| {
        let received = received.clone();
        async move {
            eventually(&format!("{count} posts"), async || {
                let posts = received.lock().unwrap().clone();
                (posts.len() >= count).then_some(posts)
            })
            .await
        }
    };
    let suppressed = alerting::AlertStatus::Suppressed as i32;
    let triggered = alerting::AlertStatus::Triggered as i32;

    // The interface goes down first: nothing inhibits it yet, so it pages.
    post(am("firing", "InterfaceDown", "core-1")).await;
    posted(1).await;
    // The BGP session then drops on the same device: it pages, and holds the
    // interface alert that came before it.
    post(am("firing", "BGPSessionDown", "core-1")).await;
    posted(2).await;
    eventually("the earlier interface alert held", async || {
        let (_, status) = status_of("InterfaceDown", "core-1").await?;
        (status == suppressed).then_some(())
    })
    .await;
    // A peer alert on the same device is held on arrival; one on another device is not.
    post(am("firing", "PeerUnreachable", "core-1")).await;
    post(am("firing", "InterfaceDown", "core-2")).await;
    let posts = posted(3).await;
    let (peer, status) = eventually("the peer alert held", async || {
        status_of("PeerUnreachable", "core-1")
            .await
            .filter(|(_, s)| *s == suppressed)
    })
    .await;
    assert_eq!(status, suppressed);
    let audit = server.audit_of(&peer).await;
    let why = audit.inhibition.expect("the audit names the inhibitor");
    assert_eq!(why.rule_id, rule.id);
    assert!(
        audit.actions.is_empty(),
        "an inhibited alert runs no actions"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let devices: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| body["labels"]["device"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(posts.len(), 3, "{devices:?}");
    assert_eq!(devices.iter().filter(|d| *d == "core-2").count(), 1);

    // SimulateRouting says the same about a new interface alert on core-1.
    let simulated = routing
        .simulate_routing(authed(
            pb::SimulateRoutingRequest {
                alert: Some(alerting::Alert {
                    summary: "sample".into(),
                    severity: alerting::Severity::Critical as i32,
                    labels: [
                        ("alertname", "InterfaceDown"),
                        ("site", "IAD1"),
                        ("device", "core-1"),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(simulated.inhibition.is_some_and(|i| i.inhibited));

    // The BGP session comes back: both held alerts are released and routed.
    post(am("resolved", "BGPSessionDown", "core-1")).await;
    posted(5).await;
    for alertname in ["InterfaceDown", "PeerUnreachable"] {
        let (_, status) = status_of(alertname, "core-1").await.unwrap();
        assert_eq!(status, triggered, "{alertname} released");
    }

    let listed = routing
        .list_inhibition_rules(authed(pb::ListInhibitionRulesRequest {}, ADMIN_TOKEN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.rules, vec![rule.clone()]);
    routing
        .delete_inhibition_rule(authed(
            pb::DeleteInhibitionRuleRequest {
                id: rule.id.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let gone = routing
        .delete_inhibition_rule(authed(
            pb::DeleteInhibitionRuleRequest { id: rule.id },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn deleting_a_rule_releases_what_its_sources_held() {
    let (base, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let (service, key) = server.service_with_key("backbone").await;
    let mut routing = server.routing().await;
    routing
        .update_default_routing(authed(
            pb::UpdateDefaultRoutingRequest {
                defaults: Some(pb::DefaultRouting {
                    actions: vec![pb::RoutingAction {
                        r#type: pb::ActionType::NotifyWebhook as i32,
                        notify_webhook: Some(pb::NotifyWebhookAction {
                            webhook_url: format!("{base}/default"),
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
    let rule = routing
        .create_inhibition_rule(authed(
            inhibition(&["alertname=BGPSessionDown"], &["alertname=InterfaceDown"]),
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    let path = format!("/api/v1/webhook/alertmanager/{key}");
    server
        .post_json(&path, &am("firing", "BGPSessionDown", "core-9"))
        .await;
    server
        .post_json(&path, &am("firing", "InterfaceDown", "core-9"))
        .await;
    let held = eventually("the interface alert held", async || {
        server.list_all(&service).await.0.into_iter().find(|a| {
            a.fingerprint == "InterfaceDown-core-9"
                && a.status == alerting::AlertStatus::Suppressed as i32
        })
    })
    .await;
    routing
        .delete_inhibition_rule(authed(
            pb::DeleteInhibitionRuleRequest { id: rule.id },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    eventually("the interface alert released and posted", async || {
        let posts = received.lock().unwrap().clone();
        posts
            .iter()
            .any(|(_, body)| body["id"] == held.id.as_str())
            .then_some(())
    })
    .await;
}

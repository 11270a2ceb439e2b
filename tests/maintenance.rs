//! Maintenance windows over gRPC, checked before routing rules: a suppressing window
//! holds matching alerts and sends nothing; an annotating one labels and still notifies.

mod common;

use common::{ADMIN_TOKEN, Db, Server, authed, eventually, fixture, webhook_sink};
use std::time::Duration;

use oncall::pb::alerting::routing::v1 as pb;
use oncall::pb::alerting::v1 as alerting;
use tonic::Code;
use tonic::transport::Channel;

fn now_plus(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() + seconds,
        nanos: 0,
    })
}

fn window(name: &str, action: pb::MaintenanceAction, labels: &[&str]) -> pb::MaintenanceWindow {
    pb::MaintenanceWindow {
        name: name.into(),
        start_time: now_plus(-3600),
        end_time: now_plus(3600),
        affected_sites: vec!["IAD1".into()],
        affected_labels: labels.iter().map(|l| l.to_string()).collect(),
        action: action as i32,
        ..Default::default()
    }
}

#[tokio::test]
async fn windows_hold_or_label_alerts_before_the_rules_run() {
    let (base, received) = webhook_sink().await;
    let hook = format!("{base}/hook");
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let (service, key) = server.service_with_key("core").await;
    let mut maintenance = server.maintenance().await;
    let mut routing = server.routing().await;

    // Every alert would be posted.
    routing
        .create_routing_rule(authed(
            pb::CreateRoutingRuleRequest {
                rule: Some(pb::RoutingRule {
                    name: "everything".into(),
                    priority: 1,
                    enabled: true,
                    actions: vec![pb::RoutingAction {
                        r#type: pb::ActionType::NotifyWebhook as i32,
                        notify_webhook: Some(pb::NotifyWebhookAction { webhook_url: hook }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();

    let err = maintenance
        .create_maintenance_window(authed(
            pb::CreateMaintenanceWindowRequest {
                window: Some(window(
                    "bad",
                    pb::MaintenanceAction::Suppress,
                    &["device=~("],
                )),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("window.affected_labels[0]"),
        "{}",
        err.message()
    );

    let swap = maintenance
        .create_maintenance_window(authed(
            pb::CreateMaintenanceWindowRequest {
                window: Some(window(
                    "IAD1 linecard swap",
                    pb::MaintenanceAction::Suppress,
                    &["device=~core-.*"],
                )),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    let active = maintenance
        .list_active_maintenance_windows(authed(
            pb::ListActiveMaintenanceWindowsRequest::default(),
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(active.windows.len(), 1);

    // The BGP alert on core-rtr-01.iad1 is held: SUPPRESSED, nothing posted.
    let (status, _, _) = server
        .post_json(
            &format!("/api/v1/webhook/alertmanager/{key}"),
            &fixture("alertmanager/am-0.25-webhook-1.json"),
        )
        .await;
    assert_eq!(status, 200);
    let mut alerts = server.alerts().await;
    let held = eventually("suppression", async || {
        let alert = server.list_all(&service).await.0.into_iter().next()?;
        (alert.status == alerting::AlertStatus::Suppressed as i32).then_some(alert)
    })
    .await;
    let check = maintenance
        .check_alert_maintenance(authed(
            pb::CheckAlertMaintenanceRequest {
                alert: Some(held.clone()),
                time: None,
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(check.in_maintenance);
    assert_eq!(check.window_id, swap.id);
    let simulated = routing
        .simulate_routing(authed(
            pb::SimulateRoutingRequest {
                alert: Some(held.clone()),
                simulate_time: None,
                include_disabled: false,
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(simulated.maintenance_result.unwrap().in_maintenance);
    let audit = server.audit_of(&held.id).await;
    assert_eq!(audit.maintenance.unwrap().window_name, "IAD1 linecard swap");
    assert!(audit.actions.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        received.lock().unwrap().is_empty(),
        "a suppressed alert sends nothing"
    );
    // Acks pass through a window.
    let acked = alerts
        .acknowledge_alert(authed(
            alerting::AcknowledgeAlertRequest {
                id: held.id.clone(),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.status, alerting::AlertStatus::Acknowledged as i32);

    // An annotating window labels the alert, which still notifies.
    maintenance
        .delete_maintenance_window(authed(
            pb::DeleteMaintenanceWindowRequest { id: swap.id },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    maintenance
        .create_maintenance_window(authed(
            pb::CreateMaintenanceWindowRequest {
                window: Some(window(
                    "IAD1 fibre work",
                    pb::MaintenanceAction::Annotate,
                    &[],
                )),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let (status, _, _) = server
        .post_json(
            &format!("/api/v1/webhook/alertmanager/{key}"),
            &fixture("alertmanager/am-0.25-webhook-2.json").replace("SJC2", "IAD1"),
        )
        .await;
    assert_eq!(status, 200);
    let posts = eventually("notifications", async || {
        let posts = received.lock().unwrap().clone();
        (posts.len() >= 2).then_some(posts)
    })
    .await;
    assert!(
        posts
            .iter()
            .all(|(_, p)| p["labels"]["maintenance"] == "IAD1 fibre work"),
        "{posts:?}"
    );
}

#[tokio::test]
async fn a_window_holds_open_alerts_when_it_opens_and_lets_them_go_when_it_closes() {
    let (base, received) = webhook_sink().await;
    let hook = format!("{base}/hook");
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let (_, key) = server.service_with_key("core").await;
    let mut maintenance = server.maintenance().await;
    let mut routing = server.routing().await;
    routing
        .create_routing_rule(authed(
            pb::CreateRoutingRuleRequest {
                rule: Some(pb::RoutingRule {
                    name: "everything".into(),
                    priority: 1,
                    enabled: true,
                    actions: vec![pb::RoutingAction {
                        r#type: pb::ActionType::NotifyWebhook as i32,
                        notify_webhook: Some(pb::NotifyWebhookAction { webhook_url: hook }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let (_, _, body) = server
        .post_json(
            &format!("/api/v1/webhook/generic/{key}"),
            r#"{"summary": "optics degraded", "labels": {"site": "IAD1", "device": "core-rtr-07.iad1"}}"#,
        )
        .await;
    let id = body["alert"]["id"].as_str().unwrap().to_string();
    eventually("the first notification", async || {
        (received.lock().unwrap().len() == 1).then_some(())
    })
    .await;

    // A window that is already open when created holds the open alert at once, and
    // closes three seconds later.
    let mut short = window("IAD1 optics swap", pb::MaintenanceAction::Suppress, &[]);
    short.end_time = now_plus(3);
    maintenance
        .create_maintenance_window(authed(
            pb::CreateMaintenanceWindowRequest {
                window: Some(short),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let mut alerts = server.alerts().await;
    let status =
        async |alerts: &mut oncall::pb::alerting::v1::alert_service_client::AlertServiceClient<
            Channel,
        >| {
            alerts
                .get_alert(authed(
                    alerting::GetAlertRequest { id: id.clone() },
                    ADMIN_TOKEN,
                ))
                .await
                .ok()
                .map(|a| a.into_inner().status)
        };
    eventually("the window to hold the alert", async || {
        (status(&mut alerts).await == Some(alerting::AlertStatus::Suppressed as i32)).then_some(())
    })
    .await;
    eventually("the window to let it go", async || {
        (status(&mut alerts).await == Some(alerting::AlertStatus::Triggered as i32)).then_some(())
    })
    .await;
    // Still firing, it is routed as if new: a second notification.
    eventually("the second notification", async || {
        (received.lock().unwrap().len() == 2).then_some(())
    })
    .await;
    let events = alerts
        .get_alert_events(authed(
            alerting::GetAlertEventsRequest { id: id.clone() },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert!(
        events
            .iter()
            .any(|e| e.r#type == alerting::AlertEventType::Unsuppressed as i32)
    );
}

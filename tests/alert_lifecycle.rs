//! Working alerts over gRPC: ack, resolve, notes, the timeline, bulk calls, watch, and
//! the permission and precondition errors a responder can meet.

mod common;

use common::{ADMIN_TOKEN, Db, Server, authed, fixture};
use oncall::pb::alerting::v1 as pb;
use oncall::pb::directory::v1 as dir;
use tonic::Code;

async fn open_alert(server: &Server, key: &str, service: &str, summary: &str) -> pb::Alert {
    let (status, _, body) = server
        .post_json(
            &format!("/api/v1/webhook/generic/{key}"),
            &serde_json::json!({"summary": summary, "labels": {"device": summary}}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["alert"]["id"].as_str().unwrap().to_string();
    let mut alerts = server.alerts().await;
    let alert = alerts
        .get_alert(authed(pb::GetAlertRequest { id }, ADMIN_TOKEN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(alert.service_id, service);
    alert
}

#[tokio::test]
async fn ack_resolve_notes_and_timeline() {
    let db = Db::sqlite();
    let server = Server::start(&db).await;
    let (service, key) = server.service_with_key("core").await;
    let (alice, alice_token) = server.user_with_token("alice", dir::Role::Responder).await;
    let alert = open_alert(&server, &key, &service, "core-rtr-01 down").await;
    assert_eq!(alert.status, pb::AlertStatus::Triggered as i32);
    assert!(alert.number > 0);
    let mut alerts = server.alerts().await;

    let acked = alerts
        .acknowledge_alert(authed(
            pb::AcknowledgeAlertRequest {
                id: alert.id.clone(),
                user_id: alice.clone(),
                note: "looking at the linecard".into(),
            },
            &alice_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.status, pb::AlertStatus::Acknowledged as i32);
    assert_eq!(acked.acknowledged_by, alice);
    assert!(acked.acknowledged_at.is_some());
    assert_eq!(acked.notes.len(), 1);
    assert_eq!(acked.notes[0].text, "looking at the linecard");

    // Ack of an acked alert is a no-op success.
    let again = alerts
        .acknowledge_alert(authed(
            pb::AcknowledgeAlertRequest {
                id: alert.id.clone(),
                ..Default::default()
            },
            &alice_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.acknowledged_by, alice);

    let noted = alerts
        .add_note(authed(
            pb::AddNoteRequest {
                id: alert.id.clone(),
                user_id: String::new(),
                text: "carrier ticket 4411 opened".into(),
            },
            &alice_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(noted.notes.len(), 2);
    assert_eq!(noted.notes[1].author, alice, "the caller is the author");

    let escalated = alerts
        .escalate_alert(authed(
            pb::EscalateAlertRequest {
                id: alert.id.clone(),
                user_id: String::new(),
                reason: "needs optics team".into(),
            },
            &alice_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        escalated
            .events
            .iter()
            .any(|e| e.r#type == pb::AlertEventType::Escalated as i32
                && e.message == "needs optics team")
    );

    let resolved = alerts
        .resolve_alert(authed(
            pb::ResolveAlertRequest {
                id: alert.id.clone(),
                user_id: alice.clone(),
                resolution_note: "linecard reseated".into(),
            },
            &alice_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.status, pb::AlertStatus::Resolved as i32);
    assert_eq!(resolved.resolved_by, alice);
    assert_eq!(resolved.resolution_note, "linecard reseated");

    // Resolve again: no-op success. Ack or escalate: FAILED_PRECONDITION.
    alerts
        .resolve_alert(authed(
            pb::ResolveAlertRequest {
                id: alert.id.clone(),
                ..Default::default()
            },
            &alice_token,
        ))
        .await
        .unwrap();
    let err = alerts
        .acknowledge_alert(authed(
            pb::AcknowledgeAlertRequest {
                id: alert.id.clone(),
                ..Default::default()
            },
            &alice_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    let err = alerts
        .escalate_alert(authed(
            pb::EscalateAlertRequest {
                id: alert.id.clone(),
                ..Default::default()
            },
            &alice_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    // A note on a resolved alert is still welcome (post-mortems).
    alerts
        .add_note(authed(
            pb::AddNoteRequest {
                id: alert.id.clone(),
                user_id: String::new(),
                text: "post-mortem: PIR-12".into(),
            },
            &alice_token,
        ))
        .await
        .unwrap();

    let events = alerts
        .get_alert_events(authed(
            pb::GetAlertEventsRequest {
                id: alert.id.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let kinds: Vec<i32> = events.iter().map(|e| e.r#type).collect();
    use pb::AlertEventType as T;
    assert_eq!(
        kinds,
        vec![
            T::Created as i32,
            T::Acknowledged as i32,
            T::NoteAdded as i32,
            T::NoteAdded as i32,
            T::Escalated as i32,
            T::Resolved as i32,
            T::NoteAdded as i32
        ]
    );
    assert_eq!(events[0].actor, "source");
    assert_eq!(events[5].actor, alice);
}

#[tokio::test]
async fn roles_and_missing_things_get_the_right_codes() {
    let db = Db::sqlite();
    let server = Server::start(&db).await;
    let (service, key) = server.service_with_key("edge").await;
    let (_, viewer) = server.user_with_token("victor", dir::Role::Viewer).await;
    let alert = open_alert(&server, &key, &service, "edge-rtr down").await;
    let mut alerts = server.alerts().await;

    let ack = |token: &str| {
        authed(
            pb::AcknowledgeAlertRequest {
                id: alert.id.clone(),
                ..Default::default()
            },
            token,
        )
    };
    let err = alerts
        .acknowledge_alert(tonic::Request::new(pb::AcknowledgeAlertRequest {
            id: alert.id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = alerts
        .acknowledge_alert(ack("wrong-token"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = alerts.acknowledge_alert(ack(&viewer)).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "a viewer may not ack");
    // A viewer may read; an integration key may not.
    alerts
        .get_alert(authed(
            pb::GetAlertRequest {
                id: alert.id.clone(),
            },
            &viewer,
        ))
        .await
        .unwrap();
    let err = alerts
        .get_alert(authed(
            pb::GetAlertRequest {
                id: alert.id.clone(),
            },
            &key,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    let err = alerts
        .get_alert(authed(
            pb::GetAlertRequest {
                id: uuid::Uuid::new_v4().to_string(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = alerts
        .get_alert(authed(
            pb::GetAlertRequest { id: "nope".into() },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("id:"), "{}", err.message());
    let err = alerts
        .acknowledge_alert(authed(
            pb::AcknowledgeAlertRequest {
                id: alert.id.clone(),
                user_id: uuid::Uuid::new_v4().to_string(),
                note: String::new(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().starts_with("user_id"), "{}", err.message());
}

#[tokio::test]
async fn bulk_update_list_filters_and_watch() {
    let db = Db::sqlite();
    let server = Server::start(&db).await;
    let (service, key) = server.service_with_key("metro").await;
    let mut alerts = server.alerts().await;
    let mut watch = alerts
        .watch_alerts(authed(
            pb::WatchAlertsRequest {
                service_id: service.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();

    let (status, _, _) = server
        .post_json(
            &format!("/api/v1/webhook/alertmanager/{key}"),
            &fixture("alertmanager/am-0.25-webhook-storm-group.json"),
        )
        .await;
    assert_eq!(status, 200);
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), watch.message())
        .await
        .expect("a change within 10 s")
        .unwrap()
        .unwrap();
    assert_eq!(first.change_type, pb::AlertEventType::Created as i32);
    assert_eq!(first.service_id, service);

    let page = alerts
        .list_alerts(authed(
            pb::ListAlertsRequest {
                service_id: service.clone(),
                page_size: 10,
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.alerts.len(), 10);
    assert_eq!(page.total_count, 235);
    assert_eq!(page.next_page_token, "10");
    let ids: Vec<String> = page.alerts.iter().map(|a| a.id.clone()).collect();
    let bulk = alerts
        .bulk_acknowledge_alerts(authed(
            pb::BulkAcknowledgeAlertsRequest {
                ids: ids.clone(),
                user_id: String::new(),
                note: String::new(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bulk.alerts.len(), 10);
    assert!(bulk.failures.is_empty());
    let acked = alerts
        .list_alerts(authed(
            pb::ListAlertsRequest {
                service_id: service.clone(),
                statuses: vec![pb::AlertStatus::Acknowledged as i32],
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.total_count, 10);
    let mut with_bad = ids[..3].to_vec();
    with_bad.push(uuid::Uuid::new_v4().to_string());
    let bulk = alerts
        .bulk_resolve_alerts(authed(
            pb::BulkResolveAlertsRequest {
                ids: with_bad,
                user_id: String::new(),
                resolution_note: "fibre spliced".into(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bulk.alerts.len(), 3);
    assert_eq!(bulk.failures.len(), 1);

    // Filters: labels, search, severity, time range.
    let by_label = alerts
        .list_alerts(authed(
            pb::ListAlertsRequest {
                label_selectors: [("device".to_string(), "dev100223".to_string())].into(),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_label.total_count, 1);
    let by_search = alerts
        .list_alerts(authed(
            pb::ListAlertsRequest {
                search: "A2AE1C0C".into(),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        by_search.total_count, 1,
        "search is case-insensitive on fingerprints"
    );
    let critical = alerts
        .list_alerts(authed(
            pb::ListAlertsRequest {
                severities: vec![pb::Severity::Critical as i32],
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(critical.total_count, 0);
    let window = |start: i64, end: i64| pb::TimeRange {
        start: Some(prost_types::Timestamp {
            seconds: start,
            nanos: 0,
        }),
        end: Some(prost_types::Timestamp {
            seconds: end,
            nanos: 0,
        }),
    };
    let in_window = alerts
        .list_alerts(authed(
            pb::ListAlertsRequest {
                triggered: Some(window(1_795_811_000, 1_795_812_000)),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(in_window.total_count, 235);
    let before = alerts
        .list_alerts(authed(
            pb::ListAlertsRequest {
                triggered: Some(window(0, 1_795_811_000)),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.total_count, 0);

    let updated = alerts
        .update_alert(authed(
            pb::UpdateAlertRequest {
                id: ids[5].clone(),
                update_mask: vec!["severity".into(), "summary".into()],
                severity: pb::Severity::High as i32,
                summary: "IfDown across S223".into(),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.severity, pb::Severity::High as i32);
    assert_eq!(updated.summary, "IfDown across S223");
    let err = alerts
        .update_alert(authed(
            pb::UpdateAlertRequest {
                id: ids[5].clone(),
                update_mask: vec!["status".into()],
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("update_mask[0]"));
}

//! gRPC ingestion: CreateAlert, BatchCreateAlerts and the IngestAlerts stream, with an
//! integration key or a responder token plus a service id.

mod common;

use common::{Db, Server, authed};
use oncall::pb::alerting::v1 as pb;
use oncall::pb::directory::v1 as dir;
use tonic::Code;

fn input(i: usize) -> pb::AlertInput {
    pb::AlertInput {
        summary: format!("optical power low on port {i}"),
        labels: [
            ("alertname".to_string(), "OpticalPowerLow".to_string()),
            ("port".to_string(), i.to_string()),
            ("severity".to_string(), "p2".to_string()),
        ]
        .into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn unary_batch_and_stream_ingest() {
    let db = Db::sqlite();
    let server = Server::start(&db).await;
    let (service, key) = server.service_with_key("optics").await;
    let (_, responder) = server.user_with_token("rita", dir::Role::Responder).await;
    let (_, viewer) = server.user_with_token("val", dir::Role::Viewer).await;
    let mut alerts = server.alerts().await;

    let created = alerts
        .create_alert(authed(
            pb::CreateAlertRequest {
                service_id: String::new(),
                alert: Some(input(0)),
            },
            &key,
        ))
        .await
        .unwrap()
        .into_inner();
    let alert = created.alert.unwrap();
    assert!(!created.deduplicated);
    assert_eq!(alert.severity, pb::Severity::High as i32, "p2 maps to high");
    assert_eq!(alert.source, "grpc");
    assert_eq!(alert.fingerprint.len(), 32);
    assert_eq!(alert.events.len(), 1);
    let again = alerts
        .create_alert(authed(
            pb::CreateAlertRequest {
                service_id: service.clone(),
                alert: Some(input(0)),
            },
            &responder,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(again.deduplicated, "same labels, same service: same alert");
    assert_eq!(again.alert.unwrap().id, alert.id);

    // A user token must name an existing service; a viewer may not ingest.
    let err = alerts
        .create_alert(authed(
            pb::CreateAlertRequest {
                service_id: String::new(),
                alert: Some(input(1)),
            },
            &responder,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("service_id"));
    let err = alerts
        .create_alert(authed(
            pb::CreateAlertRequest {
                service_id: uuid::Uuid::new_v4().to_string(),
                alert: Some(input(1)),
            },
            &responder,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = alerts
        .create_alert(authed(
            pb::CreateAlertRequest {
                service_id: service.clone(),
                alert: Some(input(1)),
            },
            &viewer,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // A batch is all or nothing, naming the alert at fault.
    let mut batch: Vec<pb::AlertInput> = (1..=50).map(input).collect();
    batch[17].summary = String::new();
    let err = alerts
        .batch_create_alerts(authed(
            pb::BatchCreateAlertsRequest {
                service_id: String::new(),
                alerts: batch.clone(),
            },
            &key,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("alerts[17].summary"),
        "{}",
        err.message()
    );
    assert_eq!(server.list_all(&service).await.1, 1);
    batch[17].summary = "fixed".into();
    let done = alerts
        .batch_create_alerts(authed(
            pb::BatchCreateAlertsRequest {
                service_id: String::new(),
                alerts: batch,
            },
            &key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((done.created, done.deduplicated), (50, 0));
    assert_eq!(done.results.len(), 50);

    // The stream: batches in, one ack per batch out, in order.
    let batches: Vec<pb::IngestAlertsRequest> = (0..20u64)
        .map(|b| pb::IngestAlertsRequest {
            batch_id: b,
            service_id: String::new(),
            alerts: (0..100)
                .map(|i| input(1_000 + b as usize * 100 + i))
                .collect(),
        })
        .collect();
    let mut acks = alerts
        .ingest_alerts(authed(tokio_stream::iter(batches), &key))
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    while let Some(ack) = acks.message().await.unwrap() {
        assert_eq!(ack.accepted, 100);
        assert_eq!(ack.created, 100);
        seen.push(ack.batch_id);
    }
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
    assert_eq!(server.list_all(&service).await.1, 1 + 50 + 2_000);

    // A bad batch ends the stream with INVALID_ARGUMENT naming it.
    let bad = vec![pb::IngestAlertsRequest {
        batch_id: 7,
        service_id: String::new(),
        alerts: vec![pb::AlertInput::default()],
    }];
    let mut acks = alerts
        .ingest_alerts(authed(tokio_stream::iter(bad), &key))
        .await
        .unwrap()
        .into_inner();
    let err = acks.message().await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("batch 7"), "{}", err.message());

    // No credentials at all.
    let err = alerts
        .create_alert(tonic::Request::new(pb::CreateAlertRequest {
            service_id: service,
            alert: Some(input(9)),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn over_its_rate_a_key_gets_resource_exhausted() {
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--per-key-alerts-per-second", "10"]).await;
    let (_, key) = server.service_with_key("guarded").await;
    let mut alerts = server.alerts().await;
    let batch = |from: usize| pb::BatchCreateAlertsRequest {
        service_id: String::new(),
        alerts: (from..from + 100).map(input).collect(),
    };
    alerts
        .batch_create_alerts(authed(batch(0), &key))
        .await
        .unwrap();
    let err = alerts
        .batch_create_alerts(authed(batch(100), &key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
}

#[tokio::test]
async fn a_full_engine_answers_resource_exhausted() {
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--max-in-flight-alerts", "1"]).await;
    let (service, key) = server.service_with_key("busy").await;
    let mut calls = Vec::new();
    for i in 0..40 {
        let mut client = server.alerts().await;
        let key = key.clone();
        calls.push(tokio::spawn(async move {
            client
                .batch_create_alerts(authed(
                    pb::BatchCreateAlertsRequest {
                        service_id: String::new(),
                        alerts: (i * 100..i * 100 + 100).map(input).collect(),
                    },
                    &key,
                ))
                .await
                .map(|r| r.into_inner().created)
        }));
    }
    let mut created = 0;
    let mut exhausted = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(n) => created += n,
            Err(status) if status.code() == Code::ResourceExhausted => exhausted += 1,
            Err(status) => panic!("unexpected {status}"),
        }
    }
    assert!(
        exhausted > 0,
        "40 concurrent batches against a bound of 1 must see refusals"
    );
    assert_eq!(server.list_all(&service).await.1, created);
}

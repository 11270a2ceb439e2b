//! What operators and their tools see: health, readiness, metrics, gRPC health and
//! server reflection (so grpcurl-style tools work without the .proto files).

mod common;

use common::{Db, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

#[tokio::test]
async fn health_readiness_metrics_and_reflection() {
    let db = Db::sqlite();
    let server = Server::start(&db).await;
    let (_, key) = server.service_with_key("ops").await;
    let (status, _, _) = server
        .post_json(
            &format!("/api/v1/webhook/alertmanager/{key}"),
            &common::fixture("alertmanager/am-0.25-webhook-2.json"),
        )
        .await;
    assert_eq!(status, 200);

    assert_eq!(
        reqwest::get(server.http("/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        reqwest::get(server.http("/readyz")).await.unwrap().status(),
        200
    );
    let metrics = reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "oncall_alerts_received_total{source=\"alertmanager\"} 2",
        "oncall_alerts_stored_total{source=\"alertmanager\"} 2",
        "oncall_ingest_latency_seconds_count 1",
        "oncall_commit_batch_writes_count",
        "oncall_persister_queue_depth",
        "oncall_ingest_in_flight_alerts 0",
        "oncall_open_alerts 2",
    ] {
        assert!(metrics.contains(expected), "{expected} not in:\n{metrics}");
    }

    let channel =
        tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{}", server.grpc_port))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut health = HealthClient::new(channel.clone());
    for service in [
        "",
        "alerting.v1.AlertService",
        "alerting.v1.CatalogService",
        "directory.v1.UserService",
    ] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.status, 1, "{service:?} is SERVING");
    }

    let mut reflection = ServerReflectionClient::new(channel);
    let requests = vec![
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "alerting.v1.AlertService".into(),
            )),
        },
    ];
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in [
        "alerting.v1.AlertService",
        "alerting.v1.CatalogService",
        "directory.v1.UserService",
    ] {
        assert!(
            names.iter().any(|n| n == service),
            "{service} not in {names:?}"
        );
    }
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected file descriptors");
    };
    assert!(!files.file_descriptor_proto.is_empty());
}

//! The gRPC server: every service with its health status, server reflection, the
//! message size limit, and TCP_NODELAY on accepted sockets.

use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::grpc::{
    AlertApi, CarrierApi, CatalogApi, CustomerTierApi, EquipmentTypeApi, EscalationApi,
    MaintenanceApi, NotificationApi, RoutingApi, ScheduleApi, SiteApi, TeamApi, TemplateApi,
    UserApi,
};
use crate::pb::alerting::routing::v1::carrier_service_server::CarrierServiceServer;
use crate::pb::alerting::routing::v1::customer_tier_service_server::CustomerTierServiceServer;
use crate::pb::alerting::routing::v1::equipment_type_service_server::EquipmentTypeServiceServer;
use crate::pb::alerting::routing::v1::escalation_service_server::EscalationServiceServer;
use crate::pb::alerting::routing::v1::maintenance_service_server::MaintenanceServiceServer;
use crate::pb::alerting::routing::v1::routing_service_server::RoutingServiceServer;
use crate::pb::alerting::routing::v1::schedule_service_server::ScheduleServiceServer;
use crate::pb::alerting::routing::v1::site_service_server::SiteServiceServer;
use crate::pb::alerting::routing::v1::team_service_server::TeamServiceServer;
use crate::pb::alerting::v1::alert_service_server::AlertServiceServer;
use crate::pb::alerting::v1::catalog_service_server::CatalogServiceServer;
use crate::pb::directory::v1::user_service_server::UserServiceServer;
use crate::pb::notification::v1::notification_service_server::NotificationServiceServer;
use crate::pb::notification::v1::template_service_server::TemplateServiceServer;

use super::core::Core;

/// The gRPC server, ready to be awaited, and the health reporter shutdown turns to
/// NOT_SERVING.
pub(super) async fn grpc_server(
    settings: &Settings,
    core: &Core,
    listener: TcpListener,
    shutdown: &CancellationToken,
) -> anyhow::Result<(
    impl std::future::Future<Output = Result<(), tonic::transport::Error>> + use<>,
    tonic_health::server::HealthReporter,
)> {
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::pb::DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::pb::DESCRIPTOR_SET)
        .build_v1alpha()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<AlertServiceServer<AlertApi>>().await;
    health
        .set_serving::<CatalogServiceServer<CatalogApi>>()
        .await;
    health.set_serving::<UserServiceServer<UserApi>>().await;
    health
        .set_serving::<RoutingServiceServer<RoutingApi>>()
        .await;
    health
        .set_serving::<ScheduleServiceServer<ScheduleApi>>()
        .await;
    health.set_serving::<TeamServiceServer<TeamApi>>().await;
    health.set_serving::<SiteServiceServer<SiteApi>>().await;
    health
        .set_serving::<CustomerTierServiceServer<CustomerTierApi>>()
        .await;
    health
        .set_serving::<EquipmentTypeServiceServer<EquipmentTypeApi>>()
        .await;
    health
        .set_serving::<CarrierServiceServer<CarrierApi>>()
        .await;
    health
        .set_serving::<EscalationServiceServer<EscalationApi>>()
        .await;
    health
        .set_serving::<TemplateServiceServer<TemplateApi>>()
        .await;
    health
        .set_serving::<NotificationServiceServer<NotificationApi>>()
        .await;
    let max_message = settings.max_body_bytes;
    let server = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            AlertServiceServer::new(AlertApi::new(core.ctx.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            CatalogServiceServer::new(CatalogApi::new(core.ctx.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            RoutingServiceServer::new(RoutingApi::new(
                core.ctx.clone(),
                core.rules.clone(),
                core.windows.clone(),
                core.inhibitions.clone(),
            ))
            .max_decoding_message_size(max_message),
        )
        .add_service(
            MaintenanceServiceServer::new(MaintenanceApi::new(
                core.ctx.clone(),
                core.windows.clone(),
            ))
            .max_decoding_message_size(max_message),
        )
        .add_service(
            EscalationServiceServer::new(EscalationApi::new(
                core.ctx.clone(),
                core.ctx.escalations.clone(),
            ))
            .max_decoding_message_size(max_message),
        )
        .add_service(
            ScheduleServiceServer::new(ScheduleApi::new(
                core.ctx.clone(),
                core.schedule_actors.clone(),
            ))
            .max_decoding_message_size(max_message),
        )
        .add_service(
            TeamServiceServer::new(TeamApi::new(core.ctx.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            SiteServiceServer::new(SiteApi::new(core.ctx.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            CustomerTierServiceServer::new(CustomerTierApi::new(core.ctx.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            EquipmentTypeServiceServer::new(EquipmentTypeApi::new(core.ctx.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            CarrierServiceServer::new(CarrierApi::new(core.ctx.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            TemplateServiceServer::new(TemplateApi::new(core.ctx.clone()))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            NotificationServiceServer::new(NotificationApi::new(
                core.ctx.clone(),
                core.notifier.clone(),
                core.directory.clone(),
            ))
            .max_decoding_message_size(max_message),
        )
        .add_service(
            UserServiceServer::new(UserApi::new(
                core.ctx.clone(),
                core.webhooks.clone(),
                core.notifier.clone(),
            ))
            .max_decoding_message_size(max_message),
        )
        .serve_with_incoming_shutdown(
            // tonic leaves TCP_NODELAY to us with an incoming stream; without it, Nagle's
            // algorithm and delayed ACKs hold each unary answer back by up to 40 ms.
            TcpListenerStream::new(listener).map(|accepted| {
                accepted.and_then(|stream| stream.set_nodelay(true).map(|()| stream))
            }),
            shutdown.clone().cancelled_owned(),
        );
    Ok((server, health))
}

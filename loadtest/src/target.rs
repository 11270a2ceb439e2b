//! The oncall server under test: where it listens, the service and integration key a run
//! creates on it (so its alerts can be counted apart), and its resident memory.

use anyhow::Context;
use clap::Args;
use oncall::grpc::pb::alerting::v1 as pb;
use pb::alert_service_client::AlertServiceClient;
use pb::catalog_service_client::CatalogServiceClient;

#[derive(Args, Clone, Debug)]
pub struct TargetArgs {
    /// oncall's HTTP base URL (webhooks, PagerDuty events).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// oncall's gRPC URL (gRPC ingest, and the set-up and check of every run).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub grpc_target: String,
    /// An admin API token: each run creates its own service and integration key.
    #[arg(long, env = "ONCALL_ADMIN_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The server's process id, to report its RSS before and after (same machine only).
    #[arg(long)]
    pub pid: Option<u32>,
}

/// A run's own service on the target.
pub struct RunService {
    pub id: String,
    /// The plaintext integration key (webhook path segment, gRPC bearer, routing_key).
    pub key: String,
}

pub fn bearer<T>(message: T, token: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .context("the token is not a valid header value")?,
    );
    Ok(request)
}

impl TargetArgs {
    pub async fn create_service(&self, run: &str) -> anyhow::Result<RunService> {
        let mut catalog = CatalogServiceClient::connect(self.grpc_target.clone())
            .await
            .with_context(|| format!("connecting to oncall's gRPC at {}", self.grpc_target))?;
        let service = catalog
            .create_service(bearer(
                pb::CreateServiceRequest {
                    name: format!("loadtest-{run}"),
                    description: "created by the load harness".into(),
                    ..Default::default()
                },
                &self.token,
            )?)
            .await
            .context("creating the run's service (is --token an admin token?)")?
            .into_inner();
        let key = catalog
            .create_integration_key(bearer(
                pb::CreateIntegrationKeyRequest {
                    service_id: service.id.clone(),
                    name: "loadtest".into(),
                },
                &self.token,
            )?)
            .await
            .context("creating the run's integration key")?
            .into_inner()
            .key;
        Ok(RunService {
            id: service.id,
            key,
        })
    }

    /// How many alerts the run's service holds, whatever their status.
    pub async fn alerts_of(&self, service: &RunService) -> anyhow::Result<u64> {
        let mut alerts = AlertServiceClient::connect(self.grpc_target.clone()).await?;
        let listed = alerts
            .list_alerts(bearer(
                pb::ListAlertsRequest {
                    service_id: service.id.clone(),
                    page_size: 1,
                    ..Default::default()
                },
                &self.token,
            )?)
            .await
            .context("counting the run's alerts")?
            .into_inner();
        Ok(u64::try_from(listed.total_count)?)
    }
}

/// A process's resident set, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status (is the server on this machine?)"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS in /proc status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmRSS has no value")?
        .parse()?)
}

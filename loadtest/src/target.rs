//! The oncall server under test: where it listens, the service and integration key a run
//! creates on it (so its alerts can be counted apart), and its resident memory.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use oncall::pb::alerting::routing::v1 as routing;
use oncall::pb::alerting::v1 as pb;
use pb::alert_service_client::AlertServiceClient;
use pb::catalog_service_client::CatalogServiceClient;
use routing::routing_service_client::RoutingServiceClient;

/// How long a run waits for the server to route what it took.
const ROUTING_DRAIN_LIMIT: Duration = Duration::from_secs(600);

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

    /// A routing rule that sends every alert of run `run` to `url`; its id. `through_channel`
    /// sends by a webhook channel through oncall's delivery actors (rate-limited per URL,
    /// waiting messages as digests) instead of a direct POST per alert.
    pub async fn create_notify_rule(
        &self,
        run: &str,
        url: &str,
        through_channel: bool,
    ) -> anyhow::Result<String> {
        let mut rules = RoutingServiceClient::connect(self.grpc_target.clone()).await?;
        let rule = routing::RoutingRule {
            name: format!("loadtest-{run}"),
            description: "created by the load harness; deleted when its run ends".into(),
            enabled: true,
            conditions: vec![routing::RoutingCondition {
                r#type: routing::ConditionType::Label as i32,
                field: "loadtest_run".into(),
                operator: routing::ConditionOperator::Equals as i32,
                string_value: run.into(),
                ..Default::default()
            }],
            actions: vec![if through_channel {
                routing::RoutingAction {
                    r#type: routing::ActionType::NotifyChannel as i32,
                    notify_channel: Some(routing::NotifyChannelAction {
                        target: Some(routing::ChannelTarget {
                            channel: routing::ChannelType::Webhook as i32,
                            webhook: Some(routing::WebhookTarget { url: url.into() }),
                            ..Default::default()
                        }),
                        template_id: String::new(),
                    }),
                    ..Default::default()
                }
            } else {
                routing::RoutingAction {
                    r#type: routing::ActionType::NotifyWebhook as i32,
                    notify_webhook: Some(routing::NotifyWebhookAction {
                        webhook_url: url.into(),
                    }),
                    ..Default::default()
                }
            }],
            ..Default::default()
        };
        let created = rules
            .create_routing_rule(bearer(
                routing::CreateRoutingRuleRequest { rule: Some(rule) },
                &self.token,
            )?)
            .await
            .context("creating the notify rule")?
            .into_inner();
        Ok(created.id)
    }

    pub async fn delete_rule(&self, id: &str) -> anyhow::Result<()> {
        let mut rules = RoutingServiceClient::connect(self.grpc_target.clone()).await?;
        rules
            .delete_routing_rule(bearer(
                routing::DeleteRoutingRuleRequest { id: id.into() },
                &self.token,
            )?)
            .await
            .context("deleting the notify rule")?;
        Ok(())
    }

    /// Waits until the server has routed every committed alert (its routing queue at
    /// /metrics is empty); how long that took.
    pub async fn routing_drained(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let client = reqwest::Client::new();
        loop {
            let text = client
                .get(format!("{}/metrics", self.target))
                .send()
                .await?
                .error_for_status()?
                .text()
                .await?;
            let depth = text
                .lines()
                .find_map(|l| l.strip_prefix("oncall_routing_queue_depth "))
                .context("the server's /metrics has no oncall_routing_queue_depth")?
                .trim()
                .parse::<f64>()?;
            if depth <= 0.0 {
                return Ok(started.elapsed());
            }
            if started.elapsed() > ROUTING_DRAIN_LIMIT {
                bail!("routing still had {depth} alerts queued after {ROUTING_DRAIN_LIMIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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

impl TargetArgs {
    /// The ids of every alert of the run's service, through ListAlerts pages.
    pub async fn alert_ids(&self, service: &RunService) -> anyhow::Result<Vec<String>> {
        let mut alerts = AlertServiceClient::connect(self.grpc_target.clone()).await?;
        let mut ids = Vec::new();
        let mut token = String::new();
        loop {
            let page = alerts
                .list_alerts(bearer(
                    pb::ListAlertsRequest {
                        service_id: service.id.clone(),
                        page_size: 1_000,
                        page_token: token,
                        ..Default::default()
                    },
                    &self.token,
                )?)
                .await
                .context("listing the run's alerts")?
                .into_inner();
            ids.extend(page.alerts.into_iter().map(|a| a.id));
            if page.next_page_token.is_empty() {
                return Ok(ids);
            }
            token = page.next_page_token;
        }
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

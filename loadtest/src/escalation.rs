//! The escalation scenario: N alerts, one chain each on a two-step policy (a page now,
//! another after `--delay-seconds`), every page posted to a sink the harness runs. With
//! `--targets channel` each step pages a webhook channel; with `--targets schedule` each
//! step pages whoever is on call on a schedule (a user whose verified webhook method is
//! the sink), so every page also works out who is on call.
//! Reports how many chains start a second, how late each step fired after it was due
//! (p50, p99, max), whether any page came twice or not at all, and, with `--pid`, the
//! server's RSS per chain while every chain waits for its second step.
//!
//! The server must allow private destinations: the sink is on loopback.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use directory::user_service_client::UserServiceClient;
use futures_util::StreamExt;
use oncall::pb::alerting::routing::v1 as routing;
use oncall::pb::directory::v1 as directory;
use routing::escalation_service_client::EscalationServiceClient;
use routing::schedule_service_client::ScheduleServiceClient;
use serde_json::json;

use crate::http::Format;
use crate::sink::{self, Received};
use crate::storm::{Storm, StormArgs};
use crate::target::{TargetArgs, bearer, rss_kib};

#[derive(Args, Clone)]
pub struct EscalationArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Chains in flight at once (one alert each).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    chains: u64,
    /// Seconds between a chain's two steps.
    #[arg(long, default_value_t = 60)]
    delay_seconds: u64,
    /// Requests in flight at once when starting chains and reading their status.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    concurrency: u64,
    /// What each step pages: a webhook channel, or whoever is on call on a schedule.
    #[arg(long, value_enum, default_value_t = Targets::Channel)]
    targets: Targets,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Targets {
    Channel,
    Schedule,
}

/// How long the harness waits for a step's pages beyond their due time.
const PAGE_WAIT: Duration = Duration::from_secs(600);

pub async fn run(args: EscalationArgs) -> anyhow::Result<()> {
    let target = &args.target;
    let (sink_address, pages) = sink::start("127.0.0.1:0".parse()?).await?;
    let run = crate::new_run_id();
    let service = target.create_service(&run).await?;
    let policy = create_policy(
        target,
        &run,
        &format!("http://{sink_address}"),
        args.delay_seconds,
        args.targets,
    )
    .await?;

    // The alerts, a thousand to a webhook request.
    let storm = Storm::new(
        run.clone(),
        StormArgs {
            alerts: args.chains,
            batch: 1_000,
            roots: 0,
            repeat_percent: 0,
            site: "IAD1".into(),
        },
    );
    let http = reqwest::Client::new();
    let url = format!(
        "{}/api/v1/webhook/alertmanager/{}",
        target.target, service.key
    );
    let at = crate::starts_at();
    for b in 0..storm.batches() {
        let body = Format::AlertmanagerWebhook.body(&storm, b, &at, &service.key);
        let response = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("ingest: HTTP {}", response.status());
        }
    }
    let ids = target.alert_ids(&service).await?;
    if ids.len() as u64 != args.chains {
        bail!("{} alerts stored for {} sent", ids.len(), args.chains);
    }

    let escalation = EscalationServiceClient::connect(target.grpc_target.clone()).await?;
    let rss_before = target.pid.map(rss_kib).transpose()?;
    let started = Instant::now();
    let starts = ids.iter().map(|alert| {
        let mut client = escalation.clone();
        let request = bearer(
            routing::StartEscalationRequest {
                alert_id: alert.clone(),
                policy_id: policy.clone(),
            },
            &target.token,
        );
        async move {
            client
                .start_escalation(request?)
                .await
                .context("StartEscalation")
        }
    });
    let results = futures_util::stream::iter(starts)
        .buffer_unordered(args.concurrency as usize)
        .collect::<Vec<_>>()
        .await;
    for result in results {
        result?;
    }
    let start_seconds = started.elapsed().as_secs_f64();
    println!(
        "{} chains started in {start_seconds:.1} s ({:.0}/s)",
        args.chains,
        args.chains as f64 / start_seconds
    );
    wait_for(&pages, "/first", args.chains, PAGE_WAIT).await?;
    let mut bytes_per_chain = None;
    if let (Some(pid), Some(before)) = (target.pid, rss_before) {
        // Let passivation settle: chains idle past the server's actor idle time give up
        // their actors.
        tokio::time::sleep(Duration::from_secs(args.delay_seconds.min(90) / 2)).await;
        let during = rss_kib(pid)?;
        let per = (during.saturating_sub(before) * 1024) as f64 / args.chains as f64;
        println!(
            "RSS {before} KiB before the chains, {during} KiB with {} chains waiting: {per:.0} B per chain",
            args.chains
        );
        bytes_per_chain = Some(per);
    }
    wait_for(
        &pages,
        "/second",
        args.chains,
        Duration::from_secs(args.delay_seconds) + PAGE_WAIT,
    )
    .await?;
    // A page sent twice would arrive just after the last expected one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (first, second) = (pages.at("/first"), pages.at("/second"));
    println!(
        "pages: {first} first-step, {second} second-step for {} chains",
        args.chains
    );
    if first != args.chains || second != args.chains {
        bail!("a page came twice or not at all");
    }

    let late = lateness(
        target,
        &escalation,
        &ids,
        args.delay_seconds,
        args.concurrency,
    )
    .await?;
    let (p50, p99, max) = (
        percentile(&late, 0.50),
        percentile(&late, 0.99),
        late.last().copied().unwrap_or(0),
    );
    println!(
        "timer lateness over {} steps: p50 {p50} ms, p99 {p99} ms, max {max} ms",
        late.len()
    );
    if let Some(path) = &args.json {
        let summary = json!({
            "scenario": "escalation",
            "targets": format!("{:?}", args.targets).to_lowercase(),
            "run": run,
            "chains": args.chains,
            "delay_seconds": args.delay_seconds,
            "chains_started_per_second": args.chains as f64 / start_seconds,
            "pages": {"first": first, "second": second},
            "lateness_ms": {"p50": p50, "p99": p99, "max": max},
            "server_rss_bytes_per_chain": bytes_per_chain,
        });
        std::fs::write(path, serde_json::to_string_pretty(&summary)?)?;
    }
    Ok(())
}

/// A two-step policy paging the sink's `/first` now and `/second` after `delay`.
async fn create_policy(
    target: &TargetArgs,
    run: &str,
    sink: &str,
    delay: u64,
    targets: Targets,
) -> anyhow::Result<String> {
    let mut to = Vec::new();
    for path in ["first", "second"] {
        to.push(match targets {
            Targets::Channel => routing::EscalationTarget {
                r#type: routing::EscalationTargetType::Channel as i32,
                webhook_url: format!("{sink}/{path}"),
                ..Default::default()
            },
            Targets::Schedule => routing::EscalationTarget {
                r#type: routing::EscalationTargetType::Schedule as i32,
                schedule_id: on_call_schedule(target, run, sink, path).await?,
                level: 1,
                ..Default::default()
            },
        });
    }
    let step = |seconds: u64, to: routing::EscalationTarget| routing::EscalationStep {
        delay: Some(prost_types::Duration {
            seconds: i64::try_from(seconds).unwrap_or(i64::MAX),
            nanos: 0,
        }),
        targets: vec![to],
        ..Default::default()
    };
    let (first, second) = (to.remove(0), to.remove(0));
    let mut escalation = EscalationServiceClient::connect(target.grpc_target.clone()).await?;
    let policy = escalation
        .create_escalation_policy(bearer(
            routing::CreateEscalationPolicyRequest {
                policy: Some(routing::EscalationPolicy {
                    name: format!("loadtest-{run}"),
                    steps: vec![step(0, first), step(delay, second)],
                    ..Default::default()
                }),
            },
            &target.token,
        )?)
        .await
        .context("creating the escalation policy")?
        .into_inner();
    Ok(policy.id)
}

/// A schedule on which one user is always on call: the user's verified webhook method
/// is the sink's `/<path>`.
async fn on_call_schedule(
    target: &TargetArgs,
    run: &str,
    sink: &str,
    path: &str,
) -> anyhow::Result<String> {
    let mut users = UserServiceClient::connect(target.grpc_target.clone()).await?;
    let user = users
        .create_user(bearer(
            directory::CreateUserRequest {
                user: Some(directory::User {
                    name: format!("loadtest-{run}-{path}"),
                    timezone: "UTC".into(),
                    ..Default::default()
                }),
            },
            &target.token,
        )?)
        .await
        .context("creating the on-call user")?
        .into_inner();
    users
        .add_contact_method(bearer(
            directory::AddContactMethodRequest {
                user_id: user.id.clone(),
                method: Some(directory::ContactMethod {
                    r#type: directory::ContactMethodType::Webhook as i32,
                    address: format!("{sink}/{path}"),
                    verified: true,
                    ..Default::default()
                }),
            },
            &target.token,
        )?)
        .await
        .context("adding the on-call user's webhook")?;
    let mut schedules = ScheduleServiceClient::connect(target.grpc_target.clone()).await?;
    let schedule = schedules
        .create_schedule(bearer(
            routing::CreateScheduleRequest {
                schedule: Some(routing::Schedule {
                    name: format!("loadtest-{run}-{path}"),
                    timezone: "UTC".into(),
                    rotations: vec![routing::Rotation {
                        name: "everyone".into(),
                        r#type: routing::RotationType::Daily as i32,
                        members: vec![routing::RotationMember {
                            user_id: user.id,
                            position: 1,
                        }],
                        // 2026-01-01: a one-member rotation is on call from then on.
                        start_time: Some(prost_types::Timestamp {
                            seconds: 1_767_225_600,
                            nanos: 0,
                        }),
                        shift_config: Some(routing::ShiftConfig {
                            handoff_time: "08:00".into(),
                            ..Default::default()
                        }),
                        level: 1,
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            &target.token,
        )?)
        .await
        .context("creating the on-call schedule")?
        .into_inner();
    Ok(schedule.id)
}

/// Each step's page against its due time, from the stored chains, sorted.
async fn lateness(
    target: &TargetArgs,
    escalation: &EscalationServiceClient<tonic::transport::Channel>,
    ids: &[String],
    delay: u64,
    concurrency: u64,
) -> anyhow::Result<Vec<i64>> {
    let statuses = ids.iter().map(|alert| {
        let mut client = escalation.clone();
        let request = bearer(
            routing::GetEscalationStatusRequest {
                alert_id: alert.clone(),
            },
            &target.token,
        );
        async move {
            client
                .get_escalation_status(request?)
                .await
                .context("GetEscalationStatus")
        }
    });
    let statuses = futures_util::stream::iter(statuses)
        .buffer_unordered(concurrency as usize)
        .collect::<Vec<_>>()
        .await;
    let delay_ms = i64::try_from(delay * 1_000).unwrap_or(i64::MAX);
    let mut late = Vec::with_capacity(2 * ids.len());
    for status in statuses {
        let status = status?.into_inner();
        let chain = status.chains.first().context("an alert without a chain")?;
        let (Some(first), Some(second)) = (chain.pages.first(), chain.pages.get(1)) else {
            bail!("chain {} has {} pages", chain.chain_id, chain.pages.len());
        };
        let started = millis(chain.started_at.as_ref());
        let first = millis(first.created_at.as_ref());
        let second = millis(second.created_at.as_ref());
        late.push(first - started);
        late.push(second - first - delay_ms);
    }
    late.sort_unstable();
    Ok(late)
}

async fn wait_for(
    pages: &Received,
    path: &str,
    wanted: u64,
    limit: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while pages.at(path) < wanted {
        if Instant::now() > deadline {
            bail!(
                "{path}: {} of {wanted} pages after {limit:?}",
                pages.at(path)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

fn millis(t: Option<&prost_types::Timestamp>) -> i64 {
    t.map_or(0, |t| t.seconds * 1_000 + i64::from(t.nanos) / 1_000_000)
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

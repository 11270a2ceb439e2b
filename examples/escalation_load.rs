//! Measures escalation at scale against a running `oncall serve`: N alerts, one chain
//! each on a two-step policy (a page now, another after `--delay`), pages posted to a
//! sink this program runs. Reports how late each step fired after it was due (p50, p99,
//! max), whether any page came twice or not at all, and, with `--pid`, the server's RSS
//! per chain in flight (after every first page, while every chain waits for its second).
//!
//! The server must allow private destinations (the sink is on loopback):
//!
//! ```sh
//! oncall serve --admin-token T --allow-private-destinations &
//! cargo run --release --example escalation_load -- --token T --chains 10000 --pid $!
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::StreamExt;
use oncall::grpc::pb::alerting::routing::v1 as routing;
use oncall::grpc::pb::alerting::routing::v1::escalation_service_client::EscalationServiceClient;
use oncall::grpc::pb::alerting::v1 as pb;
use oncall::grpc::pb::alerting::v1::alert_service_client::AlertServiceClient;
use support::{authed, rss_kib, service_with_key};

mod support;

#[derive(Parser)]
struct Args {
    /// An admin token.
    #[arg(long)]
    token: String,
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    http: String,
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    grpc: String,
    /// Concurrent chains (one alert each).
    #[arg(long, default_value_t = 10_000)]
    chains: usize,
    /// Seconds between a chain's two steps.
    #[arg(long, default_value_t = 60)]
    delay: u64,
    /// Requests in flight at once when starting chains and reading their status.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The server's pid, to read its RSS.
    #[arg(long)]
    pid: Option<u32>,
}

/// Pages the sink received, per step.
#[derive(Default)]
struct Sink {
    first: AtomicUsize,
    second: AtomicUsize,
}

async fn sink() -> anyhow::Result<(String, Arc<Sink>)> {
    let counts = Arc::new(Sink::default());
    let app = axum::Router::new()
        .route(
            "/first",
            axum::routing::post(
                |axum::extract::State(s): axum::extract::State<Arc<Sink>>| async move {
                    s.first.fetch_add(1, Ordering::Relaxed);
                    "ok"
                },
            ),
        )
        .route(
            "/second",
            axum::routing::post(
                |axum::extract::State(s): axum::extract::State<Arc<Sink>>| async move {
                    s.second.fetch_add(1, Ordering::Relaxed);
                    "ok"
                },
            ),
        )
        .with_state(counts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((format!("http://{address}"), counts))
}

fn millis(t: Option<&prost_types::Timestamp>) -> i64 {
    t.map_or(0, |t| t.seconds * 1_000 + i64::from(t.nanos) / 1_000_000)
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn wait_for(
    what: &str,
    count: &AtomicUsize,
    wanted: usize,
    limit: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while count.load(Ordering::Relaxed) < wanted {
        if Instant::now() > deadline {
            bail!(
                "{what}: {} of {wanted} pages after {limit:?}",
                count.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (sink_url, pages) = sink().await?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let (service_id, key) =
        service_with_key(&args.grpc, &args.token, format!("escalation-{run}")).await?;
    let channel = |path: &str| routing::EscalationTarget {
        r#type: routing::EscalationTargetType::Channel as i32,
        webhook_url: format!("{sink_url}/{path}"),
        ..Default::default()
    };
    let step = |seconds: u64, path: &str| routing::EscalationStep {
        delay: Some(prost_types::Duration {
            seconds: i64::try_from(seconds).unwrap_or(i64::MAX),
            nanos: 0,
        }),
        targets: vec![channel(path)],
        ..Default::default()
    };
    let mut escalation = EscalationServiceClient::connect(args.grpc.clone()).await?;
    let policy = escalation
        .create_escalation_policy(authed(
            routing::CreateEscalationPolicyRequest {
                policy: Some(routing::EscalationPolicy {
                    name: format!("load-{run}"),
                    steps: vec![step(0, "first"), step(args.delay, "second")],
                    ..Default::default()
                }),
            },
            &args.token,
        )?)
        .await?
        .into_inner();

    // The alerts, 1,000 to a webhook request.
    let http = reqwest::Client::new();
    for first in (0..args.chains).step_by(1_000) {
        let alerts: Vec<serde_json::Value> = (first..(first + 1_000).min(args.chains))
            .map(|i| {
                serde_json::json!({"status": "firing",
                    "labels": {"alertname": "PeerDown", "peer": i.to_string(), "run": run},
                    "annotations": {"summary": format!("peer {i} down")},
                    "startsAt": "2026-11-28T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "", "fingerprint": format!("{run}-{i}")})
            })
            .collect();
        let body = serde_json::json!({"version": "4", "status": "firing", "receiver": "oncall",
            "externalURL": "http://am:9093", "alerts": alerts});
        let response = http
            .post(format!("{}/api/v1/webhook/alertmanager/{key}", args.http))
            .json(&body)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("ingest: HTTP {}", response.status());
        }
    }
    let mut alerts_client = AlertServiceClient::connect(args.grpc.clone()).await?;
    let mut ids = Vec::with_capacity(args.chains);
    let mut token = String::new();
    loop {
        let page = alerts_client
            .list_alerts(authed(
                pb::ListAlertsRequest {
                    service_id: service_id.clone(),
                    page_size: 1_000,
                    page_token: token,
                    ..Default::default()
                },
                &args.token,
            )?)
            .await?
            .into_inner();
        ids.extend(page.alerts.into_iter().map(|a| a.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    if ids.len() != args.chains {
        bail!("{} alerts stored for {} sent", ids.len(), args.chains);
    }

    let rss_before = args.pid.map(rss_kib).transpose()?;
    let started = Instant::now();
    let starts = ids.iter().map(|alert| {
        let mut client = escalation.clone();
        let request = authed(
            routing::StartEscalationRequest {
                alert_id: alert.clone(),
                policy_id: policy.id.clone(),
            },
            &args.token,
        );
        async move {
            client
                .start_escalation(request?)
                .await
                .context("StartEscalation")
        }
    });
    let results = futures_util::stream::iter(starts)
        .buffer_unordered(args.concurrency)
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
    wait_for(
        "first step",
        &pages.first,
        args.chains,
        Duration::from_secs(600),
    )
    .await?;
    if let (Some(pid), Some(before)) = (args.pid, rss_before) {
        // Let passivation settle: chains idle past the server's actor idle time give up
        // their actors.
        tokio::time::sleep(Duration::from_secs(args.delay.min(90) / 2)).await;
        let during = rss_kib(pid)?;
        println!(
            "RSS {before} KiB before the chains, {during} KiB with {} chains waiting: {:.0} B per chain",
            args.chains,
            (during.saturating_sub(before) * 1024) as f64 / args.chains as f64
        );
    }
    wait_for(
        "second step",
        &pages.second,
        args.chains,
        Duration::from_secs(args.delay + 600),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (first, second) = (
        pages.first.load(Ordering::Relaxed),
        pages.second.load(Ordering::Relaxed),
    );
    println!(
        "pages: {first} first-step, {second} second-step for {} chains",
        args.chains
    );
    if first != args.chains || second != args.chains {
        bail!("a page came twice or not at all");
    }

    // Lateness: each step's page against its due time, from the stored chain.
    let statuses = ids.iter().map(|alert| {
        let mut client = escalation.clone();
        let request = authed(
            routing::GetEscalationStatusRequest {
                alert_id: alert.clone(),
            },
            &args.token,
        );
        async move {
            client
                .get_escalation_status(request?)
                .await
                .context("GetEscalationStatus")
        }
    });
    let statuses = futures_util::stream::iter(statuses)
        .buffer_unordered(args.concurrency)
        .collect::<Vec<_>>()
        .await;
    let delay_ms = i64::try_from(args.delay * 1_000).unwrap_or(i64::MAX);
    let mut late = Vec::with_capacity(2 * args.chains);
    for status in statuses {
        let status = status?.into_inner();
        let chain = status.chains.first().context("a chain")?;
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
    println!(
        "timer lateness over {} steps: p50 {} ms, p99 {} ms, max {} ms",
        late.len(),
        percentile(&late, 0.50),
        percentile(&late, 0.99),
        late[late.len() - 1]
    );
    Ok(())
}

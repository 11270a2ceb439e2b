//! oncall's load harness: sends an ISP alert storm to a running oncall (and, to compare,
//! to a Prometheus Alertmanager), measures what was taken and how fast, and checks
//! afterwards that every alert the target acknowledged is really there.

mod alertmanager;
mod drive;
mod escalation;
mod grpc;
mod http;
mod report;
mod sink;
mod storm;
mod target;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::alertmanager::AlertmanagerArgs;
use crate::drive::{Driven, drive};
use crate::grpc::{GrpcConnection, Rpc};
use crate::http::{Format, HttpConnection};
use crate::report::{Presence, Progress, RunInfo, Summary, Tally};
use crate::storm::{Storm, StormArgs};
use crate::target::{TargetArgs, rss_kib};

#[derive(Parser)]
#[command(
    name = "loadtest",
    version,
    about = "Alert storms against oncall, measured"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Alertmanager webhook v4 batches over HTTP, as fast as oncall answers.
    StormWebhook(Common),
    /// gRPC ingest: IngestAlerts streams or BatchCreateAlerts calls.
    StormGrpc {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_enum, default_value_t = Rpc::Stream)]
        rpc: Rpc,
    },
    /// PagerDuty Events API v2 trigger events, one per request (--batch is ignored).
    Pagerduty(Common),
    /// A steady rate for a duration: --rate alerts/s for --duration-seconds.
    Soak {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
        duration_seconds: u64,
        /// The path the soak goes through.
        #[arg(long, value_enum, default_value_t = Via::Webhook)]
        via: Via,
    },
    /// The same storm to oncall's webhook and to Alertmanager's /api/v2/alerts, one after
    /// the other, with both rates and their ratio.
    CompareAlertmanager {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        alertmanager: AlertmanagerArgs,
    },
    /// Escalation at scale: N chains of two steps paging a sink; step lateness and RSS.
    Escalation(escalation::EscalationArgs),
    /// A webhook receiver that answers 200 and counts: the target for --notify-webhook.
    Sink {
        #[arg(long, default_value = "127.0.0.1:9099")]
        listen: std::net::SocketAddr,
    },
}

#[derive(Args, Clone)]
struct Common {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    storm: StormArgs,
    /// Concurrent connections (HTTP keep-alive connections, gRPC streams or channels).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=4096))]
    connections: u64,
    /// Hold the run to this many alerts per second (0: as fast as the target answers).
    #[arg(long, default_value_t = 0.0, value_parser = rate)]
    rate: f64,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Seconds between progress lines on stderr.
    #[arg(long, default_value_t = 1.0)]
    progress_seconds: f64,
    /// Add a routing rule that POSTs each of the run's alerts to this URL (see `sink`),
    /// to measure ingest while routing notifies; the rule is deleted after the run. The
    /// server needs --allow-private-destinations for a loopback URL.
    #[arg(long)]
    notify_webhook: Option<String>,
    /// Like --notify-webhook, but by a webhook channel through the delivery actors: the
    /// URL gets at most [notify.webhook] per_url_per_second messages, waiting alerts as
    /// digests.
    #[arg(long, conflicts_with = "notify_webhook")]
    notify_channel_webhook: Option<String>,
}

/// A rate: a finite number of alerts per second, 0 or more.
fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(r),
        _ => Err(format!(
            "{text:?} is not a rate (alerts per second, 0 or more)"
        )),
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Via {
    Webhook,
    Grpc,
}

/// How one run reaches oncall.
#[derive(Clone, Copy)]
enum Path {
    Webhook,
    PagerDuty,
    Grpc(Rpc),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.scenario {
        Scenario::Sink { listen } => return sink::serve(listen).await,
        Scenario::Escalation(args) => return escalation::run(args).await,
        _ => {}
    }
    let json_file = cli.scenario.common().and_then(|c| c.json.clone());
    let (summaries, json) = match cli.scenario {
        Scenario::StormWebhook(common) => {
            let s = run_oncall("storm-webhook", &common, Path::Webhook).await?;
            let json = s.json();
            (vec![s], json)
        }
        Scenario::StormGrpc { common, rpc } => {
            let s = run_oncall("storm-grpc", &common, Path::Grpc(rpc)).await?;
            let json = s.json();
            (vec![s], json)
        }
        Scenario::Pagerduty(mut common) => {
            common.storm.batch = 1;
            let s = run_oncall("pagerduty", &common, Path::PagerDuty).await?;
            let json = s.json();
            (vec![s], json)
        }
        Scenario::Soak {
            mut common,
            duration_seconds,
            via,
        } => {
            if common.rate <= 0.0 {
                bail!("soak needs --rate (alerts per second) above 0");
            }
            common.storm.alerts = (common.rate * duration_seconds as f64).ceil() as u64;
            let path = match via {
                Via::Webhook => Path::Webhook,
                Via::Grpc => Path::Grpc(Rpc::Stream),
            };
            let s = run_oncall("soak", &common, path).await?;
            let json = s.json();
            (vec![s], json)
        }
        Scenario::CompareAlertmanager {
            common,
            alertmanager,
        } => {
            let ours = run_oncall("storm-webhook", &common, Path::Webhook).await?;
            let theirs = run_alertmanager(&common, &alertmanager).await?;
            let ratio = ours.rate() / theirs.rate().max(1e-9);
            println!(
                "oncall {:.0} alerts/s, Alertmanager {:.0} alerts/s: oncall at {ratio:.2}× \
                 Alertmanager's rate",
                ours.rate(),
                theirs.rate()
            );
            let json = serde_json::json!({
                "oncall": ours.json(),
                "alertmanager": theirs.json(),
                "ratio": ratio,
            });
            (vec![ours, theirs], json)
        }
        Scenario::Sink { .. } | Scenario::Escalation(_) => return Ok(()),
    };
    if let Some(path) = json_file {
        std::fs::write(&path, serde_json::to_string_pretty(&json)?)?;
    }
    check(&summaries)
}

impl Scenario {
    fn common(&self) -> Option<&Common> {
        match self {
            Scenario::StormWebhook(common)
            | Scenario::Pagerduty(common)
            | Scenario::StormGrpc { common, .. }
            | Scenario::Soak { common, .. }
            | Scenario::CompareAlertmanager { common, .. } => Some(common),
            Scenario::Sink { .. } | Scenario::Escalation(_) => None,
        }
    }
}

/// A run's own id: its alerts carry it as the `loadtest_run` label and in their
/// fingerprints, so runs never collide and each can be counted apart.
pub(crate) fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

pub(crate) fn starts_at() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One run against oncall, on its own service, checked afterwards.
async fn run_oncall(scenario: &str, common: &Common, path: Path) -> anyhow::Result<Summary> {
    let target = &common.target;
    let run = new_run_id();
    let service = target.create_service(&run).await?;
    let rule = match (&common.notify_webhook, &common.notify_channel_webhook) {
        (Some(url), _) => Some(target.create_notify_rule(&run, url, false).await?),
        (None, Some(url)) => Some(target.create_notify_rule(&run, url, true).await?),
        (None, None) => None,
    };
    let storm = Storm::new(run.clone(), common.storm.clone());
    let rss_before = target.pid.map(rss_kib).transpose()?;
    let tally = Arc::new(Tally::default());
    let driven = {
        let _progress = progress(scenario, &tally, common);
        let n = common.connections;
        match path {
            Path::Webhook | Path::PagerDuty => {
                let (url, format) = match path {
                    Path::PagerDuty => (format!("{}/v2/enqueue", target.target), Format::PagerDuty),
                    _ => (
                        format!(
                            "{}/api/v1/webhook/alertmanager/{}",
                            target.target, service.key
                        ),
                        Format::AlertmanagerWebhook,
                    ),
                };
                let at = starts_at();
                let connections = (0..n)
                    .map(|_| {
                        HttpConnection::new(url.clone(), format, service.key.clone(), at.clone())
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                drive(connections, &storm, pace(common), &tally).await?
            }
            Path::Grpc(rpc) => {
                let mut connections = Vec::new();
                for _ in 0..n {
                    connections.push(
                        GrpcConnection::connect(&target.grpc_target, rpc, service.key.clone())
                            .await?,
                    );
                }
                drive(connections, &storm, pace(common), &tally).await?
            }
        }
    };
    let present = target.alerts_of(&service).await?;
    let mut routing_drained = None;
    if let Some(rule) = rule {
        // The rule must outlive the routing of the run's last alert.
        routing_drained = Some(target.routing_drained().await?);
        target.delete_rule(&rule).await?;
    }
    let rss_after = target.pid.map(rss_kib).transpose()?;
    let shown = match path {
        Path::Grpc(_) => &target.grpc_target,
        _ => &target.target,
    };
    let mut summary = summarise(scenario, shown, &run, common, &tally, driven, present);
    summary.rss_kib = rss_before.zip(rss_after);
    summary.routing_drained = routing_drained;
    summary.print();
    Ok(summary)
}

/// The same storm against Prometheus Alertmanager's own API.
async fn run_alertmanager(common: &Common, args: &AlertmanagerArgs) -> anyhow::Result<Summary> {
    let started = match &args.start_alertmanager {
        Some(binary) => Some(alertmanager::start(binary).await?),
        None => None,
    };
    let (url, pid) = match &started {
        Some(s) => (s.url.clone(), s.pid),
        None => (args.alertmanager.clone(), args.alertmanager_pid),
    };
    let run = new_run_id();
    let storm = Storm::new(run.clone(), common.storm.clone());
    let rss_before = pid.map(rss_kib).transpose()?;
    let tally = Arc::new(Tally::default());
    let driven = {
        let _progress = progress("alertmanager", &tally, common);
        let at = starts_at();
        let connections = (0..common.connections)
            .map(|_| {
                HttpConnection::new(
                    format!("{url}/api/v2/alerts"),
                    Format::AlertmanagerApi,
                    String::new(),
                    at.clone(),
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        drive(connections, &storm, pace(common), &tally).await?
    };
    let present = alertmanager::alerts_of(&url, &run).await?;
    let rss_after = pid.map(rss_kib).transpose()?;
    let mut summary = summarise("alertmanager", &url, &run, common, &tally, driven, present);
    summary.rss_kib = rss_before.zip(rss_after);
    summary.print();
    Ok(summary)
}

fn pace(common: &Common) -> Option<f64> {
    (common.rate > 0.0).then_some(common.rate)
}

fn progress(label: &str, tally: &Arc<Tally>, common: &Common) -> Progress {
    let every = Duration::from_secs_f64(common.progress_seconds.max(0.1));
    Progress::start(label.to_string(), tally.clone(), every)
}

fn summarise(
    scenario: &str,
    target: &str,
    run: &str,
    common: &Common,
    tally: &Tally,
    driven: Driven,
    present: u64,
) -> Summary {
    let Driven {
        elapsed,
        latency,
        mut acked_keys,
    } = driven;
    acked_keys.sort_unstable();
    acked_keys.dedup();
    let info = RunInfo {
        scenario: scenario.into(),
        target: target.into(),
        run: run.into(),
        batch: common.storm.batch,
        connections: common.connections,
    };
    let mut summary = Summary::new(info, tally, elapsed, latency);
    summary.presence = Some(Presence {
        acked_distinct: acked_keys.len() as u64,
        present,
    });
    summary
}

/// Fails the process when a run lost an alert it acknowledged, or measured nothing.
fn check(summaries: &[Summary]) -> anyhow::Result<()> {
    for s in summaries {
        if !s.complete() {
            bail!(
                "{} at {}: acknowledged alerts are MISSING (run {})",
                s.info.scenario,
                s.info.target,
                s.info.run
            );
        }
        if s.rate() == 0.0 {
            bail!(
                "{} at {}: no alert was acknowledged",
                s.info.scenario,
                s.info.target
            );
        }
    }
    Ok(())
}

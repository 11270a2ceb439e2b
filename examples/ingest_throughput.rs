//! Measures ingest throughput against a running `oncall serve`: Alertmanager webhook
//! batches over HTTP and the gRPC `IngestAlerts` stream, every alert a new one, every
//! answer durable. With `--pid`, also reports the server's RSS per open alert.
//!
//! This is the quick measurement behind the core engine's figures; the load harness
//! proper (scenarios, latency histograms, Alertmanager side by side) is `loadtest/`.
//!
//! ```sh
//! cargo run --release --example ingest_throughput -- \
//!     --token ADMIN_TOKEN --alerts 100000 --connections 8 --batch 100 [--pid PID]
//! ```

use std::time::Instant;

use anyhow::bail;
use clap::{Parser, ValueEnum};
use oncall::grpc::pb::alerting::v1 as pb;
use oncall::grpc::pb::alerting::v1::alert_service_client::AlertServiceClient;
use support::{authed, rss_kib, service_with_key};

mod support;

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Webhook,
    GrpcStream,
}

#[derive(Parser)]
struct Args {
    /// Which path to drive.
    #[arg(long, value_enum, default_value_t = Mode::Webhook)]
    mode: Mode,
    /// An admin token, used to create the service and key.
    #[arg(long)]
    token: String,
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    http: String,
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    grpc: String,
    /// New alerts to send in all.
    #[arg(long, default_value_t = 100_000)]
    alerts: usize,
    /// Alerts per request or stream batch.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Concurrent HTTP connections or gRPC streams.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// The server's pid, to read its RSS before and after.
    #[arg(long)]
    pid: Option<u32>,
}

fn webhook_body(run: &str, first: usize, count: usize) -> String {
    let alerts: Vec<serde_json::Value> = (first..first + count)
        .map(|i| {
            serde_json::json!({
                "status": "firing",
                "labels": {"alertname": "InterfaceDown", "device": format!("edge-{}", i / 48),
                           "interface": format!("xe-0/0/{}", i % 48), "site": "IAD1",
                           "severity": "warning", "run": run},
                "annotations": {"summary": format!("interface {i} down")},
                "startsAt": "2026-11-27T20:29:35.622550767Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": format!("{run}-{i:012x}")
            })
        })
        .collect();
    serde_json::json!({"version": "4", "status": "firing", "receiver": "oncall",
        "externalURL": "http://am:9093", "alerts": alerts})
    .to_string()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let (_, key) = service_with_key(&args.grpc, &args.token, format!("bench-{run}")).await?;
    let rss_before = args.pid.map(rss_kib).transpose()?;
    let batches = args.alerts.div_ceil(args.batch);
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..args.connections {
        let mine: Vec<usize> = (worker..batches).step_by(args.connections).collect();
        let (key, run, batch, total) = (key.clone(), run.clone(), args.batch, args.alerts);
        let (http, grpc) = (args.http.clone(), args.grpc.clone());
        let mode = args.mode;
        workers.push(tokio::spawn(async move {
            let size = |b: usize| batch.min(total - b * batch);
            match mode {
                Mode::Webhook => {
                    let client = reqwest::Client::new();
                    let url = format!("{http}/api/v1/webhook/alertmanager/{key}");
                    for b in mine {
                        let response = client
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(webhook_body(&run, b * batch, size(b)))
                            .send()
                            .await?;
                        if !response.status().is_success() {
                            bail!("batch {b}: HTTP {}", response.status());
                        }
                    }
                }
                Mode::GrpcStream => {
                    let mut client = AlertServiceClient::connect(grpc).await?;
                    let requests: Vec<pb::IngestAlertsRequest> = mine
                        .iter()
                        .map(|&b| pb::IngestAlertsRequest {
                            batch_id: b as u64,
                            service_id: String::new(),
                            alerts: (b * batch..b * batch + size(b))
                                .map(|i| pb::AlertInput {
                                    summary: format!("interface {i} down"),
                                    fingerprint: format!("{run}-{i:012x}"),
                                    labels: [
                                        ("alertname".to_string(), "InterfaceDown".to_string()),
                                        ("interface".to_string(), format!("xe-0/0/{}", i % 48)),
                                        ("site".to_string(), "IAD1".to_string()),
                                    ]
                                    .into(),
                                    ..Default::default()
                                })
                                .collect(),
                        })
                        .collect();
                    let expected = requests.len();
                    let mut acks = client
                        .ingest_alerts(authed(tokio_stream::iter(requests), &key)?)
                        .await?
                        .into_inner();
                    let mut acked = 0;
                    while acks.message().await?.is_some() {
                        acked += 1;
                    }
                    if acked != expected {
                        bail!("stream {worker}: {acked} acks for {expected} batches");
                    }
                }
            }
            Ok(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} alerts in {seconds:.2} s: {:.0} alerts/s ({} per batch, {} connections)",
        args.alerts,
        args.alerts as f64 / seconds,
        args.batch,
        args.connections
    );
    if let (Some(pid), Some(before)) = (args.pid, rss_before) {
        let after = rss_kib(pid)?;
        println!(
            "server RSS {before} KiB -> {after} KiB: {:.0} bytes per open alert",
            (after.saturating_sub(before) * 1024) as f64 / args.alerts as f64
        );
    }
    Ok(())
}

//! Prometheus Alertmanager as the baseline: one already running, or one the harness
//! starts (Debian's `prometheus-alertmanager`) with a single receiver that sends
//! nowhere, so what is measured is Alertmanager taking alerts in, as oncall is.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use tokio::process::{Child, Command};

#[derive(Args, Clone, Debug)]
pub struct AlertmanagerArgs {
    /// A running Alertmanager's base URL. Ignored with --start-alertmanager.
    #[arg(long, default_value = "http://127.0.0.1:9093")]
    pub alertmanager: String,
    /// Start an Alertmanager for the run (this binary) and stop it afterwards.
    #[arg(long, num_args = 0..=1, default_missing_value = "/usr/bin/prometheus-alertmanager")]
    pub start_alertmanager: Option<PathBuf>,
    /// A running Alertmanager's pid, for its RSS (known already when the harness starts it).
    #[arg(long)]
    pub alertmanager_pid: Option<u32>,
}

/// An Alertmanager the harness started; stopped when dropped.
pub struct StartedAlertmanager {
    pub url: String,
    pub pid: Option<u32>,
    _child: Child,
    _dir: tempfile::TempDir,
}

const CONFIG: &str = "\
route:
  receiver: nowhere
  group_by: ['alertname', 'site']
receivers:
  - name: nowhere
";

pub async fn start(binary: &PathBuf) -> anyhow::Result<StartedAlertmanager> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(&config, CONFIG)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.path().display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (apt-get install prometheus-alertmanager)",
                binary.display()
            )
        })?;
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = client.get(format!("{url}/-/ready")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        if Instant::now() > deadline {
            bail!("Alertmanager at {url} was not ready within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(StartedAlertmanager {
        url,
        pid: child.id(),
        _child: child,
        _dir: dir,
    })
}

/// How many of the run's alerts Alertmanager holds.
pub async fn alerts_of(url: &str, run: &str) -> anyhow::Result<u64> {
    let body = reqwest::Client::new()
        .get(format!("{url}/api/v2/alerts"))
        .query(&[("filter", format!("loadtest_run=\"{run}\""))])
        .send()
        .await
        .context("listing Alertmanager's alerts")?
        .error_for_status()?
        .bytes()
        .await?;
    let alerts: Vec<serde_json::Value> =
        serde_json::from_slice(&body).context("Alertmanager's alert list")?;
    Ok(alerts.len() as u64)
}

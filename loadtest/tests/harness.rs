//! The harness as an operator runs it: the real `loadtest` binary against the real
//! `oncall serve` (small storms), its JSON summary read back, and its presence check shown
//! to fail when a target acknowledges alerts it does not keep.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "loadtest-harness-admin-token";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The `oncall` binary cargo built beside this test (same profile directory).
fn oncall_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let oncall = profile_dir.join(format!("oncall{}", std::env::consts::EXE_SUFFIX));
    assert!(
        oncall.exists(),
        "{} is missing: run the workspace's tests (`cargo nextest run --workspace`), which \
         build it",
        oncall.display()
    );
    oncall
}

struct Server {
    child: Child,
    http: String,
    grpc: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `oncall serve` on ports from `free_port`. Another test may take one between
/// the pick and the bind; then the server cannot bind, and it starts again on fresh ones.
fn start_server() -> Server {
    for _ in 0..5 {
        if let Some(server) = try_start_server() {
            return server;
        }
    }
    panic!("oncall found its ports taken five times");
}

fn try_start_server() -> Option<Server> {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("oncall.log");
    let (http_port, grpc_port) = (free_port(), free_port());
    let mut child = Command::new(oncall_binary())
        .arg("serve")
        .arg("--database-url")
        .arg(format!("sqlite://{}/oncall.db", dir.path().display()))
        .arg("--http-addr")
        .arg(format!("127.0.0.1:{http_port}"))
        .arg("--grpc-addr")
        .arg(format!("127.0.0.1:{grpc_port}"))
        .arg("--admin-token")
        .arg(TOKEN)
        .arg("--allow-private-destinations")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start oncall serve");
    // Serving once its own log says it holds its ports: answering on a port another
    // test's server holds must not pass for this one.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        if logged.contains("oncall is serving") {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            if logged.contains("Address already in use") {
                return None;
            }
            panic!("oncall exited early ({status}):\n{logged}");
        }
        assert!(
            Instant::now() < deadline,
            "oncall did not start within 30 s:\n{logged}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Server {
        child,
        http: format!("http://127.0.0.1:{http_port}"),
        grpc: format!("http://127.0.0.1:{grpc_port}"),
        _dir: dir,
    })
}

/// Runs `loadtest <args> --target .. --grpc-target .. --json FILE` against the server.
fn loadtest(server: &Server, args: &[&str]) -> (Output, serde_json::Value) {
    run_loadtest(&server.http, &server.grpc, args)
}

/// Runs `loadtest <args> --target HTTP --grpc-target GRPC --json FILE`; its output and
/// the parsed JSON summary (null when it wrote none).
fn run_loadtest(http: &str, grpc: &str, args: &[&str]) -> (Output, serde_json::Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("summary.json");
    let output = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(args)
        .arg("--target")
        .arg(http)
        .arg("--grpc-target")
        .arg(grpc)
        .arg("--json")
        .arg(&json)
        .env("ONCALL_ADMIN_TOKEN", TOKEN)
        .output()
        .expect("run loadtest");
    let summary = std::fs::read(&json)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(serde_json::Value::Null);
    (output, summary)
}

fn assert_complete(output: &Output, summary: &serde_json::Value, alerts: u64) {
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "loadtest failed:\n{shown}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(summary["alerts"]["sent"], alerts, "{summary}");
    assert_eq!(summary["alerts"]["acked"], alerts, "{summary}");
    assert_eq!(summary["check"]["missing"], 0, "{summary}");
    assert!(summary["alerts_per_second"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(summary["ack_latency_ms"]["p99"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(shown.contains("none missing"), "{shown}");
}

#[test]
fn every_scenario_runs_against_a_real_server_and_finds_its_alerts() {
    let server = start_server();
    let pid = server.child.id().to_string();

    let (out, summary) = loadtest(
        &server,
        &[
            "storm-webhook",
            "--alerts",
            "1000",
            "--batch",
            "50",
            "--connections",
            "4",
            "--repeat-percent",
            "20",
            "--pid",
            &pid,
        ],
    );
    assert_complete(&out, &summary, 1000);
    let distinct = summary["check"]["acked_distinct"].as_u64().unwrap_or(0);
    assert!(
        (700..1000).contains(&distinct),
        "a fifth of the storm repeats: {distinct} distinct"
    );
    assert!(summary["server_rss_kib"]["after"].as_u64().unwrap_or(0) > 0);

    for rpc in ["stream", "batch"] {
        let (out, summary) = loadtest(&server, &["storm-grpc", "--rpc", rpc, "--alerts", "1000"]);
        assert_complete(&out, &summary, 1000);
        assert_eq!(summary["check"]["present"], 1000);
    }

    let (out, summary) = loadtest(&server, &["pagerduty", "--alerts", "200"]);
    assert_complete(&out, &summary, 200);
    assert_eq!(
        summary["batch"], 1,
        "Events v2 carries one event per request"
    );

    let started = Instant::now();
    let (out, summary) = loadtest(
        &server,
        &[
            "soak",
            "--rate",
            "1000",
            "--duration-seconds",
            "2",
            "--batch",
            "50",
        ],
    );
    assert_complete(&out, &summary, 2000);
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "a soak holds its rate: 2,000 alerts at 1,000/s take two seconds"
    );

    let (out, summary) = loadtest(
        &server,
        &["escalation", "--chains", "40", "--delay-seconds", "1"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary["pages"]["first"], 40, "{summary}");
    assert_eq!(summary["pages"]["second"], 40, "{summary}");
    assert!(
        summary["lateness_ms"]["max"].as_i64().is_some(),
        "{summary}"
    );

    // The same, each step paging whoever is on call on a schedule.
    let (out, summary) = loadtest(
        &server,
        &[
            "escalation",
            "--chains",
            "40",
            "--delay-seconds",
            "1",
            "--targets",
            "schedule",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary["targets"], "schedule", "{summary}");
    assert_eq!(summary["pages"]["first"], 40, "{summary}");
    assert_eq!(summary["pages"]["second"], 40, "{summary}");
}

#[test]
fn a_target_that_acknowledges_without_keeping_fails_the_run() {
    let server = start_server();
    // The sink answers 200 to every POST and keeps nothing; oncall's gRPC still counts.
    let sink_port = free_port();
    let mut sink = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["sink", "--listen", &format!("127.0.0.1:{sink_port}")])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the sink");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", sink_port)).is_err() {
        assert!(Instant::now() < deadline, "the sink did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sink_url = format!("http://127.0.0.1:{sink_port}");
    let (output, summary) = run_loadtest(
        &sink_url,
        &server.grpc,
        &["storm-webhook", "--alerts", "300"],
    );
    let _ = sink.kill();
    let _ = sink.wait();
    assert!(
        !output.status.success(),
        "a run with missing alerts must fail"
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("MISSING"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(summary["check"]["missing"], 300, "{summary}");
}

#[test]
fn the_same_storm_reaches_alertmanager_and_oncall() {
    let alertmanager = Path::new("/usr/bin/prometheus-alertmanager");
    assert!(
        alertmanager.exists(),
        "Prometheus Alertmanager is not installed: `apt-get install prometheus-alertmanager` \
         (.ci/run installs it)"
    );
    let server = start_server();
    let (out, summary) = loadtest(
        &server,
        &[
            "compare-alertmanager",
            "--alerts",
            "2000",
            "--start-alertmanager",
        ],
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shown}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for side in ["oncall", "alertmanager"] {
        assert_eq!(summary[side]["alerts"]["acked"], 2000, "{side}: {summary}");
        assert_eq!(summary[side]["check"]["present"], 2000, "{side}: {summary}");
    }
    assert!(summary["ratio"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(shown.contains("Alertmanager's rate"), "{shown}");
}

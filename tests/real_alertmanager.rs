//! A real Prometheus Alertmanager (Debian's package, installed here if missing) posts to
//! the webhook; the alert shows up over gRPC, and its resolution follows.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ADMIN_TOKEN, Db, Server, authed, free_port};
use oncall::pb::alerting::v1 as pb;

/// Alertmanager's binary, installed with apt when it is missing.
fn alertmanager_binary() -> PathBuf {
    let find = || {
        std::env::var_os("ONCALL_TEST_ALERTMANAGER")
            .map(PathBuf::from)
            .or_else(|| {
                [
                    "/usr/bin/prometheus-alertmanager",
                    "/usr/local/bin/alertmanager",
                ]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
            })
    };
    if let Some(found) = find() {
        return found;
    }
    let installed = Command::new("apt-get")
        .args(["install", "-y", "-qq", "prometheus-alertmanager"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    find().unwrap_or_else(|| {
        panic!(
            "Prometheus Alertmanager is not installed and apt-get could not install it \
             ({installed:?}); run `apt-get update && apt-get install prometheus-alertmanager`"
        )
    })
}

struct Alertmanager {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_alertmanager(webhook: &str) -> Alertmanager {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: oncall\n  group_by: ['alertname', 'site']\n  group_wait: 0s\n  \
             group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: oncall\n    \
             webhook_configs:\n      - url: '{webhook}'\n        send_resolved: true\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let log_path = dir.path().join("alertmanager.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(alertmanager_binary())
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.path().display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start alertmanager");
    let am = Alertmanager {
        child,
        port,
        log: log_path.clone(),
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/-/ready")).await
            && r.status().is_success()
        {
            return am;
        }
        assert!(
            Instant::now() < deadline,
            "alertmanager never became ready:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls until `check` finds something, or panics with both servers' logs.
async fn wait_for<T>(
    what: &str,
    server: &Server,
    am: &Alertmanager,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n--- alertmanager:\n{}\n--- oncall:\n{}",
            std::fs::read_to_string(&am.log).unwrap_or_default(),
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_real_alertmanager_delivers_and_resolves() {
    let db = Db::sqlite();
    let server = Server::start(&db).await;
    let (service, key) = server.service_with_key("prometheus").await;
    let am = start_alertmanager(&server.http(&format!("/api/v1/webhook/alertmanager/{key}"))).await;

    let starts = chrono::Utc::now().to_rfc3339();
    let alert = |ends: Option<String>| {
        let mut alert = serde_json::json!([{
            "labels": {"alertname": "BGPSessionDown", "site": "IAD1", "severity": "critical",
                       "device": "core-rtr-01.iad1", "peer_asn": "3356"},
            "annotations": {"summary": "BGP session to AS3356 down on core-rtr-01.iad1"},
            "startsAt": starts,
        }]);
        if let Some(ends) = ends {
            alert[0]["endsAt"] = serde_json::json!(ends);
        }
        alert
    };
    let client = reqwest::Client::new();
    let posted = client
        .post(format!("http://127.0.0.1:{}/api/v2/alerts", am.port))
        .json(&alert(None))
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success());

    let mut alerts = server.alerts().await;
    let firing = wait_for("the alert to arrive over gRPC", &server, &am, async || {
        let page = alerts
            .list_alerts(authed(
                pb::ListAlertsRequest {
                    service_id: service.clone(),
                    ..Default::default()
                },
                ADMIN_TOKEN,
            ))
            .await
            .ok()?
            .into_inner();
        page.alerts.into_iter().next()
    })
    .await;
    assert_eq!(firing.source, "alertmanager");
    assert_eq!(firing.severity, pb::Severity::Critical as i32);
    assert_eq!(
        firing.summary,
        "BGP session to AS3356 down on core-rtr-01.iad1"
    );
    assert_eq!(
        firing.fingerprint.len(),
        16,
        "Alertmanager's own fingerprint"
    );
    assert_eq!(firing.labels["peer_asn"], "3356");

    let resolved_at = chrono::Utc::now().to_rfc3339();
    client
        .post(format!("http://127.0.0.1:{}/api/v2/alerts", am.port))
        .json(&alert(Some(resolved_at)))
        .send()
        .await
        .unwrap();
    let resolved = wait_for("the resolution to arrive", &server, &am, async || {
        let alert = alerts
            .get_alert(authed(
                pb::GetAlertRequest {
                    id: firing.id.clone(),
                },
                ADMIN_TOKEN,
            ))
            .await
            .ok()?
            .into_inner();
        (alert.status == pb::AlertStatus::Resolved as i32).then_some(alert)
    })
    .await;
    assert_eq!(resolved.resolved_by, "source");
}

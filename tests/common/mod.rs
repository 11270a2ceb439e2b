//! The black-box test kit: starts the real `oncall` binary on free ports against a fresh
//! SQLite file or a fresh PostgreSQL database, and talks to it as a user would.
#![allow(dead_code)] // each test binary uses a different part of the kit

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oncall::pb::alerting::routing::v1 as routing;
use oncall::pb::alerting::routing::v1::carrier_service_client::CarrierServiceClient;
use oncall::pb::alerting::routing::v1::customer_tier_service_client::CustomerTierServiceClient;
use oncall::pb::alerting::routing::v1::equipment_type_service_client::EquipmentTypeServiceClient;
use oncall::pb::alerting::routing::v1::escalation_service_client::EscalationServiceClient;
use oncall::pb::alerting::routing::v1::maintenance_service_client::MaintenanceServiceClient;
use oncall::pb::alerting::routing::v1::routing_service_client::RoutingServiceClient;
use oncall::pb::alerting::routing::v1::schedule_service_client::ScheduleServiceClient;
use oncall::pb::alerting::routing::v1::site_service_client::SiteServiceClient;
use oncall::pb::alerting::routing::v1::team_service_client::TeamServiceClient;
use oncall::pb::alerting::v1 as pb;
use oncall::pb::alerting::v1::alert_service_client::AlertServiceClient;
use oncall::pb::alerting::v1::catalog_service_client::CatalogServiceClient;
use oncall::pb::directory::v1 as dir;
use oncall::pb::directory::v1::user_service_client::UserServiceClient;
use oncall::pb::notification::v1::notification_service_client::NotificationServiceClient;
use oncall::pb::notification::v1::template_service_client::TemplateServiceClient;
use oncall::store::{Faults, FaultyStore};

pub mod admin;
use tonic::transport::Channel;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Where a test's data lives.
pub enum Db {
    Sqlite(tempfile::TempDir),
    Postgres { url: String, name: String },
}

impl Db {
    pub fn sqlite() -> Db {
        Db::Sqlite(tempfile::tempdir().expect("temp dir"))
    }

    /// A new, empty database on the server `ONCALL_TEST_DATABASE_URL` names.
    pub async fn postgres() -> Db {
        let (url, name) = fresh_postgres_database().await;
        Db::Postgres { url, name }
    }

    pub fn url(&self) -> String {
        match self {
            Db::Sqlite(dir) => format!("sqlite://{}/oncall.db", dir.path().display()),
            Db::Postgres { url, .. } => url.clone(),
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        match self {
            Db::Sqlite(dir) => Some(dir.path()),
            Db::Postgres { .. } => None,
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Db::Postgres { name, .. } = self {
            drop_postgres_database(name.clone());
        }
    }
}

pub fn postgres_base_url() -> String {
    std::env::var("ONCALL_TEST_DATABASE_URL").expect(
        "ONCALL_TEST_DATABASE_URL must name a PostgreSQL server for the PostgreSQL tests \
         (e.g. postgres://root@127.0.0.1:5432/test); .ci/run sets it",
    )
}

/// Creates a uniquely named database and returns its URL and name.
pub async fn fresh_postgres_database() -> (String, String) {
    use sqlx::Executor;
    let base = postgres_base_url();
    let name = format!("oncall_test_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&base)
        .await
        .expect("connect to PostgreSQL");
    pool.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    pool.close().await;
    (with_database(&base, &name), name)
}

/// The URL with its database replaced by `name` (query string kept).
fn with_database(base: &str, name: &str) -> String {
    let (main, query) = match base.split_once('?') {
        Some((main, query)) => (main, format!("?{query}")),
        None => (base, String::new()),
    };
    let (scheme, rest) = main.split_once("://").unwrap_or(("postgres", main));
    let host = rest.split_once('/').map_or(rest, |(host, _)| host);
    format!("{scheme}://{host}/{name}{query}")
}

/// Drops a test database; runs on its own thread because Drop cannot await.
pub fn drop_postgres_database(name: String) {
    let handle = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            use sqlx::Executor;
            if let Ok(pool) = sqlx::PgPool::connect(&postgres_base_url()).await {
                let _ = pool
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await;
                pool.close().await;
            }
        });
    });
    let _ = handle.join();
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// What the server logs once it holds its ports.
const SERVING: &str = "oncall is serving";

/// Starts on fresh ports before a test gives up on finding free ones.
const PORT_ATTEMPTS: usize = 5;

/// The OS's word for a port someone else holds (EADDRINUSE), as the server reports it.
const PORT_TAKEN: &str = "Address already in use";

/// The server binary: this build's, or another build's named by `ONCALL_BINARY` (how the
/// stored-definition fixtures were written by the release before the redesign).
pub fn binary() -> PathBuf {
    std::env::var_os("ONCALL_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_oncall")))
}

/// A running `oncall serve`: the real binary, or `server::run` in this process.
pub struct Server {
    child: Option<Child>,
    in_process: Option<InProcess>,
    pub http_port: u16,
    pub grpc_port: u16,
    pub database_url: String,
    extra_args: Vec<String>,
    workdir: PathBuf,
    log: PathBuf,
}

impl Server {
    pub async fn start(db: &Db) -> Server {
        Server::start_with(db, &[]).await
    }

    pub async fn start_with(db: &Db, extra: &[&str]) -> Server {
        let workdir = match db.dir() {
            Some(dir) => dir.to_path_buf(),
            None => std::env::temp_dir(),
        };
        let log = workdir.join(format!("oncall-{}.log", uuid::Uuid::new_v4().simple()));
        let mut server = Server {
            child: None,
            in_process: None,
            http_port: free_port(),
            grpc_port: free_port(),
            database_url: db.url(),
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            workdir,
            log,
        };
        server.spawn().await;
        server
    }

    /// Starts the binary and waits until it is ready. Ports come from `free_port`, which
    /// another test may take between our pick and our bind: then the child cannot bind,
    /// and it starts again on fresh ports.
    async fn spawn(&mut self) {
        for _ in 0..PORT_ATTEMPTS {
            // The log is appended to across starts: only what this start wrote counts.
            let log_start = self.logs().len();
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .expect("log file");
            let child = Command::new(binary())
                .current_dir(&self.workdir)
                .arg("serve")
                .arg("--database-url")
                .arg(&self.database_url)
                .arg("--http-addr")
                .arg(format!("127.0.0.1:{}", self.http_port))
                .arg("--grpc-addr")
                .arg(format!("127.0.0.1:{}", self.grpc_port))
                .arg("--admin-token")
                .arg(ADMIN_TOKEN)
                .args(&self.extra_args)
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start oncall");
            self.child = Some(child);
            if self.wait_ready(log_start).await {
                return;
            }
            self.child = None;
            self.http_port = free_port();
            self.grpc_port = free_port();
        }
        panic!(
            "oncall found its ports taken {PORT_ATTEMPTS} times:\n{}",
            self.logs()
        );
    }

    /// Ready means this child logged that it bound its ports, and /readyz answers: a port
    /// another test's server holds must not pass for ours. False when the child could not
    /// bind a port.
    async fn wait_ready(&mut self, log_start: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        let this_start = |logs: &str| logs.get(log_start..).unwrap_or_default().to_string();
        loop {
            if this_start(&self.logs()).contains(SERVING)
                && let Ok(r) = client.get(self.http("/readyz")).send().await
                && r.status().is_success()
            {
                return true;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let logs = this_start(&self.logs());
                if logs.contains(PORT_TAKEN) {
                    return false;
                }
                panic!("oncall exited early ({status}):\n{logs}");
            }
            assert!(
                Instant::now() < deadline,
                "oncall never became ready:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9");
            let _ = child.wait();
        }
    }

    /// SIGTERM, then the exit status.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "oncall did not stop on SIGTERM:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn restart(&mut self) {
        self.kill_9();
        self.spawn().await;
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://127.0.0.1:{}", self.grpc_port))
            .expect("uri")
            .connect()
            .await
            .expect("gRPC connect")
    }

    pub async fn alerts(&self) -> AlertServiceClient<Channel> {
        AlertServiceClient::new(self.channel().await)
    }

    pub async fn catalog(&self) -> CatalogServiceClient<Channel> {
        CatalogServiceClient::new(self.channel().await)
    }

    pub async fn templates(&self) -> TemplateServiceClient<Channel> {
        TemplateServiceClient::new(self.channel().await)
    }

    pub async fn notifications(&self) -> NotificationServiceClient<Channel> {
        NotificationServiceClient::new(self.channel().await)
    }

    pub async fn users(&self) -> UserServiceClient<Channel> {
        UserServiceClient::new(self.channel().await)
    }

    pub async fn routing(&self) -> RoutingServiceClient<Channel> {
        RoutingServiceClient::new(self.channel().await)
    }

    pub async fn maintenance(&self) -> MaintenanceServiceClient<Channel> {
        MaintenanceServiceClient::new(self.channel().await)
    }

    pub async fn schedules(&self) -> ScheduleServiceClient<Channel> {
        ScheduleServiceClient::new(self.channel().await)
    }

    pub async fn escalation(&self) -> EscalationServiceClient<Channel> {
        EscalationServiceClient::new(self.channel().await)
    }

    pub async fn teams(&self) -> TeamServiceClient<Channel> {
        TeamServiceClient::new(self.channel().await)
    }

    pub async fn sites(&self) -> SiteServiceClient<Channel> {
        SiteServiceClient::new(self.channel().await)
    }

    pub async fn tiers(&self) -> CustomerTierServiceClient<Channel> {
        CustomerTierServiceClient::new(self.channel().await)
    }

    pub async fn equipment(&self) -> EquipmentTypeServiceClient<Channel> {
        EquipmentTypeServiceClient::new(self.channel().await)
    }

    pub async fn carriers(&self) -> CarrierServiceClient<Channel> {
        CarrierServiceClient::new(self.channel().await)
    }

    /// An alert as GetAlert shows it, with its events.
    pub async fn alert(&self, id: &str) -> pb::Alert {
        self.alerts()
            .await
            .get_alert(authed(pb::GetAlertRequest { id: id.into() }, ADMIN_TOKEN))
            .await
            .expect("GetAlert")
            .into_inner()
    }

    /// The newest routing audit entry of an alert, waiting for the router to write it.
    pub async fn audit_of(&self, alert_id: &str) -> routing::RoutingAuditLog {
        let mut client = self.routing().await;
        eventually("the routing audit entry", async || {
            client
                .get_routing_audit_logs(authed(
                    routing::GetRoutingAuditLogsRequest {
                        alert_id: alert_id.to_string(),
                        ..Default::default()
                    },
                    ADMIN_TOKEN,
                ))
                .await
                .ok()?
                .into_inner()
                .logs
                .into_iter()
                .next()
        })
        .await
    }

    /// A service and an integration key for it: (service id, plaintext key).
    pub async fn service_with_key(&self, name: &str) -> (String, String) {
        let mut catalog = self.catalog().await;
        let service = catalog
            .create_service(authed(
                pb::CreateServiceRequest {
                    name: name.into(),
                    description: "test".into(),
                    ..Default::default()
                },
                ADMIN_TOKEN,
            ))
            .await
            .expect("create service")
            .into_inner();
        let key = catalog
            .create_integration_key(authed(
                pb::CreateIntegrationKeyRequest {
                    service_id: service.id.clone(),
                    name: "test".into(),
                },
                ADMIN_TOKEN,
            ))
            .await
            .expect("create key")
            .into_inner();
        (service.id, key.key)
    }

    /// A user with a token of the given role: (user id, token).
    pub async fn user_with_token(&self, name: &str, role: dir::Role) -> (String, String) {
        let mut users = self.users().await;
        let user = users
            .create_user(authed(
                dir::CreateUserRequest {
                    user: Some(dir::User {
                        name: name.into(),
                        email: format!("{name}@example.net"),
                        timezone: "Europe/London".into(),
                        ..Default::default()
                    }),
                },
                ADMIN_TOKEN,
            ))
            .await
            .expect("create user")
            .into_inner();
        let token = users
            .create_api_token(authed(
                dir::CreateApiTokenRequest {
                    user_id: user.id.clone(),
                    role: role as i32,
                    name: "test".into(),
                },
                ADMIN_TOKEN,
            ))
            .await
            .expect("create token")
            .into_inner();
        (user.id, token.token)
    }

    /// Every alert of a service, following pages.
    pub async fn list_all(&self, service_id: &str) -> (Vec<pb::Alert>, i32) {
        let mut client = self.alerts().await;
        let mut all = Vec::new();
        let mut token = String::new();
        loop {
            let page = client
                .list_alerts(authed(
                    pb::ListAlertsRequest {
                        service_id: service_id.into(),
                        page_size: 1000,
                        page_token: token.clone(),
                        ..Default::default()
                    },
                    ADMIN_TOKEN,
                ))
                .await
                .expect("list alerts")
                .into_inner();
            all.extend(page.alerts);
            if page.next_page_token.is_empty() {
                return (all, page.total_count);
            }
            token = page.next_page_token;
        }
    }

    /// POSTs JSON to a path; returns the status, headers and JSON body.
    pub async fn post_json(
        &self,
        path: &str,
        body: &str,
    ) -> (
        reqwest::StatusCode,
        reqwest::header::HeaderMap,
        serde_json::Value,
    ) {
        let response = reqwest::Client::new()
            .post(self.http(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, headers, json)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_9();
        if let Some(run) = self.in_process.take() {
            run.shutdown.cancel();
        }
    }
}

/// `server::run` on a task of the test's runtime.
struct InProcess {
    shutdown: tokio_util::sync::CancellationToken,
}

impl Server {
    /// Runs the server in this process, on a store that fails on demand: the test
    /// switches the store's faults and watches what the engine does. Logs go nowhere;
    /// the store and the settings are as `oncall serve --database-url ... extra` has them.
    pub async fn in_process(db: &Db, extra: &[&str]) -> (Server, std::sync::Arc<Faults>) {
        #[derive(clap::Parser)]
        struct Serve {
            #[command(flatten)]
            args: oncall::config::ServeArgs,
        }
        let url = db.url();
        let mut argv = vec![
            "serve",
            "--database-url",
            &url,
            "--admin-token",
            ADMIN_TOKEN,
        ];
        argv.extend_from_slice(extra);
        let args = <Serve as clap::Parser>::try_parse_from(argv)
            .expect("flags")
            .args;
        let file = oncall::config::read_file(args.common.config.as_deref()).expect("config");
        let settings = oncall::config::Settings::resolve(&args, &file).expect("settings");
        let store = oncall::store::open(&url).await.expect("store");
        let (store, faults) = FaultyStore::wrap(store);
        let listeners = oncall::server::Listeners {
            grpc: tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind gRPC"),
            http: tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind HTTP"),
        };
        let grpc_port = listeners.grpc.local_addr().expect("gRPC address").port();
        let http_port = listeners.http.local_addr().expect("HTTP address").port();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let run = oncall::server::run(settings, store, listeners, shutdown.clone());
        tokio::spawn(async move {
            if let Err(error) = run.await {
                panic!("the in-process server failed: {error:#}");
            }
        });
        let server = Server {
            child: None,
            in_process: Some(InProcess { shutdown }),
            http_port,
            grpc_port,
            database_url: url,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            workdir: std::env::temp_dir(),
            log: std::env::temp_dir().join("in-process-has-no-log"),
        };
        let client = reqwest::Client::new();
        eventually("the in-process server to be ready", async || {
            let answer = client.get(server.http("/readyz")).send().await.ok()?;
            answer.status().is_success().then_some(())
        })
        .await;
        (server, faults)
    }
}

/// A request with `authorization: Bearer TOKEN`.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}

pub fn fixture(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// An Alertmanager v4 payload of `count` distinct firing alerts, numbered from `first`.
pub fn alertmanager_batch(first: usize, count: usize) -> String {
    let alerts: Vec<serde_json::Value> = (first..first + count)
        .map(|i| {
            serde_json::json!({
                "status": "firing",
                "labels": {"alertname": "IfDown", "device": format!("dev{i}"), "site": "IAD1", "severity": "warning"},
                "annotations": {"summary": format!("interface down on dev{i}")},
                "startsAt": "2026-11-27T20:29:35.622550767Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": format!("{i:016x}")
            })
        })
        .collect();
    serde_json::json!({
        "receiver": "oncall", "status": "firing", "alerts": alerts,
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://am:9093", "version": "4", "groupKey": "{}", "truncatedAlerts": 0
    })
    .to_string()
}

/// What a webhook sink received: (path, JSON body) in arrival order.
pub type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>;

/// A webhook sink on loopback that records every JSON POST; returns its base URL.
pub async fn webhook_sink() -> (String, Received) {
    use axum::Json;
    use axum::extract::State;
    let received: Received = Default::default();
    let app = axum::Router::new()
        .route(
            "/{*path}",
            axum::routing::post(
                |State(store): State<Received>,
                 uri: axum::http::Uri,
                 Json(body): Json<serde_json::Value>| async move {
                    if let Ok(mut store) = store.lock() {
                        store.push((uri.path().to_string(), body));
                    }
                    "ok"
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sink");
    let address = listener.local_addr().expect("sink address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), received)
}

/// Who was paged about an alert, in arrival order (a pageable user's sink path names
/// them).
pub fn paged(received: &Received, alert: &str) -> Vec<String> {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, body)| body["type"] == "page" && body["alert"]["id"] == alert)
        .map(|(path, _)| path.trim_start_matches('/').to_string())
        .collect()
}

/// Polls `check` until it finds something, for at most 15 s of real time. It waits on a
/// blocking thread, not a tokio timer, so it works under a paused clock too (and does
/// not move it).
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        real_sleep(Duration::from_millis(50)).await;
    }
}

/// Waits real time without a tokio timer: the runtime runs other tasks meanwhile.
pub async fn real_sleep(duration: Duration) {
    tokio::task::spawn_blocking(move || std::thread::sleep(duration))
        .await
        .expect("sleeping thread");
}

/// Time for a test that runs the server in-process under a paused clock
/// (`#[tokio::test(start_paused = true)]`): wall time follows tokio's clock
/// (`oncall::clock::follow_tokio_time`), and tokio's clock moves only when the test
/// calls [`PausedClock::advance`]. Tokio moves a paused clock by itself whenever the
/// runtime is idle, which a database query in flight looks like; while a blocking task
/// runs it does not, so one is held open for the test's life.
pub struct PausedClock {
    _hold: std::sync::mpsc::Sender<()>,
}

impl PausedClock {
    /// Call first in the test, before the server starts.
    pub fn start() -> PausedClock {
        let (hold, held) = std::sync::mpsc::channel::<()>();
        tokio::task::spawn_blocking(move || {
            // Returns when the sender drops, at the end of the test.
            let _ = held.recv();
        });
        oncall::clock::follow_tokio_time();
        PausedClock { _hold: hold }
    }

    /// Moves time on by `by`, ten seconds at a time, letting the server act on each
    /// step's timers (and finish the I/O they start) before the next.
    pub async fn advance(&self, by: Duration) {
        let step = Duration::from_secs(10);
        let mut left = by;
        while !left.is_zero() {
            let now = left.min(step);
            tokio::time::advance(now).await;
            left -= now;
            real_sleep(Duration::from_millis(5)).await;
        }
    }
}

//! Settings: flags, then environment (clap reads both), then an optional TOML file,
//! then defaults. Checked once, with every problem reported together, into [`Settings`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::actors::EngineSettings;
use crate::directory::{DirectorySection, DirectorySettings};
use crate::domain::incoming::AlertLimits;
use crate::notify::settings::{NotifySection, NotifySettings};
use crate::secret::secret;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Flags shared by every subcommand that opens the database.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct CommonArgs {
    /// TOML settings file; flags and environment override it.
    #[arg(long, env = "ONCALL_CONFIG")]
    pub config: Option<PathBuf>,
    /// `sqlite://PATH` (embedded, the default) or `postgres://...`.
    #[arg(long, env = "ONCALL_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Log format on stderr.
    #[arg(long, env = "ONCALL_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// Flags of `oncall serve`.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// gRPC listen address.
    #[arg(long, env = "ONCALL_GRPC_ADDR")]
    pub grpc_addr: Option<SocketAddr>,
    /// HTTP listen address (webhooks, health, metrics).
    #[arg(long, env = "ONCALL_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// Seeds this admin token on start if no token with its hash exists yet.
    #[arg(long, env = "ONCALL_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Base URL for links in messages (default: http:// + the HTTP address).
    #[arg(long, env = "ONCALL_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes (default 16 MiB).
    #[arg(long, env = "ONCALL_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Most labels on one alert (default 128).
    #[arg(long, env = "ONCALL_MAX_LABELS_PER_ALERT")]
    pub max_labels_per_alert: Option<usize>,
    /// Per integration key alerts per second; 0 turns the flood guard off (default).
    #[arg(long, env = "ONCALL_PER_KEY_ALERTS_PER_SECOND")]
    pub per_key_alerts_per_second: Option<u32>,
    /// Alerts admitted at once before the edges answer 429/503/RESOURCE_EXHAUSTED.
    #[arg(long, env = "ONCALL_MAX_IN_FLIGHT_ALERTS")]
    pub max_in_flight_alerts: Option<usize>,
    /// Seconds an alert actor stays live without work before it is passivated.
    #[arg(long, env = "ONCALL_ACTOR_IDLE_SECONDS")]
    pub actor_idle_seconds: Option<u64>,
    /// Let outbound webhooks reach loopback and private addresses (off by default).
    #[arg(long, env = "ONCALL_ALLOW_PRIVATE_DESTINATIONS")]
    pub allow_private_destinations: bool,
    /// Seconds a route-flap window lasts: the first flap of a peer notifies, the rest of
    /// the window are summarised in one notification at its end (default 60).
    #[arg(long, env = "ONCALL_FLAP_WINDOW_SECONDS")]
    pub flap_window_seconds: Option<u64>,
}

/// The TOML file. Unknown keys are errors, so a typo is not silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub security: SecuritySection,
    #[serde(default)]
    pub ingest: IngestSection,
    #[serde(default)]
    pub bgp: BgpSection,
    #[serde(default)]
    pub notify: NotifySection,
    #[serde(default)]
    pub directory: DirectorySection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpSection {
    /// Seconds a route-flap dampening window lasts.
    pub flap_window_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// gRPC listen address.
    pub grpc_addr: Option<SocketAddr>,
    /// HTTP listen address.
    pub http_addr: Option<SocketAddr>,
    /// Database URL.
    pub database_url: Option<String>,
    /// Public base URL.
    pub public_url: Option<String>,
    /// Log format: text or json.
    pub log_format: Option<LogFormat>,
    /// Bootstrap admin token, inline.
    pub admin_token: Option<String>,
    /// Bootstrap admin token, from this environment variable.
    pub admin_token_env: Option<String>,
    /// Bootstrap admin token, from this file.
    pub admin_token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySection {
    /// Let outbound webhooks reach loopback and private addresses.
    pub allow_private_destinations: Option<bool>,
    /// Largest request body, in bytes.
    pub max_body_bytes: Option<usize>,
    /// Most labels on one alert.
    pub max_labels_per_alert: Option<usize>,
    /// Largest label value, in bytes.
    pub max_label_value_bytes: Option<usize>,
    /// Largest annotation value, in bytes.
    pub max_annotation_value_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSection {
    /// Per integration key alerts per second; 0 = no per-key limit.
    pub per_key_alerts_per_second: Option<u32>,
    /// Alerts admitted at once.
    pub max_in_flight_alerts: Option<usize>,
    /// Fingerprint shards.
    pub shards: Option<usize>,
    /// Seconds an idle alert actor stays live.
    pub actor_idle_seconds: Option<u64>,
}

/// Validated settings, the only form the server reads.
#[derive(Clone, Debug)]
pub struct Settings {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub database_url: String,
    pub admin_token: Option<String>,
    pub public_url: String,
    pub log_format: LogFormat,
    pub max_body_bytes: usize,
    pub limits: AlertLimits,
    pub per_key_alerts_per_second: u32,
    pub allow_private_destinations: bool,
    pub engine: EngineSettings,
    /// How long a route-flap dampening window lasts.
    pub flap_window: Duration,
    pub notify: NotifySettings,
    pub directory: DirectorySettings,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://oncall-data/oncall.db";
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// DOMAIN.md: flaps are summarised minute by minute.
pub const DEFAULT_FLAP_WINDOW_SECONDS: u64 = 60;

#[derive(Debug, thiserror::Error)]
#[error("invalid settings:\n  {}", .0.join("\n  "))]
pub struct SettingsError(pub Vec<String>);

/// Reads the TOML file a `--config` names, if any.
pub fn read_file(path: Option<&Path>) -> Result<FileConfig, SettingsError> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| SettingsError(vec![format!("{}: {e}", path.display())]))?;
    toml::from_str(&text).map_err(|e| SettingsError(vec![format!("{}: {e}", path.display())]))
}

/// The database URL and log format, for subcommands that need only those.
pub fn database_url(common: &CommonArgs, file: &FileConfig) -> String {
    common
        .database_url
        .clone()
        .or_else(|| file.server.database_url.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string())
}

pub fn log_format(common: &CommonArgs, file: &FileConfig) -> LogFormat {
    common
        .log_format
        .or(file.server.log_format)
        .unwrap_or_default()
}

impl Settings {
    pub fn resolve(args: &ServeArgs, file: &FileConfig) -> Result<Settings, SettingsError> {
        let mut problems = Vec::new();
        let grpc_addr = args
            .grpc_addr
            .or(file.server.grpc_addr)
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 50051)));
        let http_addr = args
            .http_addr
            .or(file.server.http_addr)
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
        let database_url = database_url(&args.common, file);
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            problems.push(format!(
                "database_url {database_url:?}: use sqlite://PATH or postgres://..."
            ));
        }
        let admin_token = match (&args.admin_token, &file.server) {
            (Some(token), _) => Some(token.clone()),
            (None, server) => secret(
                "server.admin_token",
                &server.admin_token,
                &server.admin_token_env,
                &server.admin_token_file,
                &mut problems,
            ),
        };
        if admin_token.as_ref().is_some_and(|t| t.trim().len() < 16) {
            problems.push("admin_token: must be at least 16 characters".into());
        }
        let public_url = args
            .public_url
            .clone()
            .or_else(|| file.server.public_url.clone())
            .unwrap_or_else(|| format!("http://{http_addr}"));
        let defaults = AlertLimits::default();
        let limits = AlertLimits {
            max_labels: args
                .max_labels_per_alert
                .or(file.security.max_labels_per_alert)
                .unwrap_or(defaults.max_labels),
            max_label_value_bytes: file
                .security
                .max_label_value_bytes
                .unwrap_or(defaults.max_label_value_bytes),
            max_annotation_value_bytes: file
                .security
                .max_annotation_value_bytes
                .unwrap_or(defaults.max_annotation_value_bytes),
        };
        let max_body_bytes = args
            .max_body_bytes
            .or(file.security.max_body_bytes)
            .unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if max_body_bytes < 1024 {
            problems.push("max_body_bytes: must be at least 1024".into());
        }
        let engine_defaults = EngineSettings::default();
        let engine = EngineSettings {
            shards: file.ingest.shards.unwrap_or(engine_defaults.shards),
            max_in_flight_alerts: args
                .max_in_flight_alerts
                .or(file.ingest.max_in_flight_alerts)
                .unwrap_or(engine_defaults.max_in_flight_alerts),
            persister_queue: engine_defaults.persister_queue,
            actor_idle_after: args
                .actor_idle_seconds
                .or(file.ingest.actor_idle_seconds)
                .map(Duration::from_secs)
                .unwrap_or(engine_defaults.actor_idle_after),
        };
        if engine.shards == 0 || engine.shards > 1024 {
            problems.push("ingest.shards: must be between 1 and 1024".into());
        }
        if engine.max_in_flight_alerts == 0 || engine.max_in_flight_alerts > u32::MAX as usize {
            problems.push("max_in_flight_alerts: must be between 1 and 2^32-1".into());
        }
        let flap_window_seconds = args
            .flap_window_seconds
            .or(file.bgp.flap_window_seconds)
            .unwrap_or(DEFAULT_FLAP_WINDOW_SECONDS);
        if !(1..=3600).contains(&flap_window_seconds) {
            problems.push("flap_window_seconds: must be between 1 and 3600".into());
        }
        let notify = NotifySettings::resolve(&file.notify, &mut problems);
        let directory = DirectorySettings::resolve(&file.directory, &mut problems);
        if !problems.is_empty() {
            return Err(SettingsError(problems));
        }
        Ok(Settings {
            grpc_addr,
            http_addr,
            database_url,
            admin_token,
            public_url,
            log_format: log_format(&args.common, file),
            max_body_bytes,
            limits,
            per_key_alerts_per_second: args
                .per_key_alerts_per_second
                .or(file.ingest.per_key_alerts_per_second)
                .unwrap_or(0),
            allow_private_destinations: args.allow_private_destinations
                || file.security.allow_private_destinations.unwrap_or(false),
            engine,
            flap_window: Duration::from_secs(flap_window_seconds),
            notify,
            directory,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_contract() {
        let s = Settings::resolve(&ServeArgs::default(), &FileConfig::default()).unwrap();
        assert_eq!(s.grpc_addr.to_string(), "127.0.0.1:50051");
        assert_eq!(s.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(s.public_url, "http://127.0.0.1:8080");
        assert_eq!(s.max_body_bytes, 16 * 1024 * 1024);
        assert_eq!(s.limits.max_labels, 128);
        assert_eq!(s.per_key_alerts_per_second, 0);
        assert_eq!(s.flap_window, Duration::from_secs(60));
    }

    #[test]
    fn flags_override_the_file_and_problems_are_reported_together() {
        let file: FileConfig = toml::from_str(
            "[server]\nhttp_addr = \"127.0.0.1:9000\"\ndatabase_url = \"mysql://x\"\n\
             [security]\nmax_body_bytes = 10\n",
        )
        .unwrap();
        let err = Settings::resolve(&ServeArgs::default(), &file).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        let args = ServeArgs {
            http_addr: Some("127.0.0.1:9100".parse().unwrap()),
            common: CommonArgs {
                database_url: Some("sqlite://x.db".into()),
                ..CommonArgs::default()
            },
            max_body_bytes: Some(4096),
            ..ServeArgs::default()
        };
        let s = Settings::resolve(&args, &file).unwrap();
        assert_eq!(s.http_addr.to_string(), "127.0.0.1:9100");
        assert_eq!(s.database_url, "sqlite://x.db");
    }

    #[test]
    fn the_flap_window_is_bounded() {
        let file: FileConfig = toml::from_str("[bgp]\nflap_window_seconds = 0\n").unwrap();
        let problems = Settings::resolve(&ServeArgs::default(), &file)
            .unwrap_err()
            .0;
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("flap_window_seconds")),
            "{problems:?}"
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("[server]\nhttp_adr = \"x\"\n").is_err());
    }
}

//! The files in `deploy/` are real: the Kubernetes manifests pass kubernetes-validate's
//! strict schema check and agree with one another, the systemd unit passes
//! `systemd-analyze verify` (where it is installed), every `ONCALL_*` variable they set is
//! one the binary reads, and the example configs start the real server.
#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn kubernetes_dir() -> PathBuf {
    repo().join("deploy/kubernetes")
}

fn systemd_dir() -> PathBuf {
    repo().join("deploy/systemd")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => repo().join(dir),
        None => repo().join("target"),
    }
}

/// Every manifest under deploy/kubernetes, examples included. kustomization.yaml is a
/// kustomize file, not a Kubernetes API object, so the schema check does not apply to it.
fn manifests() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                walk(&path, found);
            } else if (name.ends_with(".yaml") || name.ends_with(".yml"))
                && name != "kustomization.yaml"
                && name != "kustomization.yml"
            {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&kubernetes_dir(), &mut found);
    found.sort();
    found
}

// ---------------------------------------------------------------------------------------
// kubernetes-validate: found, or installed once into a venv under target/.

fn kubernetes_validate() -> PathBuf {
    static TOOL: OnceLock<PathBuf> = OnceLock::new();
    TOOL.get_or_init(|| {
        if let Some(path) = std::env::var_os("ONCALL_TEST_KUBERNETES_VALIDATE") {
            return PathBuf::from(path);
        }
        if let Some(path) = on_path("kubernetes-validate") {
            return path;
        }
        install_kubernetes_validate(&target_dir().join("kubernetes-validate"))
    })
    .clone()
}

/// Installs kubernetes-validate into `venv` unless a finished install is already there.
///
/// nextest runs every test in its own process, so the OnceLock alone does not stop two
/// processes installing at once. A venv cannot be built elsewhere and renamed into place
/// (its scripts name their interpreter by absolute path), so one process takes a lock file
/// and installs while the others wait for the lock to go.
fn install_kubernetes_validate(venv: &Path) -> PathBuf {
    let tool = venv.join("bin/kubernetes-validate");
    // Written only after pip succeeds: a venv left by an interrupted install has the
    // script but maybe not all of its dependencies.
    let finished = venv.join(".oncall-install-finished");
    let lock = venv.with_extension("lock");
    if let Some(parent) = venv.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
    }
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        if finished.exists() && is_executable(&tool) {
            return tool;
        }
        match OpenOptions::new().write(true).create_new(true).open(&lock) {
            Ok(_held) => {
                let installed = if finished.exists() && is_executable(&tool) {
                    Ok(())
                } else {
                    create_venv(venv, &tool, &finished)
                };
                let _ = std::fs::remove_file(&lock);
                if let Err(why) = installed {
                    panic!(
                        "kubernetes-validate is needed to check deploy/kubernetes and could not \
                         be installed: {why}\nInstall it (`pip install kubernetes-validate`) \
                         and put it on PATH, or point ONCALL_TEST_KUBERNETES_VALIDATE at it."
                    );
                }
                return tool;
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                // A process killed mid-install leaves its lock behind; an install takes
                // a minute or two, so a lock this old has no owner any more.
                let abandoned = std::fs::metadata(&lock)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|at| SystemTime::now().duration_since(at).ok())
                    .is_some_and(|age| age > Duration::from_secs(600));
                if abandoned {
                    let _ = std::fs::remove_file(&lock);
                    continue;
                }
                assert!(
                    Instant::now() < deadline,
                    "waited too long for another test process to install kubernetes-validate \
                     (lock file {})",
                    lock.display()
                );
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => panic!("creating lock file {}: {e}", lock.display()),
        }
    }
}

fn create_venv(venv: &Path, tool: &Path, finished: &Path) -> Result<(), String> {
    let run = |command: &mut Command| -> Result<(), String> {
        let shown = format!("{command:?}");
        let output = command
            .output()
            .map_err(|e| format!("could not run {shown}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{shown} failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    };
    run(Command::new("python3").arg("-m").arg("venv").arg(venv))?;
    run(Command::new(venv.join("bin/pip")).args(["install", "-q", "kubernetes-validate"]))?;
    if !is_executable(tool) {
        return Err(format!("pip succeeded but {} is missing", tool.display()));
    }
    std::fs::write(finished, "").map_err(|e| format!("{}: {e}", finished.display()))
}

#[test]
fn kubernetes_manifests_pass_the_strict_schema_check() {
    let files = manifests();
    assert!(
        files.len() >= 3,
        "expected at least a Deployment, a Service and a ConfigMap in {}, found {files:?}",
        kubernetes_dir().display()
    );
    let tool = kubernetes_validate();
    let output = Command::new(&tool)
        .arg("--strict")
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", tool.display()));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "kubernetes-validate --strict failed ({}):\n{report}",
        output.status
    );
    // A file holding no resource at all would also exit 0: each must have passed.
    for file in &files {
        let shown = file.display().to_string();
        assert!(
            report
                .lines()
                .any(|line| line.contains(&shown) && line.contains("passed")),
            "kubernetes-validate did not report {shown} as passed:\n{report}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Just enough YAML to follow the manifests' structure, without a YAML dependency: block
// style only (which is how deploy/ is written), comments and blank lines dropped.

#[derive(Clone, Copy, Debug)]
struct Line<'a> {
    /// Indentation of the text; for a sequence entry, of the text after its `- `.
    indent: usize,
    text: &'a str,
    /// This line opens a sequence entry.
    entry: bool,
}

fn yaml_lines(text: &str) -> Vec<Line<'_>> {
    text.lines()
        .filter_map(|raw| {
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                return None;
            }
            let indent = raw.len() - trimmed.len();
            let line = match trimmed.strip_prefix("- ") {
                Some(rest) => Line {
                    indent: indent + 2,
                    text: rest.trim(),
                    entry: true,
                },
                None => Line {
                    indent,
                    text: trimmed.trim_end(),
                    entry: false,
                },
            };
            Some(line)
        })
        .collect()
}

/// The lines nested under the first `key:` (a key whose value is a block), at any depth.
fn under<'a>(lines: &[Line<'a>], key: &str) -> Vec<Line<'a>> {
    let header = format!("{key}:");
    let Some(start) = lines.iter().position(|line| line.text == header) else {
        return Vec::new();
    };
    let indent = lines[start].indent;
    lines[start + 1..]
        .iter()
        .take_while(|line| line.indent > indent)
        .copied()
        .collect()
}

/// The scalar `key: value` at the top level of `lines`.
fn value<'a>(lines: &[Line<'a>], key: &str) -> Option<&'a str> {
    let top = lines.first()?.indent;
    let prefix = format!("{key}: ");
    lines
        .iter()
        .filter(|line| line.indent == top)
        .find_map(|line| line.text.strip_prefix(prefix.as_str()))
        .map(|v| v.trim().trim_matches('"').trim_matches('\''))
}

/// The entries of the sequence that `lines` holds.
fn entries<'a>(lines: &[Line<'a>]) -> Vec<Vec<Line<'a>>> {
    let Some(top) = lines.first().map(|line| line.indent) else {
        return Vec::new();
    };
    let mut found: Vec<Vec<Line<'a>>> = Vec::new();
    for line in lines {
        if line.entry && line.indent == top {
            found.push(vec![*line]);
        } else if let Some(current) = found.last_mut() {
            current.push(*line);
        }
    }
    found
}

/// `key: value` pairs of a flat mapping.
fn pairs<'a>(lines: &[Line<'a>]) -> BTreeMap<&'a str, &'a str> {
    let Some(top) = lines.first().map(|line| line.indent) else {
        return BTreeMap::new();
    };
    lines
        .iter()
        .filter(|line| line.indent == top)
        .filter_map(|line| line.text.split_once(": "))
        .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
        .collect()
}

/// The text of a `key: |` block scalar, with its indentation removed.
fn block_scalar(text: &str, key: &str) -> Option<String> {
    let mut lines = text.lines();
    let (keep, strip) = (format!("{key}: |"), format!("{key}: |-"));
    let header = lines.by_ref().find(|line| {
        let trimmed = line.trim();
        trimmed == keep || trimmed == strip
    })?;
    let header_indent = header.len() - header.trim_start().len();
    let body: Vec<&str> = lines
        .take_while(|line| {
            line.trim().is_empty() || line.len() - line.trim_start().len() > header_indent
        })
        .collect();
    let indent = body
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()?;
    let mut out = String::new();
    for line in body {
        out.push_str(line.get(indent..).unwrap_or(""));
        out.push('\n');
    }
    Some(out.trim_end().to_string() + "\n")
}

fn manifest(file: &str) -> String {
    read(&kubernetes_dir().join(file))
}

fn kind_of(lines: &[Line<'_>]) -> String {
    value(lines, "kind").unwrap_or_default().to_string()
}

/// The port of `host:port`, where the host is one that listens on every interface.
fn wildcard_port(addr: &str) -> Option<&str> {
    let (host, port) = addr.rsplit_once(':')?;
    matches!(host, "0.0.0.0" | "[::]").then_some(port)
}

#[test]
fn kubernetes_manifests_fit_together() {
    let deployment_text = manifest("deployment.yaml");
    let deployment = yaml_lines(&deployment_text);
    assert_eq!(kind_of(&deployment), "Deployment");
    let service_text = manifest("service.yaml");
    let service = yaml_lines(&service_text);
    assert_eq!(kind_of(&service), "Service");
    let config_map_text = manifest("configmap.yaml");
    let config_map = yaml_lines(&config_map_text);
    assert_eq!(kind_of(&config_map), "ConfigMap");
    let secret_text = manifest("examples/secret.example.yaml");
    let secret = yaml_lines(&secret_text);
    assert_eq!(kind_of(&secret), "Secret");

    let containers = entries(&under(&deployment, "containers"));
    assert_eq!(containers.len(), 1, "one oncall container: {containers:#?}");
    let container = &containers[0];

    // Container ports by name.
    let container_ports: BTreeMap<&str, &str> = entries(&under(container, "ports"))
        .iter()
        .map(|port| {
            let port = pairs(port);
            (
                port.get("name")
                    .copied()
                    .expect("every container port is named"),
                port.get("containerPort").copied().expect("containerPort"),
            )
        })
        .collect();
    assert_eq!(
        container_ports.keys().copied().collect::<Vec<_>>(),
        ["grpc", "http"],
        "container ports"
    );

    // The server must listen where the ports say, on every interface of the pod.
    let env: BTreeMap<&str, Vec<Line<'_>>> = entries(&under(container, "env"))
        .into_iter()
        .map(|var| (value(&var, "name").expect("env name"), var))
        .collect();
    for (var, port_name) in [("ONCALL_HTTP_ADDR", "http"), ("ONCALL_GRPC_ADDR", "grpc")] {
        let addr = env
            .get(var)
            .and_then(|v| value(v, "value"))
            .unwrap_or_else(|| panic!("the Deployment sets no {var}"));
        assert_eq!(
            wildcard_port(addr),
            Some(container_ports[port_name]),
            "{var}={addr} must listen on 0.0.0.0 at the `{port_name}` containerPort"
        );
    }

    // Secrets come from the Secret the example shows, by key, never inline.
    let secret_name = value(&under(&secret, "metadata"), "name").expect("Secret name");
    let secret_keys = pairs(&under(&secret, "stringData"));
    for var in ["ONCALL_DATABASE_URL", "ONCALL_ADMIN_TOKEN"] {
        let entry = env
            .get(var)
            .unwrap_or_else(|| panic!("the Deployment sets no {var}"));
        assert_eq!(value(entry, "value"), None, "{var} must not be inline");
        let reference = under(entry, "secretKeyRef");
        assert_eq!(
            value(&reference, "name"),
            Some(secret_name),
            "{var} must come from the Secret `{secret_name}`"
        );
        let key = value(&reference, "key").unwrap_or_default();
        assert!(
            secret_keys.contains_key(key),
            "{var} reads key {key:?}, which the example Secret does not have: {secret_keys:?}"
        );
    }

    // Probes on the HTTP port: liveness and startup on /healthz, readiness on /readyz.
    for (probe, path) in [
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
        ("startupProbe", "/healthz"),
    ] {
        let http_get = under(&under(container, probe), "httpGet");
        assert_eq!(value(&http_get, "path"), Some(path), "{probe} path");
        let port = value(&http_get, "port").unwrap_or_default();
        assert!(
            port == "http" || port == container_ports["http"],
            "{probe} must probe the http port, not {port:?}"
        );
    }

    // The Service exposes exactly the container's ports, each to the port of its name.
    let service_ports: BTreeMap<&str, BTreeMap<&str, &str>> = entries(&under(&service, "ports"))
        .iter()
        .map(|port| {
            let port = pairs(port);
            (
                port.get("name")
                    .copied()
                    .expect("every Service port is named"),
                port,
            )
        })
        .collect();
    assert_eq!(
        service_ports.keys().collect::<BTreeSet<_>>(),
        container_ports.keys().collect::<BTreeSet<_>>(),
        "the Service's port names must be the container's"
    );
    for (name, port) in &service_ports {
        let target = port.get("targetPort").copied().unwrap_or_default();
        assert!(
            target == *name || target == container_ports[name],
            "Service port {name} targets {target:?}, not the container port {name}"
        );
    }
    assert_eq!(
        service_ports["grpc"].get("appProtocol").copied(),
        Some("grpc"),
        "gRPC must be marked appProtocol: grpc"
    );

    // The Service selects the pods the Deployment makes.
    let pod_labels = pairs(&under(
        &under(&under(&deployment, "template"), "metadata"),
        "labels",
    ));
    let selector = pairs(&under(&under(&service, "spec"), "selector"));
    assert!(!selector.is_empty(), "the Service has no selector");
    for (key, wanted) in &selector {
        assert_eq!(
            pod_labels.get(key),
            Some(wanted),
            "the Service selects {key}={wanted}; the pods are labelled {pod_labels:?}"
        );
    }

    // `--config PATH` names a file the ConfigMap provides through a mounted volume.
    let args: Vec<&str> = entries(&under(container, "args"))
        .iter()
        .map(|arg| arg[0].text.trim_matches('"'))
        .collect();
    assert_eq!(args.first(), Some(&"serve"), "args: {args:?}");
    let config_path = args
        .iter()
        .position(|arg| *arg == "--config")
        .and_then(|at| args.get(at + 1))
        .copied()
        .unwrap_or_else(|| panic!("the container is not started with --config FILE: {args:?}"));
    let mount = entries(&under(container, "volumeMounts"))
        .into_iter()
        .map(|mount| pairs(&mount))
        .find(|mount| {
            mount
                .get("mountPath")
                .is_some_and(|dir| config_path.starts_with(&format!("{dir}/")))
        })
        .unwrap_or_else(|| panic!("no volume is mounted where {config_path} lives"));
    let file_name = &config_path[mount["mountPath"].len() + 1..];
    let volume = entries(&under(&deployment, "volumes"))
        .into_iter()
        .find(|volume| value(volume, "name") == Some(mount["name"]))
        .unwrap_or_else(|| panic!("no volume named {}", mount["name"]));
    let source = under(&volume, "configMap");
    let config_map_name = value(&under(&config_map, "metadata"), "name").expect("name");
    assert_eq!(
        value(&source, "name"),
        Some(config_map_name),
        "the config volume must come from the ConfigMap"
    );
    let key = entries(&under(&source, "items"))
        .into_iter()
        .map(|item| pairs(&item))
        .find(|item| item.get("path") == Some(&file_name))
        .map_or(file_name, |item| item["key"]);
    assert!(
        block_scalar(&config_map_text, key).is_some(),
        "the ConfigMap has no `{key}: |` entry for {config_path}"
    );
}

// ---------------------------------------------------------------------------------------
// The binary: env names it reads, and the example configs it must accept.

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_oncall"))
}

fn oncall_env_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("ONCALL_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn every_oncall_variable_in_deploy_is_one_the_server_reads() {
    let help = Command::new(binary())
        .args(["serve", "--help"])
        .output()
        .expect("run oncall serve --help");
    assert!(help.status.success(), "oncall serve --help failed");
    let help = String::from_utf8_lossy(&help.stdout);
    for file in [
        kubernetes_dir().join("deployment.yaml"),
        systemd_dir().join("oncall.service"),
        systemd_dir().join("oncall.env.example"),
    ] {
        let names = oncall_env_names(&read(&file));
        assert!(
            !names.is_empty(),
            "{} sets no ONCALL_ variable",
            file.display()
        );
        for name in names {
            assert!(
                help.contains(&format!("[env: {name}="))
                    || help.contains(&format!("[env: {name}]")),
                "{} uses {name}, which `oncall serve` does not read:\n{help}",
                file.display()
            );
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("free port")
}

/// The status code of `GET path`, over a bare HTTP/1.1 connection.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    String::from_utf8_lossy(&response)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, as Kubernetes and systemd stop it, then the exit status.
    fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for oncall") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "oncall did not stop on SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `oncall serve --config` on `config` and waits until it is ready; stops it with
/// SIGTERM and expects a clean exit. Only the database and listen addresses are
/// overridden, by flag, so every other setting in the file is the one that runs.
fn serves_with(name: &str, config: &str) {
    // Ports come from `free_port`; another test may take one between the pick and the
    // bind, and then the server starts again on fresh ones.
    let (mut server, http_port, _dir) = (0..5)
        .find_map(|_| start_with_config(name, config))
        .unwrap_or_else(|| panic!("oncall found its ports taken five times ({name})"));
    assert_eq!(http_status(http_port, "/healthz"), Some(200), "/healthz");
    let status = server.terminate();
    assert!(
        status.success(),
        "oncall exited with {status} on SIGTERM:\n{}",
        server.log()
    );
}

/// A ready server on `config`, its HTTP port and its directory; `None` when a port it was
/// given turned out to be taken.
fn start_with_config(name: &str, config: &str) -> Option<(Running, u16, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("oncall.toml");
    std::fs::write(&config_path, config).expect("write config");
    let log = dir.path().join("oncall.log");
    let http_port = free_port();
    let grpc_port = free_port();
    let mut command = Command::new(binary());
    command
        .current_dir(dir.path())
        .arg("serve")
        .arg("--config")
        .arg(config_path)
        .arg("--database-url")
        .arg(format!("sqlite://{}/oncall.db", dir.path().display()))
        .arg("--http-addr")
        .arg(format!("127.0.0.1:{http_port}"))
        .arg("--grpc-addr")
        .arg(format!("127.0.0.1:{grpc_port}"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"));
    // The environment would override the file; the file is what is being tested.
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("ONCALL_") {
            command.env_remove(var);
        }
    }
    let mut server = Running {
        child: command.spawn().expect("start oncall"),
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    // Its own log line first: a port another test's server holds must not pass for ours.
    while !server.log().contains("oncall is serving")
        || http_status(http_port, "/readyz") != Some(200)
    {
        if let Some(status) = server.child.try_wait().expect("wait for oncall") {
            if server.log().contains("Address already in use") {
                return None;
            }
            panic!(
                "oncall refused the example config {name} ({status}):\n{config}\n--- log:\n{}",
                server.log()
            );
        }
        assert!(
            Instant::now() < deadline,
            "oncall with the example config {name} never became ready:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((server, http_port, dir))
}

#[test]
fn the_kubernetes_example_config_starts_the_server() {
    let config = block_scalar(&manifest("configmap.yaml"), "oncall.toml")
        .expect("configmap.yaml has an `oncall.toml: |` entry");
    assert!(
        config.contains("[server]"),
        "the ConfigMap's TOML was not extracted whole:\n{config}"
    );
    serves_with("deploy/kubernetes/configmap.yaml", &config);
}

#[test]
fn the_systemd_example_config_starts_the_server() {
    let config = read(&systemd_dir().join("oncall.toml"));
    serves_with("deploy/systemd/oncall.toml", &config);
}

// ---------------------------------------------------------------------------------------
// systemd

/// The values of every `Key=` line in a unit.
fn directive<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    let prefix = format!("{key}=");
    unit.lines()
        .filter_map(|line| line.trim().strip_prefix(prefix.as_str()))
        .collect()
}

#[test]
fn the_systemd_unit_keeps_its_database_in_its_state_directory() {
    let unit = read(&systemd_dir().join("oncall.service"));
    assert_eq!(directive(&unit, "StateDirectory"), ["oncall"]);
    let database = directive(&unit, "Environment")
        .into_iter()
        .find_map(|assignment| assignment.strip_prefix("ONCALL_DATABASE_URL="))
        .expect("the unit sets ONCALL_DATABASE_URL");
    assert!(
        database.starts_with("sqlite:///var/lib/oncall/"),
        "the database must live in the state directory /var/lib/oncall, not {database}"
    );
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let Some(analyze) = on_path("systemd-analyze") else {
        eprintln!(
            "systemd-analyze is not installed here: deploy/systemd/oncall.service NOT verified"
        );
        return;
    };
    let unit = read(&systemd_dir().join("oncall.service"));
    let installed = "/usr/local/bin/oncall";
    assert_eq!(
        directive(&unit, "ExecStart"),
        [format!(
            "{installed} serve --config /etc/oncall/oncall.toml"
        )],
        "the unit's ExecStart (deploy/README.md installs the binary and config there)"
    );
    // verify checks that ExecStart's binary exists; the installed path does not exist on
    // a build machine, so the copy runs the binary this test was built with.
    let copy = unit.replace(
        &format!("ExecStart={installed} "),
        &format!("ExecStart=\"{}\" ", binary().display()),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let unit_path = dir.path().join("oncall.service");
    std::fs::write(&unit_path, copy).expect("write unit copy");

    let help = Command::new(&analyze)
        .arg("--help")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let mut command = Command::new(&analyze);
    command.arg("verify");
    // Errors in the host's own units are not ours to fix; this (systemd 250+) keeps the
    // exit status about this unit alone.
    if help.contains("--recursive-errors") {
        command.arg("--recursive-errors=no");
    }
    let output = command
        .arg(unit_path)
        .current_dir(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", analyze.display()));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Many unit mistakes (an unknown key, a bad value) are only logged, "ignoring", with
    // exit status 0; every such line names the unit file.
    let about_this_unit: Vec<&str> = report
        .lines()
        .filter(|line| line.contains("oncall.service"))
        .collect();
    assert!(
        about_this_unit.is_empty(),
        "systemd-analyze verify found problems in deploy/systemd/oncall.service:\n{}",
        about_this_unit.join("\n")
    );
    if !output.status.success() {
        assert!(
            !report.trim().is_empty(),
            "systemd-analyze verify failed ({}) without saying why",
            output.status
        );
        eprintln!(
            "systemd-analyze verify exited {} over other units on this machine, none about \
             oncall.service:\n{report}",
            output.status
        );
    }
}

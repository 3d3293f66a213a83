//! Processes of an end-to-end test: the AWS emulator (Python, a child process) and the real
//! `endpoint-hub` binary serving on a free port, killed on drop. The fresh database comes from
//! `tests/support/`.
//!
//! Every test writes its children's output under `target/e2e-logs/<test>-<id>/` (printed at
//! start), which is where to look when a test fails.

#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use uuid::Uuid;

pub const REGION: &str = "eu-west-1";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A directory for one test's logs.
pub fn log_dir(test: &str) -> PathBuf {
    let dir = repo_root().join("target").join("e2e-logs").join(format!(
        "{test}-{}",
        &Uuid::new_v4().simple().to_string()[..8]
    ));
    std::fs::create_dir_all(&dir).expect("cannot create the log directory");
    eprintln!("[{test}] logs in {}", dir.display());
    dir
}

/// A port nobody listens on right now (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

fn kill_child(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

// ---------------------------------------------------------------------------------------------
// The emulator
// ---------------------------------------------------------------------------------------------

static VENV_READY: Mutex<bool> = Mutex::new(false);

/// Runs `scripts/emulator-setup.sh` once per test binary (idempotent and quick when the venv is
/// up to date) and returns the venv's Python.
fn emulator_python() -> PathBuf {
    let venv = std::env::var_os("EH_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"));
    let mut ready = VENV_READY.lock().unwrap_or_else(|e| e.into_inner());
    if !*ready {
        let out = Command::new(repo_root().join("scripts/emulator-setup.sh"))
            .env("EH_VENV", &venv)
            .output()
            .expect("cannot run scripts/emulator-setup.sh");
        assert!(
            out.status.success(),
            "scripts/emulator-setup.sh failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        *ready = true;
    }
    venv.join("bin/python")
}

/// The emulator (moto + our layer) on a free port.
pub struct Emulator {
    child: Child,
    pub url: String,
    http: reqwest::Client,
}

/// One AWS request as the emulator logged it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Call {
    pub account: String,
    pub service: String,
    pub operation: String,
    pub status: u16,
}

impl Emulator {
    pub async fn start(logs: &Path) -> Emulator {
        let python = emulator_python();
        let log = File::create(logs.join("emulator.log")).unwrap();
        let mut child = Command::new(python)
            .arg(repo_root().join("tests/emulator/emulator.py"))
            .args(["--host", "127.0.0.1", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log.try_clone().unwrap()))
            .spawn()
            .expect("cannot start the emulator");
        // The emulator prints `emulator listening on http://127.0.0.1:PORT` once bound: port 0
        // means no race for a port.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut log = log;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("emulator listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
                let _ = writeln!(log, "{line}");
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                kill_child(&mut child);
                panic!("the emulator did not start; see {}", logs.display());
            }
        };
        let emu = Emulator {
            child,
            url,
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = emu
                .http
                .get(format!("{}/_emulator/health", emu.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return emu;
            }
            assert!(Instant::now() < deadline, "emulator health check timed out");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every AWS request since the start or the last `calls_clear`.
    pub async fn calls(&self) -> Vec<Call> {
        let v: Value = self
            .http
            .get(format!("{}/_emulator/calls", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let list = v.get("calls").cloned().unwrap_or(v);
        serde_json::from_value(list).expect("unexpected call log format")
    }

    pub async fn calls_clear(&self) {
        self.http
            .delete(format!("{}/_emulator/calls", self.url))
            .send()
            .await
            .unwrap();
    }

    /// Adds a fault rule (see tests/emulator/README.md); returns its id.
    pub async fn fault_add(&self, spec: Value) -> String {
        let res = self
            .http
            .post(format!("{}/_emulator/faults", self.url))
            .json(&spec)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "fault rule refused: {spec}");
        let v: Value = res.json().await.unwrap();
        v["id"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the fault rule `id` has matched at least `hits` requests (a `latency` rule
    /// counts a request when its delay starts).
    pub async fn fault_wait_hits(&self, id: &str, hits: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self
                .faults()
                .await
                .iter()
                .find(|f| f["id"] == id)
                .and_then(|f| f["hits"].as_u64())
                .unwrap_or(0);
            if n >= hits {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "fault {id}: {n} hits after {timeout:?}, want {hits}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sets the propagation delays (eventual consistency) of new security groups, prefix lists
    /// and peerings, in milliseconds (0 = off); returns the emulator's state.
    pub async fn propagation_set(
        &self,
        security_group_ms: u64,
        prefix_list_ms: u64,
        peering_ms: u64,
    ) -> Value {
        let spec = serde_json::json!({
            "security_group_ms": security_group_ms,
            "prefix_list_ms": prefix_list_ms,
            "peering_ms": peering_ms,
        });
        self.control_post("/_emulator/propagation", &spec).await
    }

    /// The propagation delays and the resources not visible yet.
    pub async fn propagation(&self) -> Value {
        self.control_get("/_emulator/propagation").await
    }

    /// Turns Route 53's per-account token buckets on (full) or off.
    pub async fn route53_buckets_set(&self, enabled: bool) -> Value {
        let spec = serde_json::json!({ "enabled": enabled });
        self.control_post("/_emulator/route53-buckets", &spec).await
    }

    /// Whether the Route 53 buckets are on, and the requests they throttled per account.
    pub async fn route53_buckets(&self) -> Value {
        self.control_get("/_emulator/route53-buckets").await
    }

    async fn control_post(&self, path: &str, body: &Value) -> Value {
        let res = self
            .http
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let v: Value = res.json().await.unwrap();
        assert!(status.is_success(), "POST {path} {body}: {status} {v}");
        v
    }

    async fn control_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The fault rules with their `remaining` and `hits`.
    pub async fn faults(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}/_emulator/faults", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let list = v.get("faults").or_else(|| v.get("rules")).unwrap_or(&v);
        list.as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        kill_child(&mut self.child);
    }
}

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_endpoint-hub");

/// The environment every service process gets: the database, the emulator, static credentials,
/// fast polling and a short lease.
fn service_env(db_url: &str, emulator_url: &str) -> Vec<(String, String)> {
    [
        ("DATABASE_URL", db_url),
        ("AWS_ENDPOINT_URL", emulator_url),
        ("AWS_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("EH_POLL_INTERVAL_MS", "100"),
        ("EH_JOB_LEASE_SECS", "5"),
        ("EH_LOG_FORMAT", "text"),
        ("NO_COLOR", "1"),
        (
            "RUST_LOG",
            "info,aws_config=warn,aws_smithy_runtime=warn,sqlx=warn",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn service_command(env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    for k in [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "EH_BIND",
        "EH_WORKERS",
        "EH_NO_WORKERS",
    ] {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd
}

/// Creates an admin token with the binary's `token create` subcommand.
pub fn admin_token(db_url: &str, emulator_url: &str) -> String {
    let out = service_command(&service_env(db_url, emulator_url))
        .args(["token", "create", "--name", "e2e-admin", "--scope", "admin"])
        .stdin(Stdio::null())
        .output()
        .expect("cannot run endpoint-hub token create");
    assert!(
        out.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(!token.is_empty(), "token create printed nothing");
    token
}

/// One `endpoint-hub serve` process (restartable on the same port).
pub struct Service {
    child: Option<Child>,
    pub base: String,
    port: u16,
    env: Vec<(String, String)>,
    log: PathBuf,
    http: reqwest::Client,
    pub starts: u32,
}

impl Service {
    /// Starts `serve` on a free port with the standard test environment plus `extra`, and waits
    /// until it answers `/healthz`.
    pub async fn start(
        logs: &Path,
        label: &str,
        db_url: &str,
        emulator_url: &str,
        extra: &[(&str, &str)],
    ) -> Service {
        let port = free_port();
        let mut env = service_env(db_url, emulator_url);
        env.push(("EH_BIND".into(), format!("127.0.0.1:{port}")));
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push(((*k).to_owned(), (*v).to_owned()));
        }
        let mut s = Service {
            child: None,
            base: format!("http://127.0.0.1:{port}"),
            port,
            env,
            log: logs.join(format!("{label}.log")),
            http: reqwest::Client::new(),
            starts: 0,
        };
        s.spawn().await;
        s
    }

    async fn spawn(&mut self) {
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        self.starts += 1;
        let _ = writeln!(log, "===== start {} =====", self.starts);
        let child = service_command(&self.env)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("cannot start endpoint-hub serve");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = self
                .http
                .get(format!("{}/healthz", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "endpoint-hub serve exited with {status}; see {}",
                    self.log.display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "endpoint-hub did not answer /healthz on port {}; see {}",
                self.port,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9`: no shutdown, leases left behind.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_child(&mut child);
        }
    }

    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn().await;
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill9();
    }
}

// ---------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------

/// A client of the service's HTTP API with an admin token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Api {
        Api {
            base: base.to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    /// `POST` and expect 202; returns the body.
    pub async fn post_accepted(&self, path: &str, body: &Value) -> Value {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, 202, "POST {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// `POST` without a body; returns the status and the body.
    pub async fn post_empty(&self, path: &str) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn delete_accepted(&self, path: &str) -> Value {
        let res = self
            .http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DELETE {path}: {e}"));
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, 202, "DELETE {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// `GET`; `None` while the service does not answer (restarting) or answers 5xx.
    pub async fn try_get(&self, path: &str) -> Option<Value> {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .ok()?;
        if res.status().is_server_error() {
            return None;
        }
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.json().await.ok()
    }

    /// The HTTP status of `GET path` (0 when the request failed).
    pub async fn get_status(&self, path: &str) -> u16 {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    pub async fn get(&self, path: &str) -> Value {
        self.try_get(path)
            .await
            .unwrap_or_else(|| panic!("GET {path} failed"))
    }

    /// Waits until the resource at `path` has `status` == `want`; panics when it reaches
    /// `failed` or the time is up.
    pub async fn wait_status(&self, path: &str, want: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        let mut last = Value::Null;
        loop {
            if let Some(v) = self.try_get(path).await {
                match v["status"].as_str() {
                    Some(s) if s == want => return v,
                    Some("failed") => panic!("{path} failed: {v:#}"),
                    _ => {}
                }
                last = v;
            }
            assert!(
                Instant::now() < deadline,
                "{path} not {want} after {timeout:?}: {last:#}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until every spoke is `attached`; panics on the first failed one or at the deadline
    /// (naming the stragglers and their jobs).
    pub async fn wait_spokes(&self, ids: &[String], want: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let mut pending = Vec::new();
            for id in ids {
                match self.try_get(&format!("/v1/spokes/{id}")).await {
                    Some(v) if v["status"] == want => {}
                    Some(v) if v["status"] == "failed" => panic!("spoke {id} failed: {v:#}"),
                    Some(v) => pending.push(v),
                    None => pending.push(Value::String(format!("{id}: no answer"))),
                }
            }
            if pending.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                let summary: Vec<String> = pending
                    .iter()
                    .map(|v| format!("{} {} {}", v["id"], v["status"], v["job"]))
                    .collect();
                panic!(
                    "{} spokes not {want} after {timeout:?}:\n{}",
                    pending.len(),
                    summary.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// A scrape of a service's `GET /metrics`, parsed: one sample per line.
pub struct Metrics {
    samples: Vec<Sample>,
}

/// A metric's name, labels and value.
type Sample = (String, Vec<(String, String)>, f64);

impl Metrics {
    pub async fn scrape(base: &str) -> Metrics {
        let text = reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .text()
            .await
            .unwrap();
        Metrics::parse(&text)
    }

    /// Prometheus text format 0.0.4 (no escaped quotes or commas in our label values).
    pub fn parse(text: &str) -> Metrics {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let (series, value) = l.rsplit_once(' ').expect("sample line");
                let value: f64 = value.parse().expect("sample value");
                let (name, labels) = match series.split_once('{') {
                    Some((name, rest)) => {
                        let labels = rest
                            .trim_end_matches('}')
                            .split(',')
                            .filter(|p| !p.is_empty())
                            .map(|p| {
                                let (k, v) = p.split_once('=').expect("label");
                                (k.to_owned(), v.trim_matches('"').to_owned())
                            })
                            .collect();
                        (name.to_owned(), labels)
                    }
                    None => (series.to_owned(), vec![]),
                };
                (name, labels, value)
            })
            .collect();
        Metrics { samples }
    }

    /// The sum of the samples of `name` whose labels include all of `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(n, have, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }
}

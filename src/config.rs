//! Command line and environment: every setting is a flag with an environment variable
//! (12-factor); README.md lists them all with their defaults.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::domain::RoleName;

#[derive(Debug, Parser)]
#[command(
    name = "endpoint-hub",
    version,
    about = "Share AWS VPC interface endpoints from a hub VPC with spoke VPCs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API and the job workers (unless --no-workers).
    Serve {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        http: HttpArgs,
        #[command(flatten)]
        worker: WorkerArgs,
        /// Serve the API only; run no job workers in this process.
        #[arg(long, env = "EH_NO_WORKERS")]
        no_workers: bool,
    },
    /// Run job workers only.
    Worker {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        worker: WorkerArgs,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Ask a running service whether it is ready (`GET /readyz`); exit 0 if it answers 200,
    /// else 1. For container health checks, where no curl is installed.
    Probe {
        /// The readiness URL (plain http).
        #[arg(
            long,
            env = "EH_PROBE_URL",
            default_value = "http://127.0.0.1:8080/readyz"
        )]
        url: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3)]
        timeout_secs: u64,
    },
    /// Manage API tokens.
    Token {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: TokenAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create a token and print its secret (shown once).
    Create {
        #[arg(long)]
        name: String,
        /// admin, read or spokes:write; repeat or separate with commas.
        #[arg(long = "scope", value_delimiter = ',', required = true)]
        scopes: Vec<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by name.
    Revoke {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct Common {
    /// PostgreSQL connection string.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// Maximum database connections of this process.
    #[arg(long, env = "EH_DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,
    /// Log format: text or json.
    #[arg(long, env = "EH_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Address to listen on.
    #[arg(long, env = "EH_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "EH_BODY_LIMIT_BYTES", default_value_t = 65536)]
    pub body_limit_bytes: usize,
    /// Request timeout, in seconds.
    #[arg(long, env = "EH_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Role name assumed in a spoke account when an enrolment gives neither role_arn nor role_name.
    #[arg(long, env = "EH_DEFAULT_ROLE_NAME", default_value = "endpoint-hub")]
    pub default_role_name: RoleName,
    /// How long an Idempotency-Key answers retries, in seconds; an expired key is processed
    /// afresh.
    #[arg(long, env = "EH_IDEMPOTENCY_TTL_SECS", default_value_t = 86400)]
    pub idempotency_ttl_secs: u64,
    /// Inbound rules per security group in the hub account (AWS: 60 unless raised): a hub's
    /// `prefix_list_max_entries` must not exceed it.
    #[arg(long, env = "EH_SG_INBOUND_RULES_QUOTA", default_value_t = 60)]
    pub sg_inbound_rules_quota: i64,
    /// VPCs per Route 53 Profile in the hub accounts (AWS: 1,000 unless raised): a hub in
    /// `profile` DNS mode takes at most this many spokes.
    #[arg(long, env = "EH_VPCS_PER_PROFILE_QUOTA", default_value_t = 1000)]
    pub vpcs_per_profile_quota: i64,
    /// Attachments per Transit Gateway in the hub accounts (AWS: 5,000): a hub in
    /// `transit_gateway` network mode takes at most this many minus one spokes (the hub VPC's
    /// attachment is one).
    #[arg(long, env = "EH_TGW_ATTACHMENTS_QUOTA", default_value_t = 5000)]
    pub tgw_attachments_quota: i64,
    /// A price file of the same format as `prices/aws-prices.json` for the cost report: each
    /// Region it gives replaces the built-in Region's prices, and Regions the built-in table
    /// lacks are added. Read at start-up; an invalid file stops the service.
    #[arg(long, env = "EH_PRICES_FILE")]
    pub prices_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Concurrent jobs in this process.
    #[arg(long, env = "EH_WORKERS", default_value_t = 4)]
    pub workers: usize,
    /// Job lease, in seconds (a crashed worker's job resumes after this).
    #[arg(long, env = "EH_JOB_LEASE_SECS", default_value_t = 30)]
    pub lease_secs: u64,
    /// Poll for jobs this often when no notification arrives, in milliseconds.
    #[arg(long, env = "EH_POLL_INTERVAL_MS", default_value_t = 2000)]
    pub poll_interval_ms: u64,
    /// Transient failures of one step before its job fails.
    #[arg(long, env = "EH_STEP_MAX_ATTEMPTS", default_value_t = 12)]
    pub step_max_attempts: i32,
    /// Attempts per AWS call in the SDK's standard retry mode.
    #[arg(long, env = "EH_AWS_MAX_ATTEMPTS", default_value_t = 5)]
    pub aws_max_attempts: u32,
    /// Share of AWS's published Route 53 budget per account (token buckets per account and per
    /// operation) that this deployment uses, every process on the database together: 1.0 all
    /// of it, 0.8 leaves a fifth to other callers in the accounts, 0 turns pacing off. Above 1
    /// makes sense only against an emulator that does not throttle.
    #[arg(long, env = "EH_ROUTE53_PACING", default_value_t = 0.8, value_parser = pacing_share)]
    pub route53_pacing: f64,
    /// Seconds between background reconcile passes (each ready hub and its attached spokes
    /// compared with AWS, drift repaired unless the hub's `reconcile_mode` is `detect`), with up
    /// to 10% jitter; every process may start one, at most one starts per interval. 0 turns
    /// the background reconciler off (on-demand reconciles still run).
    #[arg(long, env = "EH_RECONCILE_INTERVAL_SECS", default_value_t = 600)]
    pub reconcile_interval_secs: u64,
    /// How long an attach waits for its peering to become visible and active, in seconds,
    /// before the job fails saying so.
    #[arg(long, env = "EH_WAIT_PEERING_SECS", default_value_t = 300)]
    pub wait_peering_secs: u64,
    /// How long a job waits for an interface endpoint to become available, or to finish
    /// deleting, in seconds.
    #[arg(long, env = "EH_WAIT_ENDPOINT_SECS", default_value_t = 600)]
    pub wait_endpoint_secs: u64,
    /// Jobs of one hub's spokes in flight at once, every process together (the others queue).
    #[arg(long, env = "EH_SPOKE_JOBS_PER_HUB", default_value_t = 16)]
    pub spoke_jobs_per_hub: i64,
    /// How long a step waits for anything else (a VPC being created), in seconds.
    #[arg(long, env = "EH_WAIT_OTHER_SECS", default_value_t = 600)]
    pub wait_other_secs: u64,
}

impl WorkerArgs {
    pub fn engine_config(&self) -> crate::workflow::EngineConfig {
        crate::workflow::EngineConfig {
            lease: Duration::from_secs(self.lease_secs.max(3)),
            poll_interval: Duration::from_millis(self.poll_interval_ms.max(50)),
            max_attempts: self.step_max_attempts.max(1),
            waits: crate::workflow::WaitLimits {
                peering: Duration::from_secs(self.wait_peering_secs),
                endpoint: Duration::from_secs(self.wait_endpoint_secs),
                resource: Duration::from_secs(self.wait_other_secs),
            },
            spoke_jobs_per_hub: self.spoke_jobs_per_hub.max(1),
            ..Default::default()
        }
    }
}

/// A pacing share: a finite number, zero or more.
fn pacing_share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a share of the budget (a number, 0 or more, e.g. 0.8)"
        )),
    }
}

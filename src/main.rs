//! The `endpoint-hub` binary: `serve`, `worker`, `migrate`, `openapi`, `token`, `probe`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;

use endpoint_hub::app::prices::PriceTable;
use endpoint_hub::app::{App, Limits};
use endpoint_hub::cloud::aws::{AwsCloud, AwsSettings};
use endpoint_hub::cloud::pacing::{NoPacing, Pacer};
use endpoint_hub::cloud::{CallRecorder, Cloud};
use endpoint_hub::config::{Cli, Command, Common, TokenAction, WorkerArgs};
use endpoint_hub::model::Scope;
use endpoint_hub::store;
use endpoint_hub::workflow::Engine;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Openapi => {
            let spec = endpoint_hub::http::openapi();
            println!("{}", serde_json::to_string_pretty(&spec)?);
            Ok(())
        }
        Command::Probe { url, timeout_secs } => {
            match tokio::time::timeout(Duration::from_secs(timeout_secs), probe(&url)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => {
                    eprintln!("not ready: {e:#}");
                    std::process::exit(1)
                }
                Err(_) => {
                    eprintln!("not ready: no answer from {url} within {timeout_secs} s");
                    std::process::exit(1)
                }
            }
        }
        Command::Migrate { common } => {
            logging(&common);
            let pool = store::connect(&common.database_url, 2).await?;
            store::migrate(&pool).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Token { common, action } => {
            logging(&common);
            let pool = store::connect(&common.database_url, 2).await?;
            store::migrate(&pool).await?;
            token(&pool, action).await
        }
        Command::Serve {
            common,
            http,
            worker,
            no_workers,
        } => {
            logging(&common);
            // The cost report's prices, first: an invalid EH_PRICES_FILE stops the service.
            let prices = match &http.prices_file {
                Some(path) => PriceTable::with_file(path)?,
                None => PriceTable::builtin(),
            };
            let pool = store::connect(&common.database_url, common.db_max_connections).await?;
            store::migrate(&pool).await?;
            let shutdown = shutdown_signal();
            let cloud = cloud(&pool, &worker).await;
            let reconcile_every = (!no_workers && worker.reconcile_interval_secs > 0)
                .then(|| Duration::from_secs(worker.reconcile_interval_secs));
            let engine = if no_workers {
                None
            } else {
                let engine = Arc::new(Engine::new(
                    pool.clone(),
                    cloud.clone(),
                    worker.engine_config(),
                ));
                let stop = shutdown.clone();
                let workers = worker.workers;
                Some(tokio::spawn(async move { engine.run(workers, stop).await }))
            };
            let app = App {
                pool: pool.clone(),
                cloud,
                limits: Limits {
                    sg_inbound_rules: http.sg_inbound_rules_quota,
                    vpcs_per_profile: http.vpcs_per_profile_quota,
                    tgw_attachments: http.tgw_attachments_quota,
                    ..Limits::default()
                },
                default_role_name: http.default_role_name.clone(),
                idempotency_ttl: Duration::from_secs(http.idempotency_ttl_secs.max(1)),
                live: Default::default(),
                prices: Arc::new(prices),
            };
            let reconciler = reconcile_every.map(|every| {
                let app = app.clone();
                let stop = shutdown.clone();
                tokio::spawn(async move { app.reconciler(every, stop).await })
            });
            let router = endpoint_hub::http::router(
                app,
                endpoint_hub::http::HttpConfig {
                    body_limit_bytes: http.body_limit_bytes,
                    request_timeout: Duration::from_secs(http.request_timeout_secs),
                },
            );
            let listener = tokio::net::TcpListener::bind(http.bind)
                .await
                .with_context(|| format!("cannot listen on {}", http.bind))?;
            tracing::info!(addr = %listener.local_addr()?, workers = !no_workers, "endpoint-hub serving");
            let stop = shutdown.clone();
            endpoint_hub::http::serve(listener, router, async move { stop.cancelled().await })
                .await?;
            if let Some(engine) = engine {
                let _ = engine.await;
            }
            if let Some(reconciler) = reconciler {
                let _ = reconciler.await;
            }
            tracing::info!("stopped");
            Ok(())
        }
        Command::Worker { common, worker } => {
            logging(&common);
            let pool = store::connect(&common.database_url, common.db_max_connections).await?;
            store::migrate(&pool).await?;
            let shutdown = shutdown_signal();
            let engine = Arc::new(Engine::new(
                pool.clone(),
                cloud(&pool, &worker).await,
                worker.engine_config(),
            ));
            tracing::info!(workers = worker.workers, "endpoint-hub workers running");
            engine.run(worker.workers, shutdown).await;
            tracing::info!("stopped");
            Ok(())
        }
    }
}

/// The AWS cloud: the SDK's standard configuration, Route 53 paced through the database, every
/// mutating call recorded.
async fn cloud(pool: &sqlx::PgPool, worker: &WorkerArgs) -> Cloud {
    let recorder: Arc<dyn CallRecorder> = Arc::new(store::audit::DbRecorder(pool.clone()));
    let pacer: Arc<dyn Pacer> = if worker.route53_pacing > 0.0 {
        Arc::new(store::pacing::PgPacer::new(
            pool.clone(),
            worker.route53_pacing,
        ))
    } else {
        Arc::new(NoPacing)
    };
    let aws = AwsCloud::new(
        AwsSettings {
            endpoint_url: None,
            max_attempts: worker.aws_max_attempts,
        },
        recorder,
        pacer,
    )
    .await;
    Cloud::from_all(Arc::new(aws))
}

async fn token(pool: &sqlx::PgPool, action: TokenAction) -> anyhow::Result<()> {
    match action {
        TokenAction::Create { name, scopes } => {
            let scopes: Vec<Scope> = scopes
                .iter()
                .map(|s| {
                    s.parse::<Scope>()
                        .map_err(|e| anyhow::anyhow!("--scope: {e}"))
                })
                .collect::<Result<_, _>>()?;
            let mut conn = pool.acquire().await?;
            let secret = store::tokens::token_create(&mut conn, &name, &scopes)
                .await
                .map_err(|e| match store::violated_constraint(&e, "23505") {
                    Some(_) => anyhow::anyhow!("a token named '{name}' already exists"),
                    None => e.into(),
                })?;
            println!("{secret}");
            Ok(())
        }
        TokenAction::List => {
            for t in store::tokens::token_list(pool).await? {
                let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
                println!(
                    "{}\t{}\tcreated {}\t{}",
                    t.name,
                    scopes.join(","),
                    t.created_at.to_rfc3339(),
                    t.revoked_at
                        .map(|r| format!("revoked {}", r.to_rfc3339()))
                        .unwrap_or_else(|| "active".into())
                );
            }
            Ok(())
        }
        TokenAction::Revoke { name } => {
            if store::tokens::token_revoke(pool, &name).await? {
                println!("revoked {name}");
                Ok(())
            } else {
                anyhow::bail!("no active token named '{name}'")
            }
        }
    }
}

fn logging(common: &Common) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn,sqlx=warn")
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if common.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Cancelled on SIGTERM or SIGINT.
fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        t.cancel();
    });
    token
}

/// `GET url` over plain HTTP/1.1; Ok when the status is 200.
async fn probe(url: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("--url must be http://host:port/path, not {url}"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .with_context(|| format!("cannot connect to {host}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer);
    let status_line = answer.lines().next().unwrap_or("");
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => anyhow::bail!("{url} answered '{status_line}'"),
    }
}

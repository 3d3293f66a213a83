//! `spawn_app()`: a fresh migrated database (`tests/support/`), three tokens, and the router
//! served on 127.0.0.1:0.

use std::time::Duration;

use endpoint_hub::app::App;
use endpoint_hub::app::prices::PriceTable;
use endpoint_hub::http::{HttpConfig, router, serve};
use endpoint_hub::model::Scope;
use endpoint_hub::store;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, PgPool};

use crate::support::{TestDb, app};

/// Body limit of the test server (small, so the 413 test stays cheap).
pub const BODY_LIMIT: usize = 16 * 1024;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub admin: String,
    pub read: String,
    pub spokes: String,
    /// Checked and dropped with the app (see `tests/support/db.rs`).
    _db: TestDb,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with_timeout(Duration::from_secs(30)).await
}

/// `spawn_app` with another request timeout.
pub async fn spawn_app_with_timeout(request_timeout: Duration) -> TestApp {
    spawn_app_with(request_timeout, store::idempotency::DEFAULT_TTL, None).await
}

/// `spawn_app` with another lifetime of idempotency keys.
pub async fn spawn_app_with_idempotency_ttl(idempotency_ttl: Duration) -> TestApp {
    spawn_app_with(Duration::from_secs(30), idempotency_ttl, None).await
}

/// `spawn_app` with another price table for the cost report (as `EH_PRICES_FILE` makes).
pub async fn spawn_app_with_prices(prices: PriceTable) -> TestApp {
    spawn_app_with(
        Duration::from_secs(30),
        store::idempotency::DEFAULT_TTL,
        Some(prices),
    )
    .await
}

/// A simulated cloud for the API's plans (`dry_run`) and orphan listings; no worker uses it.
pub fn api_cloud(pool: &sqlx::PgPool) -> endpoint_hub::cloud::Cloud {
    let recorder = std::sync::Arc::new(store::audit::DbRecorder(pool.clone()));
    endpoint_hub::cloud::Cloud::from_all(std::sync::Arc::new(
        endpoint_hub::cloud::sim::SimCloud::new(Default::default(), recorder),
    ))
}

async fn spawn_app_with(
    request_timeout: Duration,
    idempotency_ttl: Duration,
    prices: Option<PriceTable>,
) -> TestApp {
    let (db, pool) = TestDb::migrated().await;
    // No workers run in these tests: every job a request creates stays queued, on purpose.
    db.allow_unfinished_jobs();

    let mut conn = pool.acquire().await.unwrap();
    let admin = store::tokens::token_create(&mut conn, "admin", &[Scope::Admin])
        .await
        .unwrap();
    let read = store::tokens::token_create(&mut conn, "reader", &[Scope::Read])
        .await
        .unwrap();
    let spokes = store::tokens::token_create(&mut conn, "vending", &[Scope::SpokesWrite])
        .await
        .unwrap();
    drop(conn);

    let router = router(
        App {
            idempotency_ttl,
            prices: std::sync::Arc::new(prices.unwrap_or_default()),
            ..app(&pool, Default::default(), api_cloud(&pool))
        },
        HttpConfig {
            body_limit_bytes: BODY_LIMIT,
            request_timeout,
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, router, std::future::pending()));

    TestApp {
        base,
        client: reqwest::Client::new(),
        pool,
        admin,
        read,
        spokes,
        _db: db,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with `Authorization: Bearer <token>`.
    pub fn req(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.req(Method::GET, path, token).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.req(Method::POST, path, token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.req(Method::DELETE, path, token).send().await.unwrap()
    }

    /// Creates a hub named `name` (VPC `vpc-<n>`, CIDR `10.<n>.0.0/16`) and returns its body.
    pub async fn hub_create(&self, name: &str, n: u32) -> Value {
        let res = self.post("/v1/hubs", &self.admin, &hub_body(name, n)).await;
        assert_eq!(
            res.status(),
            202,
            "hub create: {}",
            res.text().await.unwrap()
        );
        res.json().await.unwrap()
    }

    /// Enrols spoke VPC `n` with `cidrs` into `hub` and returns its body.
    pub async fn spoke_enroll(&self, hub: &str, n: u32, cidrs: &[&str]) -> Value {
        let res = self
            .post("/v1/spokes", &self.spokes, &spoke_body(hub, n, cidrs))
            .await;
        assert_eq!(
            res.status(),
            202,
            "spoke enroll: {}",
            res.text().await.unwrap()
        );
        res.json().await.unwrap()
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Row counts of every table a request could change, except the audit log.
    pub async fn counts(&self) -> Vec<(&'static str, i64)> {
        let mut out = Vec::new();
        for t in [
            "hubs",
            "hub_services",
            "spokes",
            "cidr_claims",
            "jobs",
            "job_events",
            "idempotency_keys",
        ] {
            out.push((t, self.count(t).await));
        }
        out
    }

    /// The audit rows with this request id: (principal, action, target, outcome).
    pub async fn audit_of(
        &self,
        request_id: &str,
    ) -> Vec<(String, String, Option<String>, String)> {
        sqlx::query_as(
            "SELECT principal, action, target, outcome FROM audit_log WHERE request_id = $1 ORDER BY id",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }
}

pub fn vpc(n: u32) -> String {
    format!("vpc-{n:08x}")
}

pub fn account(n: u32) -> String {
    format!("{:012}", 100_000_000_000u64 + u64::from(n))
}

pub fn hub_body(name: &str, n: u32) -> Value {
    json!({
        "name": name,
        "account_id": "111111111111",
        "region": "eu-west-1",
        "vpc_id": vpc(n),
        "cidrs": [format!("10.{n}.0.0/16")],
        "subnet_ids": [format!("subnet-{n:08x}")],
        "route_table_ids": [format!("rtb-{n:08x}")],
        "services": ["sqs", "ssm"],
        "role_name": "endpoint-hub",
    })
}

pub fn spoke_body(hub: &str, n: u32, cidrs: &[&str]) -> Value {
    json!({
        "hub": hub,
        "account_id": account(n),
        "region": "eu-west-1",
        "vpc_id": vpc(0x1000 + n),
        "cidrs": cidrs,
        "labels": {"team": format!("team-{}", n % 2), "env": "prod"},
    })
}

pub fn request_id(res: &Response) -> String {
    res.headers()
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// Asserts a problem+json response and returns its body.
pub async fn problem(res: Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let rid = res
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "unexpected status, body: {text}");
    assert_eq!(content_type, "application/problem+json", "body: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("https://endpoint-hub.dev/problems/"),
        "{body}"
    );
    assert!(body["title"].is_string(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
    assert!(
        body["instance"].as_str().unwrap().starts_with('/'),
        "{body}"
    );
    assert_eq!(body["request_id"].as_str(), rid.as_deref(), "{body}");
    body
}

/// The `field` names of a problem's `errors`.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

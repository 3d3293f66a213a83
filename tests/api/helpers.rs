//! `spawn_app()`: a fresh database (random name), migrations, three tokens, and the router
//! served on 127.0.0.1:0.

use std::str::FromStr;
use std::time::Duration;

use endpoint_hub::app::App;
use endpoint_hub::http::{HttpConfig, router, serve};
use endpoint_hub::model::Scope;
use endpoint_hub::store;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgPool};
use uuid::Uuid;

/// Body limit of the test server (small, so the 413 test stays cheap).
pub const BODY_LIMIT: usize = 16 * 1024;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub admin: String,
    pub read: String,
    pub spokes: String,
    db_name: String,
    maintenance: PgConnectOptions,
}

fn maintenance_options() -> PgConnectOptions {
    let url = std::env::var("EH_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    PgConnectOptions::from_str(&url).expect("EH_TEST_DATABASE_URL is not a PostgreSQL URL")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with_timeout(Duration::from_secs(30)).await
}

/// `spawn_app` with another request timeout.
pub async fn spawn_app_with_timeout(request_timeout: Duration) -> TestApp {
    spawn_app_with(request_timeout, store::idempotency::DEFAULT_TTL).await
}

/// `spawn_app` with another lifetime of idempotency keys.
pub async fn spawn_app_with_idempotency_ttl(idempotency_ttl: Duration) -> TestApp {
    spawn_app_with(Duration::from_secs(30), idempotency_ttl).await
}

async fn spawn_app_with(request_timeout: Duration, idempotency_ttl: Duration) -> TestApp {
    let maintenance = maintenance_options();
    let db_name = format!("eh_test_{}", Uuid::new_v4().simple());
    let mut conn = maintenance
        .connect()
        .await
        .expect("cannot connect to the test PostgreSQL server");
    sqlx::query(AssertSqlSafe(format!(r#"CREATE DATABASE "{db_name}""#)))
        .execute(&mut conn)
        .await
        .expect("cannot create the test database");
    conn.close().await.ok();

    let pool = PgPoolOptions::new()
        .max_connections(20)
        .connect_with(maintenance.clone().database(&db_name))
        .await
        .expect("cannot connect to the test database");
    store::migrate(&pool).await.expect("migrations failed");

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

    let app = App {
        pool: pool.clone(),
        limits: Default::default(),
        default_role_name: "endpoint-hub".parse().unwrap(),
        idempotency_ttl,
    };
    let router = router(
        app,
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
        db_name,
        maintenance,
    }
}

impl Drop for TestApp {
    /// Drops the test database (best effort, on a thread of its own: Drop cannot await).
    fn drop(&mut self) {
        let options = self.maintenance.clone();
        let name = self.db_name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(mut conn) = options.connect().await {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
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

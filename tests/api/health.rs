use serde_json::Value;

use crate::helpers::{problem, spawn_app};

#[tokio::test]
async fn healthz_answers_ok_without_a_token() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("x-request-id"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_is_ready_after_migrations() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_is_503_problem_when_migrations_are_missing() {
    let app = spawn_app().await;
    sqlx::query("DELETE FROM _sqlx_migrations")
        .execute(&app.pool)
        .await
        .unwrap();
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    let body = problem(res, 503).await;
    assert_eq!(body["instance"], "/readyz");
    // The container health check says so too.
    // (tokio's Command: the server runs on this test's thread while the probe waits.)
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_endpoint-hub"))
        .args(["probe", "--url", &app.url("/readyz")])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("503"));
}

#[tokio::test]
async fn the_health_check_probe_exits_0_only_when_ready() {
    let app = spawn_app().await;
    // (tokio's Command: the server runs on this test's thread while the probe waits.)
    let probe = async |url: &str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_endpoint-hub"))
            .args(["probe", "--url", url, "--timeout-secs", "2"])
            .env_remove("EH_PROBE_URL")
            .output()
            .await
            .unwrap()
    };
    let out = probe(&app.url("/readyz")).await;
    assert!(out.status.success(), "{out:?}");
    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = probe(&format!("http://127.0.0.1:{port}/readyz")).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // Not an http URL.
    let out = probe("https://example.com/readyz").await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[tokio::test]
async fn swagger_ui_serves_html() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/swagger-ui/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let text = res.text().await.unwrap();
    assert!(text.contains("swagger"), "{text}");
}

#[tokio::test]
async fn request_id_is_echoed_when_given() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "my-request-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "my-request-42");
}

#[tokio::test]
async fn metrics_count_registrations_and_jobs_by_status() {
    let app = spawn_app().await;
    app.hub_create("main", 1).await;
    app.spoke_enroll("main", 2, &["10.2.0.0/16"]).await;
    app.spoke_enroll("main", 3, &["10.3.0.0/16"]).await;
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain; version=0.0.4");
    let text = res.text().await.unwrap();
    assert!(text.contains("# TYPE endpoint_hub_spokes gauge"), "{text}");
    assert!(
        text.contains("endpoint_hub_spokes{status=\"pending\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("endpoint_hub_hubs{status=\"provisioning\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("endpoint_hub_jobs{kind=\"attach_spoke\",status=\"queued\"} 2"),
        "{text}"
    );
    // The process's own counters follow: the enrolments above, by route template.
    assert!(
        text.contains("# TYPE endpoint_hub_http_request_duration_seconds histogram"),
        "{text}"
    );
    let enrolments = text
        .lines()
        .find(|l| {
            l.starts_with("endpoint_hub_http_requests_total{")
                && l.contains("method=\"POST\"")
                && l.contains("route=\"/v1/spokes\"")
                && l.contains("status=\"202\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    // Other tests of this process enrol too: at least these two.
    assert!(enrolments >= 2.0, "{text}");
    assert!(
        !text.contains("/v1/spokes/0"),
        "raw paths must not become series"
    );
}

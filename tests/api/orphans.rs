//! `GET /v1/orphans` and `POST /v1/orphans/sweep` over HTTP: scopes, flags and the answer's
//! shape (the listing and the sweep themselves are tested in `tests/orphans.rs`).

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn sweep_needs_admin_and_listing_needs_read() {
    let app = spawn_app().await;

    // read token sweeping: 403 naming the scope, audited as refused, nothing done
    let res = app
        .req(Method::POST, "/v1/orphans/sweep", &app.read)
        .send()
        .await
        .unwrap();
    let rid = request_id(&res);
    let p = problem(res, 403).await;
    assert!(p["detail"].as_str().unwrap().contains("'admin'"), "{p}");
    assert_eq!(
        app.audit_of(&rid).await,
        vec![(
            "reader".to_owned(),
            "POST /v1/orphans/sweep".to_owned(),
            Some("/v1/orphans/sweep".to_owned()),
            "rejected: 403 Forbidden".to_owned()
        )]
    );
    // even a dry run
    let res = app
        .req(Method::POST, "/v1/orphans/sweep?dry_run=true", &app.read)
        .send()
        .await
        .unwrap();
    problem(res, 403).await;

    // spokes:write token listing: 403
    let res = app.get("/v1/orphans", &app.spokes).await;
    let p = problem(res, 403).await;
    assert!(p["detail"].as_str().unwrap().contains("'read'"), "{p}");

    // read token listing: 200, nothing known
    let res = app.get("/v1/orphans", &app.read).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["orphans"], serde_json::json!([]), "{body}");
    assert_eq!(body["unreachable"], serde_json::json!([]), "{body}");
    assert!(body["checked_at"].is_string(), "{body}");

    // admin dry run: 200
    let res = app
        .req(Method::POST, "/v1/orphans/sweep?dry_run=true", &app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["dry_run"], true, "{body}");
    assert_eq!(body["items"], serde_json::json!([]), "{body}");
}

#[tokio::test]
async fn bad_flags_and_unknown_parameters_are_400() {
    let app = spawn_app().await;
    let res = app
        .req(Method::POST, "/v1/orphans/sweep?dry_run=yes", &app.admin)
        .send()
        .await
        .unwrap();
    let p = problem(res, 400).await;
    assert_eq!(fields(&p), vec!["dry_run"], "{p}");
    let res = app.get("/v1/orphans?kind=peering", &app.read).await;
    let p = problem(res, 400).await;
    assert_eq!(fields(&p), vec!["kind"], "{p}");
}

//! `POST /v1/hubs/{id}/reconcile` and `POST /v1/spokes/{id}/reconcile`: refusals, dry runs,
//! scopes (no workers run: accepted jobs stay queued).

use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use super::helpers::*;

async fn post_empty(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.req(Method::POST, path, token).send().await.unwrap()
}

/// Marks a hub ready and a spoke attached, as finished jobs would.
async fn ready(app: &TestApp, hub: &str, spoke: Option<&str>) {
    sqlx::query("UPDATE hubs SET status = 'ready' WHERE id = $1::uuid")
        .bind(hub)
        .execute(&app.pool)
        .await
        .unwrap();
    if let Some(s) = spoke {
        sqlx::query("UPDATE spokes SET status = 'attached' WHERE id = $1::uuid")
            .bind(s)
            .execute(&app.pool)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn reconcile_of_a_hub_or_spoke_not_ready_is_409_with_the_reason() {
    let app = spawn_app().await;
    let hub = app.hub_create("h1", 1).await;
    let hub_id = hub["id"].as_str().unwrap();
    let spoke = app.spoke_enroll("h1", 1, &["10.50.0.0/16"]).await;
    let spoke_id = spoke["id"].as_str().unwrap();
    let before = app.counts().await;

    let p = problem(
        post_empty(&app, &format!("/v1/hubs/{hub_id}/reconcile"), &app.admin).await,
        409,
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("provisioning"),
        "{p}"
    );
    let p = problem(
        post_empty(
            &app,
            &format!("/v1/spokes/{spoke_id}/reconcile"),
            &app.spokes,
        )
        .await,
        409,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("pending"), "{p}");
    // The hub ready, the spoke still pending: still refused, naming the spoke's status.
    ready(&app, hub_id, None).await;
    let p = problem(
        post_empty(
            &app,
            &format!("/v1/spokes/{spoke_id}/reconcile?dry_run=true"),
            &app.spokes,
        )
        .await,
        409,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("attach"), "{p}");
    assert_eq!(app.counts().await, before, "refusals change nothing");

    for path in [
        format!("/v1/hubs/{}/reconcile", Uuid::new_v4()),
        format!("/v1/spokes/{}/reconcile", Uuid::new_v4()),
    ] {
        problem(post_empty(&app, &path, &app.admin).await, 404).await;
    }
}

#[tokio::test]
async fn bad_flags_are_400_naming_the_parameter_and_scopes_apply() {
    let app = spawn_app().await;
    let hub = app.hub_create("h1", 1).await;
    let hub_id = hub["id"].as_str().unwrap();
    ready(&app, hub_id, None).await;
    let p = problem(
        post_empty(
            &app,
            &format!("/v1/hubs/{hub_id}/reconcile?dry_run=yes"),
            &app.admin,
        )
        .await,
        400,
    )
    .await;
    assert_eq!(fields(&p), vec!["dry_run"]);
    let p = problem(
        post_empty(
            &app,
            &format!("/v1/hubs/{hub_id}/reconcile?repair=false"),
            &app.admin,
        )
        .await,
        400,
    )
    .await;
    assert_eq!(fields(&p), vec!["repair"]);
    // A hub reconcile needs `admin`; `read` may not start one.
    problem(
        post_empty(&app, &format!("/v1/hubs/{hub_id}/reconcile"), &app.read).await,
        403,
    )
    .await;
    problem(
        post_empty(&app, &format!("/v1/hubs/{hub_id}/reconcile"), &app.spokes).await,
        403,
    )
    .await;
}

#[tokio::test]
async fn dry_run_is_200_with_a_plan_and_stores_nothing_then_a_real_one_is_202() {
    let app = spawn_app().await;
    let hub = app.hub_create("h1", 1).await;
    let hub_id = hub["id"].as_str().unwrap();
    let spoke = app.spoke_enroll("h1", 1, &["10.50.0.0/16"]).await;
    let spoke_id = spoke["id"].as_str().unwrap();
    ready(&app, hub_id, Some(spoke_id)).await;
    let before = app.counts().await;
    let audit = app.count("audit_log").await;

    // The API's cloud has none of the hub's resources: everything is missing.
    let res = post_empty(
        &app,
        &format!("/v1/hubs/{hub_id}/reconcile?dry_run=true"),
        &app.admin,
    )
    .await;
    assert_eq!(res.status(), 200);
    let plan: Value = res.json().await.unwrap();
    assert_eq!(plan["hub_id"], hub["id"]);
    assert_eq!(plan["detect_only"], false);
    let differences = plan["differences"].as_array().unwrap();
    assert!(
        differences
            .iter()
            .any(|d| d["kind"] == "missing" && d["resource"] == "security_group"),
        "{plan}"
    );
    assert!(!plan["changes"].as_array().unwrap().is_empty(), "{plan}");
    assert_eq!(app.counts().await, before, "a dry run stores nothing");
    assert_eq!(app.count("audit_log").await, audit);

    let res = post_empty(
        &app,
        &format!("/v1/spokes/{spoke_id}/reconcile?detect_only=true"),
        &app.spokes,
    )
    .await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    let job = body["job_id"].as_str().unwrap();
    let state: Value = sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1::uuid")
        .bind(job)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(state["detect_only"], true);
    let res = app.get(&format!("/v1/jobs/{job}"), &app.read).await;
    let j: Value = res.json().await.unwrap();
    assert_eq!(j["kind"], "reconcile_spoke");
    assert_eq!(j["steps"][0]["name"], "observe_drift");
}

/// `dry_run=true` on enrolment, PATCH and DELETE: 200 with a plan and nothing stored; bad
/// input is refused exactly as without it.
#[tokio::test]
async fn dry_runs_of_writes_validate_as_for_real_and_store_nothing() {
    let app = spawn_app().await;
    let hub = app.hub_create("h1", 1).await;
    let hub_id = hub["id"].as_str().unwrap();
    ready(&app, hub_id, None).await;
    let before = app.counts().await;
    // Refused requests are audited (as without dry_run); accepted ones would be too.
    let accepted = "(SELECT * FROM audit_log WHERE outcome = 'accepted') a";
    let audit = app.count(accepted).await;

    let res = app
        .post(
            "/v1/spokes?dry_run=true",
            &app.spokes,
            &spoke_body("h1", 1, &["10.50.0.0/16"]),
        )
        .await;
    assert_eq!(res.status(), 200);
    let plan: Value = res.json().await.unwrap();
    assert_eq!(plan["resource"]["status"], "pending");
    assert!(plan["changes"].is_array(), "{plan}");
    // Invalid: the same 422 as without dry_run.
    let mut bad = spoke_body("h1", 1, &["10.50.0.0/33"]);
    bad["labels"] = serde_json::json!({});
    let p = problem(
        app.post("/v1/spokes?dry_run=true", &app.spokes, &bad).await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["cidrs[0]"]);
    let res = app
        .req(
            Method::PATCH,
            &format!("/v1/hubs/{hub_id}?dry_run=true"),
            &app.admin,
        )
        .json(&serde_json::json!({"services": ["sqs", "kms", "ssm"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let plan: Value = res.json().await.unwrap();
    assert!(
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["operation"] == "CreateVpcEndpoint"),
        "{plan}"
    );
    let res = app
        .req(
            Method::DELETE,
            &format!("/v1/hubs/{hub_id}?dry_run=true"),
            &app.admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(app.counts().await, before, "plans store nothing");
    assert_eq!(app.count(accepted).await, audit);
}

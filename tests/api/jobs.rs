use std::collections::HashSet;

use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{problem, request_id, spawn_app};

#[tokio::test]
async fn job_get_includes_events_and_list_filters() {
    let app = spawn_app().await;
    let hub = app.hub_create("h1", 1).await;
    let spoke = app.spoke_enroll("h1", 1, &["10.50.0.0/16"]).await;
    let hub_job = hub["job_id"].as_str().unwrap();
    let spoke_job = spoke["job_id"].as_str().unwrap();

    let res = app.get(&format!("/v1/jobs/{hub_job}"), &app.read).await;
    assert_eq!(res.status(), 200);
    let job: Value = res.json().await.unwrap();
    assert_eq!(job["kind"], "provision_hub");
    assert_eq!(job["status"], "queued");
    assert!(job["events"].is_array(), "{job}");
    assert!(!job["steps"].as_array().unwrap().is_empty());

    let res = app
        .get(&format!("/v1/jobs/{}", Uuid::new_v4()), &app.read)
        .await;
    problem(res, 404).await;

    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all: Value = app.get("/v1/jobs", &app.spokes).await.json().await.unwrap();
    assert_eq!(ids(&all).len(), 2);
    let attach: Value = app
        .get("/v1/jobs?kind=attach_spoke", &app.read)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&attach), vec![spoke_job.to_owned()]);
    let by_spoke: Value = app
        .get(
            &format!("/v1/jobs?spoke_id={}", spoke["id"].as_str().unwrap()),
            &app.read,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&by_spoke), vec![spoke_job.to_owned()]);
    let by_hub: Value = app
        .get(
            &format!(
                "/v1/jobs?hub_id={}&status=queued",
                hub["id"].as_str().unwrap()
            ),
            &app.read,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&by_hub).len(), 2);
    let failed: Value = app
        .get("/v1/jobs?status=failed", &app.read)
        .await
        .json()
        .await
        .unwrap();
    assert!(ids(&failed).is_empty());

    // pages of one
    let mut seen = HashSet::new();
    let mut path = "/v1/jobs?limit=1".to_owned();
    loop {
        let page: Value = app.get(&path, &app.read).await.json().await.unwrap();
        for id in ids(&page) {
            assert!(seen.insert(id), "duplicate");
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/jobs?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 2);
}

#[tokio::test]
async fn retrying_a_job_that_has_not_failed_is_409() {
    let app = spawn_app().await;
    let hub = app.hub_create("h1", 1).await;
    let job = hub["job_id"].as_str().unwrap();
    let before = app.counts().await;
    let path = format!("/v1/jobs/{job}/retry");
    let res = app
        .req(Method::POST, &path, &app.admin)
        .send()
        .await
        .unwrap();
    let rid = request_id(&res);
    let p = problem(res, 409).await;
    assert!(p["detail"].as_str().unwrap().contains("queued"), "{p}");
    assert_eq!(app.counts().await, before);
    assert_eq!(
        app.audit_of(&rid).await,
        vec![(
            "admin".to_owned(),
            "POST /v1/jobs/{id}/retry".to_owned(),
            Some(path),
            "rejected: 409 Conflict".to_owned()
        )]
    );

    let res = app
        .req(
            Method::POST,
            &format!("/v1/jobs/{}/retry", Uuid::new_v4()),
            &app.admin,
        )
        .send()
        .await
        .unwrap();
    problem(res, 404).await;
}

#[tokio::test]
async fn retrying_a_failed_job_queues_it_again() {
    let app = spawn_app().await;
    app.hub_create("h1", 1).await;
    let spoke = app.spoke_enroll("h1", 1, &["10.50.0.0/16"]).await;
    let job: Uuid = spoke["job_id"].as_str().unwrap().parse().unwrap();
    let spoke_id: Uuid = spoke["id"].as_str().unwrap().parse().unwrap();
    sqlx::query(
        "UPDATE jobs SET status = 'failed', last_error = 'boom', finished_at = now() WHERE id = $1",
    )
    .bind(job)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("UPDATE spokes SET status = 'failed', last_error = 'boom' WHERE id = $1")
        .bind(spoke_id)
        .execute(&app.pool)
        .await
        .unwrap();

    let res = app
        .req(Method::POST, &format!("/v1/jobs/{job}/retry"), &app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let rid = request_id(&res);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["id"], job.to_string());
    assert_eq!(body["status"], "queued");
    assert!(
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "job_retried"),
        "{body}"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
        .bind(job)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "queued");
    let spoke_status: String = sqlx::query_scalar("SELECT status FROM spokes WHERE id = $1")
        .bind(spoke_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(spoke_status, "attaching");
    assert_eq!(
        app.audit_of(&rid).await,
        vec![(
            "admin".to_owned(),
            "job.retry".to_owned(),
            Some(format!("job:{job}")),
            "accepted".to_owned()
        )]
    );

    // the spokes:write token may not retry
    let res = app
        .req(Method::POST, &format!("/v1/jobs/{job}/retry"), &app.spokes)
        .send()
        .await
        .unwrap();
    problem(res, 403).await;
}

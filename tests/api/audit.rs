use std::collections::HashSet;

use serde_json::Value;

use crate::helpers::{hub_body, problem, request_id, spawn_app};

#[tokio::test]
async fn audit_lists_newest_first_with_filters_and_pages() {
    let app = spawn_app().await;
    let res = app.post("/v1/hubs", &app.admin, &hub_body("h1", 1)).await;
    let create_rid = request_id(&res);
    assert_eq!(res.status(), 202);
    let hub: Value = res.json().await.unwrap();
    app.spoke_enroll("h1", 1, &["10.50.0.0/16"]).await;
    let res = app.post("/v1/hubs", &app.spokes, &hub_body("h2", 2)).await;
    let refused_rid = request_id(&res);
    problem(res, 403).await;

    let page: Value = app.get("/v1/audit", &app.read).await.json().await.unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let ids: Vec<i64> = items.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert_eq!(items[0]["request_id"], refused_rid);
    assert_eq!(items[0]["principal"], "vending");
    assert_eq!(items[0]["outcome"], "rejected: 403 Forbidden");
    assert_eq!(items[2]["request_id"], create_rid);
    assert_eq!(items[2]["action"], "hub.create");

    let by_target: Value = app
        .get(
            &format!("/v1/audit?target=hub:{}", hub["id"].as_str().unwrap()),
            &app.read,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_target["items"].as_array().unwrap().len(), 1);
    let by_principal: Value = app
        .get("/v1/audit?principal=vending&action=spoke.enroll", &app.read)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_principal["items"].as_array().unwrap().len(), 1);
    let future: Value = app
        .get("/v1/audit?since=2999-01-01T00:00:00Z", &app.read)
        .await
        .json()
        .await
        .unwrap();
    assert!(future["items"].as_array().unwrap().is_empty());
    let past: Value = app
        .get("/v1/audit?until=2000-01-01T00:00:00Z", &app.read)
        .await
        .json()
        .await
        .unwrap();
    assert!(past["items"].as_array().unwrap().is_empty());
    let window: Value = app
        .get(
            "/v1/audit?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z",
            &app.read,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(window["items"].as_array().unwrap().len(), 3);

    // pages of two, by numeric cursor
    let first: Value = app
        .get("/v1/audit?limit=2", &app.read)
        .await
        .json()
        .await
        .unwrap();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(cursor, ids[1].to_string());
    let second: Value = app
        .get(&format!("/v1/audit?limit=2&cursor={cursor}"), &app.read)
        .await
        .json()
        .await
        .unwrap();
    assert!(second["next_cursor"].is_null());
    let all: HashSet<i64> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(all, ids.into_iter().collect());
}

#[tokio::test]
async fn the_audit_log_is_append_only() {
    let app = spawn_app().await;
    app.hub_create("h1", 1).await;
    let update = sqlx::query("UPDATE audit_log SET outcome = 'forged'")
        .execute(&app.pool)
        .await;
    assert!(update.is_err(), "UPDATE on audit_log succeeded");
    let delete = sqlx::query("DELETE FROM audit_log")
        .execute(&app.pool)
        .await;
    assert!(delete.is_err(), "DELETE on audit_log succeeded");
    let outcomes: Vec<String> = sqlx::query_scalar("SELECT outcome FROM audit_log")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(outcomes, vec!["accepted"]);
}

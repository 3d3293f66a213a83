use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{hub_body, problem, request_id, spawn_app};

#[tokio::test]
async fn hub_create_is_accepted_with_a_queued_job_and_an_audit_row() {
    let app = spawn_app().await;
    let res = app
        .post("/v1/hubs", &app.admin, &hub_body("prod-eu", 1))
        .await;
    assert_eq!(res.status(), 202);
    let rid = request_id(&res);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    let job_id = body["job_id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/jobs/{job_id}"));
    assert_eq!(body["job_url"], location);
    assert_eq!(body["name"], "prod-eu");
    assert_eq!(body["status"], "provisioning");
    assert_eq!(body["cidrs"], json!(["10.1.0.0/16"]));
    assert_eq!(
        body["role_arn"],
        "arn:aws:iam::111111111111:role/endpoint-hub"
    );
    let hub_id: Uuid = body["id"].as_str().unwrap().parse().unwrap();

    let (kind, status, job_hub): (String, String, Uuid) =
        sqlx::query_as("SELECT kind, status, hub_id FROM jobs WHERE id = $1")
            .bind(job_id.parse::<Uuid>().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (kind.as_str(), status.as_str()),
        ("provision_hub", "queued")
    );
    assert_eq!(job_hub, hub_id);

    let audit = app.audit_of(&rid).await;
    assert_eq!(
        audit,
        vec![(
            "admin".to_owned(),
            "hub.create".to_owned(),
            Some(format!("hub:{hub_id}")),
            "accepted".to_owned()
        )]
    );
}

#[tokio::test]
async fn hub_get_returns_the_hub_and_404_for_an_unknown_id() {
    let app = spawn_app().await;
    let hub = app.hub_create("h1", 1).await;
    let id = hub["id"].as_str().unwrap();
    let res = app.get(&format!("/v1/hubs/{id}"), &app.read).await;
    assert_eq!(res.status(), 200);
    let got: Value = res.json().await.unwrap();
    assert_eq!(got["id"], hub["id"]);
    assert_eq!(got["services"].as_array().unwrap().len(), 2);

    let missing = Uuid::new_v4();
    let res = app.get(&format!("/v1/hubs/{missing}"), &app.read).await;
    let p = problem(res, 404).await;
    assert_eq!(p["instance"], format!("/v1/hubs/{missing}"));
}

#[tokio::test]
async fn hub_names_and_vpcs_are_unique() {
    let app = spawn_app().await;
    app.hub_create("h1", 1).await;
    let res = app.post("/v1/hubs", &app.admin, &hub_body("h1", 2)).await;
    let p = problem(res, 409).await;
    assert!(p["detail"].as_str().unwrap().contains("h1"), "{p}");
    let res = app.post("/v1/hubs", &app.admin, &hub_body("h2", 1)).await;
    let p = problem(res, 409).await;
    assert!(
        p["detail"].as_str().unwrap().contains("vpc-00000001"),
        "{p}"
    );
    assert_eq!(app.count("hubs").await, 1);
}

#[tokio::test]
async fn hub_update_is_accepted_and_queues_a_job() {
    let app = spawn_app().await;
    let hub = app.hub_create("h1", 1).await;
    let id = hub["id"].as_str().unwrap();
    let res = app
        .req(Method::PATCH, &format!("/v1/hubs/{id}"), &app.admin)
        .json(&json!({"services": ["sqs", "ecr.api"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "updating");
    assert_eq!(
        location,
        format!("/v1/jobs/{}", body["job_id"].as_str().unwrap())
    );
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM jobs WHERE status = 'queued' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(kinds, vec!["provision_hub", "update_hub_services"]);

    // an empty service list is refused with the field named
    let res = app
        .req(Method::PATCH, &format!("/v1/hubs/{id}"), &app.admin)
        .json(&json!({"services": []}))
        .send()
        .await
        .unwrap();
    let p = problem(res, 422).await;
    assert_eq!(crate::helpers::fields(&p), vec!["services"]);
}

#[tokio::test]
async fn hub_delete_is_accepted_without_spokes_and_refused_with_them() {
    let app = spawn_app().await;
    let h1 = app.hub_create("h1", 1).await;
    let h2 = app.hub_create("h2", 2).await;
    app.spoke_enroll("h2", 1, &["10.50.0.0/16"]).await;

    let res = app
        .delete(
            &format!("/v1/hubs/{}", h1["id"].as_str().unwrap()),
            &app.admin,
        )
        .await;
    assert_eq!(res.status(), 202);
    assert!(res.headers().contains_key("location"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "deleting");

    let before = app.counts().await;
    let path = format!("/v1/hubs/{}", h2["id"].as_str().unwrap());
    let res = app.delete(&path, &app.admin).await;
    let rid = request_id(&res);
    let p = problem(res, 409).await;
    assert!(p["detail"].as_str().unwrap().contains("spoke"), "{p}");
    assert_eq!(app.counts().await, before);
    assert_eq!(
        app.audit_of(&rid).await,
        vec![(
            "admin".to_owned(),
            "DELETE /v1/hubs/{id}".to_owned(),
            Some(path),
            "rejected: 409 Conflict".to_owned()
        )]
    );
}

#[tokio::test]
async fn hub_list_pages_through_every_hub_once() {
    let app = spawn_app().await;
    let mut created = HashSet::new();
    for n in 1..=7 {
        let hub = app.hub_create(&format!("hub-{n}"), n).await;
        created.insert(hub["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => "/v1/hubs?limit=3".to_owned(),
            Some(c) => format!("/v1/hubs?limit=3&cursor={c}"),
        };
        let res = app.get(&path, &app.read).await;
        assert_eq!(res.status(), 200);
        let page: Value = res.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|h| h["id"].as_str().unwrap().to_owned()));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7, "duplicates or gaps: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), created);

    // default limit holds them all in one page
    let page: Value = app.get("/v1/hubs", &app.read).await.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 7);
    assert!(page["next_cursor"].is_null());
}

#[tokio::test]
async fn dns_mode_is_chosen_at_registration_and_fixed_after() {
    let app = spawn_app().await;
    // An unknown mode: 422 naming the field, nothing stored.
    let mut body = hub_body("h1", 1);
    body["dns_mode"] = json!("both");
    let res = app.post("/v1/hubs", &app.admin, &body).await;
    let p = problem(res, 422).await;
    assert_eq!(crate::helpers::fields(&p), vec!["dns_mode"], "{p}");
    assert_eq!(app.count("hubs").await, 0);

    let hub = app.hub_create("h0", 2).await;
    assert_eq!(hub["dns_mode"], "zones", "zones unless asked");
    let mut body = hub_body("h1", 1);
    body["dns_mode"] = json!("profile");
    let res = app.post("/v1/hubs", &app.admin, &body).await;
    assert_eq!(res.status(), 202);
    let hub: Value = res.json().await.unwrap();
    assert_eq!(hub["dns_mode"], "profile");
    assert_eq!(
        hub["profile_id"],
        Value::Null,
        "made by the provisioning job"
    );
    let id = hub["id"].as_str().unwrap();

    let got: Value = app
        .get(&format!("/v1/hubs/{id}"), &app.read)
        .await
        .json()
        .await
        .unwrap();
    let dims: Vec<&str> = got["capacity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["dimension"].as_str().unwrap())
        .collect();
    assert_eq!(
        dims,
        vec![
            "peerings_per_vpc",
            "vpcs_per_profile",
            "zones_per_profile",
            "prefix_list_entries"
        ]
    );

    // Another mode on a live hub: 409, nothing changed, no job.
    let jobs = app.count("jobs").await;
    let res = app
        .req(Method::PATCH, &format!("/v1/hubs/{id}"), &app.admin)
        .json(&json!({"services": ["sqs"], "dns_mode": "zones"}))
        .send()
        .await
        .unwrap();
    let p = problem(res, 409).await;
    assert!(p["detail"].as_str().unwrap().contains("DNS mode"), "{p}");
    assert_eq!(app.count("jobs").await, jobs);
    // The same mode is accepted.
    let res = app
        .req(Method::PATCH, &format!("/v1/hubs/{id}"), &app.admin)
        .json(&json!({"services": ["sqs"], "dns_mode": "profile"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
}

#[tokio::test]
async fn network_mode_is_chosen_at_registration_and_fixed_after() {
    let app = spawn_app().await;
    // An unknown mode, a malformed gateway id, and a gateway without the mode: 422 naming the
    // field, nothing stored.
    for (field, value, extra) in [
        ("network_mode", json!("vpn"), None),
        (
            "transit_gateway_id",
            json!("tgw-xyz"),
            Some("transit_gateway"),
        ),
        ("transit_gateway_id", json!("tgw-0123456789abcdef0"), None),
    ] {
        let mut body = hub_body("h1", 1);
        body[field] = value;
        if let Some(mode) = extra {
            body["network_mode"] = json!(mode);
        }
        let res = app.post("/v1/hubs", &app.admin, &body).await;
        let p = problem(res, 422).await;
        assert_eq!(crate::helpers::fields(&p), vec![field], "{p}");
    }
    assert_eq!(app.count("hubs").await, 0);

    let hub = app.hub_create("h0", 2).await;
    assert_eq!(hub["network_mode"], "peering", "peering unless asked");
    assert_eq!(hub["transit_gateway"], Value::Null);
    let mut body = hub_body("h1", 1);
    body["network_mode"] = json!("transit_gateway");
    body["transit_gateway_id"] = json!("tgw-0123456789abcdef0");
    let res = app.post("/v1/hubs", &app.admin, &body).await;
    assert_eq!(res.status(), 202);
    let hub: Value = res.json().await.unwrap();
    assert_eq!(hub["network_mode"], "transit_gateway");
    assert_eq!(
        hub["transit_gateway"]["transit_gateway_id"],
        "tgw-0123456789abcdef0"
    );
    assert_eq!(hub["transit_gateway"]["given"], true);
    let id = hub["id"].as_str().unwrap();
    let got: Value = app
        .get(&format!("/v1/hubs/{id}"), &app.read)
        .await
        .json()
        .await
        .unwrap();
    let dims: Vec<&str> = got["capacity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["dimension"].as_str().unwrap())
        .collect();
    assert_eq!(
        dims,
        vec![
            "tgw_attachments",
            "tgw_routes",
            "vpcs_per_zone",
            "prefix_list_entries"
        ]
    );

    // Another mode on a live hub: 409, nothing changed, no job.
    let jobs = app.count("jobs").await;
    let res = app
        .req(Method::PATCH, &format!("/v1/hubs/{id}"), &app.admin)
        .json(&json!({"services": ["sqs"], "network_mode": "peering"}))
        .send()
        .await
        .unwrap();
    let p = problem(res, 409).await;
    assert!(
        p["detail"].as_str().unwrap().contains("network mode"),
        "{p}"
    );
    assert_eq!(app.count("jobs").await, jobs);
}

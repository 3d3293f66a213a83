use std::collections::HashSet;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    account, fields, problem, request_id, spawn_app, spawn_app_with_idempotency_ttl, spoke_body,
};

#[tokio::test]
async fn spoke_enroll_is_accepted_with_its_job_in_the_same_transaction() {
    let app = spawn_app().await;
    let hub = app.hub_create("h1", 1).await;
    let res = app
        .post(
            "/v1/spokes",
            &app.spokes,
            &spoke_body("h1", 1, &["10.50.0.0/16"]),
        )
        .await;
    assert_eq!(res.status(), 202);
    assert!(res.headers().get("idempotent-replayed").is_none());
    let rid = request_id(&res);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    let spoke_id: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    let job_id: Uuid = body["job_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(location, format!("/v1/jobs/{job_id}"));
    assert_eq!(body["hub_id"], hub["id"]);
    assert_eq!(body["status"], "pending");
    assert_eq!(body["cidrs"], json!(["10.50.0.0/16"]));
    assert_eq!(
        body["role_arn"],
        format!("arn:aws:iam::{}:role/endpoint-hub", account(1))
    );

    // the job exists, queued, for this spoke, and was created in the same transaction
    let (kind, status, job_spoke, job_xmin, spoke_xmin): (
        String,
        String,
        Option<Uuid>,
        String,
        String,
    ) = sqlx::query_as(
        "SELECT j.kind, j.status, j.spoke_id, j.xmin::text, s.xmin::text \
             FROM jobs j JOIN spokes s ON s.id = j.spoke_id WHERE j.id = $1",
    )
    .bind(job_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((kind.as_str(), status.as_str()), ("attach_spoke", "queued"));
    assert_eq!(job_spoke, Some(spoke_id));
    let audit_xmin: String = sqlx::query_scalar(
        "SELECT xmin::text FROM audit_log WHERE request_id = $1 AND action = 'spoke.enroll'",
    )
    .bind(&rid)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(job_xmin, audit_xmin, "job and audit row in one transaction");
    // the spoke row was updated (current_job_id) in that transaction too
    assert_eq!(spoke_xmin, job_xmin);

    assert_eq!(
        app.audit_of(&rid).await,
        vec![(
            "vending".to_owned(),
            "spoke.enroll".to_owned(),
            Some(format!("spoke:{spoke_id}")),
            "accepted".to_owned()
        )]
    );
}

#[tokio::test]
async fn spoke_get_and_detach() {
    let app = spawn_app().await;
    app.hub_create("h1", 1).await;
    let spoke = app.spoke_enroll("h1", 1, &["10.50.0.0/16"]).await;
    let id = spoke["id"].as_str().unwrap();

    let res = app.get(&format!("/v1/spokes/{id}"), &app.spokes).await;
    assert_eq!(res.status(), 200);
    let got: Value = res.json().await.unwrap();
    assert_eq!(got["id"], spoke["id"]);
    assert_eq!(got["job"]["kind"], "attach_spoke");
    assert_eq!(got["labels"]["env"], "prod");

    let res = app
        .get(&format!("/v1/spokes/{}", Uuid::new_v4()), &app.read)
        .await;
    problem(res, 404).await;

    let res = app.delete(&format!("/v1/spokes/{id}"), &app.spokes).await;
    assert_eq!(res.status(), 202);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "detaching");
    assert_eq!(
        location,
        format!("/v1/jobs/{}", body["job_id"].as_str().unwrap())
    );
    let queued: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE kind = 'detach_spoke' AND status = 'queued' AND spoke_id = $1",
    )
    .bind(id.parse::<Uuid>().unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(queued, 1);

    let res = app
        .delete(&format!("/v1/spokes/{}", Uuid::new_v4()), &app.spokes)
        .await;
    problem(res, 404).await;
}

#[tokio::test]
async fn overlapping_cidrs_with_a_spoke_are_refused_naming_it() {
    let app = spawn_app().await;
    app.hub_create("h1", 1).await;
    let first = app.spoke_enroll("h1", 1, &["10.50.0.0/16"]).await;
    let first_id = first["id"].as_str().unwrap();
    let before = app.counts().await;

    let res = app
        .post(
            "/v1/spokes",
            &app.spokes,
            &spoke_body("h1", 2, &["10.50.128.0/17"]),
        )
        .await;
    let rid = request_id(&res);
    let p = problem(res, 409).await;
    assert_eq!(p["existing"], format!("/v1/spokes/{first_id}"));
    assert!(p["detail"].as_str().unwrap().contains(first_id), "{p}");
    assert_eq!(app.counts().await, before);
    assert_eq!(
        app.audit_of(&rid).await,
        vec![(
            "vending".to_owned(),
            "POST /v1/spokes".to_owned(),
            Some("/v1/spokes".to_owned()),
            "rejected: 409 Conflict".to_owned()
        )]
    );
}

#[tokio::test]
async fn overlapping_the_hub_cidrs_is_refused() {
    let app = spawn_app().await;
    let hub = app.hub_create("h1", 1).await;
    let before = app.counts().await;
    let res = app
        .post(
            "/v1/spokes",
            &app.spokes,
            &spoke_body("h1", 2, &["10.1.16.0/20"]),
        )
        .await;
    let p = problem(res, 409).await;
    assert_eq!(
        p["existing"],
        format!("/v1/hubs/{}", hub["id"].as_str().unwrap())
    );
    assert!(p["detail"].as_str().unwrap().contains("hub"), "{p}");
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn concurrent_overlapping_enrolments_admit_exactly_one() {
    let app = spawn_app().await;
    app.hub_create("h1", 1).await;
    for round in 0..10u32 {
        let cidr_a = format!("10.{}.0.0/16", 100 + round);
        let cidr_b = format!("10.{}.0.0/17", 100 + round);
        let a = spoke_body("h1", 2 * round + 10, &[cidr_a.as_str()]);
        let b = spoke_body("h1", 2 * round + 11, &[cidr_b.as_str()]);
        let (ra, rb) = tokio::join!(
            app.post("/v1/spokes", &app.spokes, &a),
            app.post("/v1/spokes", &app.spokes, &b)
        );
        let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [202, 409], "round {round}");
        let loser = if ra.status() == 409 { ra } else { rb };
        let p = problem(loser, 409).await;
        assert!(
            p["existing"].as_str().unwrap().starts_with("/v1/spokes/"),
            "round {round}: {p}"
        );
    }
    assert_eq!(app.count("spokes").await, 10);
}

#[tokio::test]
async fn the_same_vpc_twice_is_refused_naming_the_spoke() {
    let app = spawn_app().await;
    app.hub_create("h1", 1).await;
    let first = app.spoke_enroll("h1", 1, &["10.50.0.0/16"]).await;
    let before = app.counts().await;
    let res = app
        .post(
            "/v1/spokes",
            &app.spokes,
            &spoke_body("h1", 1, &["10.60.0.0/16"]),
        )
        .await;
    let p = problem(res, 409).await;
    let first_id = first["id"].as_str().unwrap();
    assert_eq!(p["existing"], format!("/v1/spokes/{first_id}"));
    assert!(p["detail"].as_str().unwrap().contains(first_id), "{p}");
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn idempotent_replay_answers_the_first_response() {
    let app = spawn_app().await;
    app.hub_create("h1", 1).await;
    let body = spoke_body("h1", 1, &["10.50.0.0/16"]);
    let send = || {
        app.req(reqwest::Method::POST, "/v1/spokes", &app.spokes)
            .header("Idempotency-Key", "vend-0001")
            .json(&body)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 202);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_location = first.headers()["location"].clone();
    let first_body: Value = first.json().await.unwrap();

    let second = send().await.unwrap();
    assert_eq!(second.status(), 202);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.headers()["location"], first_location);
    let second_body: Value = second.json().await.unwrap();
    assert_eq!(second_body, first_body);
    assert_eq!(app.count("spokes").await, 1);
    assert_eq!(app.count("jobs WHERE kind = 'attach_spoke'").await, 1);

    // the same key with another body is refused
    let before = app.counts().await;
    let res = app
        .req(reqwest::Method::POST, "/v1/spokes", &app.spokes)
        .header("Idempotency-Key", "vend-0001")
        .json(&spoke_body("h1", 2, &["10.51.0.0/16"]))
        .send()
        .await
        .unwrap();
    let p = problem(res, 422).await;
    assert_eq!(fields(&p), vec!["Idempotency-Key"]);
    assert_eq!(app.counts().await, before);

    // keys belong to their principal: the admin token's vend-0001 is a new request
    let res = app
        .req(reqwest::Method::POST, "/v1/spokes", &app.admin)
        .header("Idempotency-Key", "vend-0001")
        .json(&spoke_body("h1", 3, &["10.52.0.0/16"]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
}

#[tokio::test]
async fn idempotency_keys_expire_after_their_ttl() {
    let app = spawn_app_with_idempotency_ttl(std::time::Duration::from_secs(600)).await;
    app.hub_create("h1", 1).await;
    let send = |key: &'static str, body: Value| {
        app.req(reqwest::Method::POST, "/v1/spokes", &app.spokes)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let pool = &app.pool;
    let expire = |key: &'static str| async move {
        sqlx::query(
            "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1",
        )
        .bind(key)
        .execute(pool)
        .await
        .unwrap();
    };
    let first_body = spoke_body("h1", 1, &["10.50.0.0/16"]);
    let first = send("vend-ttl", first_body.clone()).await.unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    // the configured lifetime
    let ttl: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM expires_at - created_at)::float8 FROM idempotency_keys \
         WHERE key = 'vend-ttl'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(ttl, 600.0);

    // a live key is replayed
    let again = send("vend-ttl", first_body.clone()).await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);

    // once expired, the key is free: another body with it is a new request, processed afresh
    // (with a live key it would be refused with 422)
    expire("vend-ttl").await;
    let second_body = spoke_body("h1", 2, &["10.51.0.0/16"]);
    let second = send("vend-ttl", second_body.clone()).await.unwrap();
    assert_eq!(second.status(), 202);
    assert!(second.headers().get("idempotent-replayed").is_none());
    let second: Value = second.json().await.unwrap();
    assert_ne!(second["id"], first["id"]);
    assert_eq!(app.count("spokes").await, 2);
    assert_eq!(
        app.count("idempotency_keys").await,
        1,
        "the expired row was replaced"
    );
    // ... and the replaced key replays its new answer
    let again = send("vend-ttl", second_body).await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), second);
    // the old body is now the other body
    let res = send("vend-ttl", first_body).await.unwrap();
    problem(res, 422).await;

    // expired rows of other keys are purged when a key is taken
    expire("vend-ttl").await;
    let res = send("vend-other", spoke_body("h1", 3, &["10.52.0.0/16"]))
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(
        app.count("idempotency_keys WHERE key = 'vend-ttl'").await,
        0
    );
    assert_eq!(app.count("idempotency_keys").await, 1);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_make_one_spoke() {
    let app = spawn_app().await;
    app.hub_create("h1", 1).await;
    let body = spoke_body("h1", 1, &["10.50.0.0/16"]);
    let send = || {
        app.req(reqwest::Method::POST, "/v1/spokes", &app.spokes)
            .header("Idempotency-Key", "same-key")
            .json(&body)
            .send()
    };
    let (a, b, c) = tokio::join!(send(), send(), send());
    let mut ids = HashSet::new();
    let mut replayed = 0;
    for res in [a.unwrap(), b.unwrap(), c.unwrap()] {
        assert_eq!(res.status(), 202);
        if res.headers().get("idempotent-replayed").is_some() {
            replayed += 1;
        }
        let v: Value = res.json().await.unwrap();
        ids.insert(v["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(replayed, 2);
    assert_eq!(app.count("spokes").await, 1);
}

#[tokio::test]
async fn bad_idempotency_keys_are_400_naming_the_header() {
    let app = spawn_app().await;
    app.hub_create("h1", 1).await;
    let before = app.counts().await;
    for key in ["x".repeat(256), "tab\there".to_owned()] {
        let res = app
            .req(reqwest::Method::POST, "/v1/spokes", &app.spokes)
            .header("Idempotency-Key", key.as_str())
            .json(&spoke_body("h1", 1, &["10.50.0.0/16"]))
            .send()
            .await
            .unwrap();
        let p = problem(res, 400).await;
        assert_eq!(fields(&p), vec!["Idempotency-Key"]);
    }
    let res = app
        .req(reqwest::Method::POST, "/v1/spokes", &app.spokes)
        .header(
            "Idempotency-Key",
            reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        )
        .json(&spoke_body("h1", 1, &["10.50.0.0/16"]))
        .send()
        .await
        .unwrap();
    let p = problem(res, 400).await;
    assert_eq!(fields(&p), vec!["Idempotency-Key"]);
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn spoke_list_filters_and_pages() {
    let app = spawn_app().await;
    let h1 = app.hub_create("h1", 1).await;
    app.hub_create("h2", 2).await;
    let mut in_h1 = HashSet::new();
    for n in 1..=5u32 {
        let s = app
            .spoke_enroll("h1", n, &[format!("10.{}.0.0/16", 50 + n).as_str()])
            .await;
        in_h1.insert(s["id"].as_str().unwrap().to_owned());
    }
    let other = app.spoke_enroll("h2", 6, &["10.60.0.0/16"]).await;

    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = |q: String| {
        let app = &app;
        async move {
            let res = app.get(&format!("/v1/spokes{q}"), &app.read).await;
            assert_eq!(res.status(), 200, "{q}");
            res.json::<Value>().await.unwrap()
        }
    };

    // by hub name and by hub id
    let by_name = list("?hub=h1".into()).await;
    assert_eq!(ids(&by_name).into_iter().collect::<HashSet<_>>(), in_h1);
    let by_id = list(format!("?hub={}", h1["id"].as_str().unwrap())).await;
    assert_eq!(ids(&by_id), ids(&by_name));
    assert!(ids(&list("?hub=nope".into()).await).is_empty());

    // by account
    let by_account = list(format!("?account_id={}", account(6))).await;
    assert_eq!(
        ids(&by_account),
        vec![other["id"].as_str().unwrap().to_owned()]
    );

    // by status
    assert_eq!(ids(&list("?status=pending".into()).await).len(), 6);
    assert!(ids(&list("?status=attached".into()).await).is_empty());

    // by labels: team-1 are the odd n (1, 3, 5), repeatable, all must match
    let team1 = list("?label=team=team-1".into()).await;
    assert_eq!(ids(&team1).len(), 3);
    for s in team1["items"].as_array().unwrap() {
        assert_eq!(s["labels"]["team"], "team-1");
    }
    assert_eq!(
        ids(&list("?label=team=team-0&label=env=prod".into()).await).len(),
        3
    );
    assert!(ids(&list("?label=team=team-0&label=env=dev".into()).await).is_empty());
    assert_eq!(
        ids(&list("?label=team=team-1&hub=h1".into()).await).len(),
        3
    );

    // pages of 2: no duplicates, no gaps
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = list(format!("?limit=2{cursor}")).await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
        assert!(seen.len() <= 6);
    }
    assert_eq!(seen.len(), 6);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 6);
}

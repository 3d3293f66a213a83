use reqwest::Method;
use serde_json::json;

use crate::helpers::{hub_body, problem, request_id, spawn_app, spoke_body};

#[tokio::test]
async fn missing_bad_and_revoked_tokens_are_401_with_www_authenticate() {
    let app = spawn_app().await;
    // no token
    let res = app.client.get(app.url("/v1/hubs")).send().await.unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    problem(res, 401).await;
    // not a bearer token
    let res = app
        .client
        .get(app.url("/v1/hubs"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    problem(res, 401).await;
    // unknown token
    let res = app.get("/v1/hubs", "eh_not-a-real-token").await;
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    problem(res, 401).await;
    // revoked token: the revocation reaches the service's token cache through a notification,
    // within moments
    assert_eq!(app.get("/v1/hubs", &app.read).await.status(), 200);
    assert!(
        endpoint_hub::store::tokens::token_revoke(&app.pool, "reader")
            .await
            .unwrap()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let res = loop {
        let res = app.get("/v1/hubs", &app.read).await;
        if res.status() == 401 || std::time::Instant::now() > deadline {
            break res;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    problem(res, 401).await;
}

/// Tokens are cached (a request reads no token row) and a revocation made anywhere, through
/// `token_revoke` (which the CLI uses), empties the cache.
#[tokio::test]
async fn the_token_cache_answers_without_the_database_and_revocation_empties_it() {
    use endpoint_hub::store::tokens;
    let app = spawn_app().await;
    let service = crate::support::app(
        &app.pool,
        Default::default(),
        crate::helpers::api_cloud(&app.pool),
    );
    // The first lookup starts the LISTEN connection; tokens are cached once it is up.
    assert!(
        service
            .principal_from_token(&app.read)
            .await
            .unwrap()
            .is_some()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !service.live.is_listening() {
        assert!(std::time::Instant::now() < deadline, "LISTEN never came up");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let principal = service.principal_from_token(&app.read).await.unwrap();
    assert_eq!(principal.unwrap().name, "reader");
    // Revoked behind the service's back (no notification): the cache still answers, which
    // shows it answers without reading the token.
    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE name = 'reader'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(
        service
            .principal_from_token(&app.read)
            .await
            .unwrap()
            .is_some()
    );
    // Revoked the proper way (already revoked, so `false`, but it notifies): forgotten.
    assert!(!tokens::token_revoke(&app.pool, "reader").await.unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while service
        .principal_from_token(&app.read)
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the revocation did not empty the cache"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // An unknown token is never cached as valid.
    assert!(
        service
            .principal_from_token("eh_unknown")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn unauthenticated_mutations_change_nothing_and_are_audited_as_anonymous() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/v1/hubs"))
        .json(&hub_body("h1", 1))
        .send()
        .await
        .unwrap();
    let rid = request_id(&res);
    problem(res, 401).await;
    assert_eq!(app.count("hubs").await, 0);
    assert_eq!(
        app.audit_of(&rid).await,
        vec![(
            "anonymous".to_owned(),
            "POST /v1/hubs".to_owned(),
            Some("/v1/hubs".to_owned()),
            "rejected: 401 Unauthorized".to_owned()
        )]
    );
}

#[tokio::test]
async fn missing_scopes_are_403_naming_the_scope() {
    let app = spawn_app().await;
    app.hub_create("h1", 1).await;
    let before = app.counts().await;

    // read token enrolling a spoke
    let res = app
        .post(
            "/v1/spokes",
            &app.read,
            &spoke_body("h1", 1, &["10.50.0.0/16"]),
        )
        .await;
    let rid = request_id(&res);
    let p = problem(res, 403).await;
    assert!(
        p["detail"].as_str().unwrap().contains("'spokes:write'"),
        "{p}"
    );
    assert_eq!(
        app.audit_of(&rid).await,
        vec![(
            "reader".to_owned(),
            "POST /v1/spokes".to_owned(),
            Some("/v1/spokes".to_owned()),
            "rejected: 403 Forbidden".to_owned()
        )]
    );

    // spokes:write token creating a hub, changing one, retrying a job, reading the audit log
    let res = app.post("/v1/hubs", &app.spokes, &hub_body("h2", 2)).await;
    let p = problem(res, 403).await;
    assert!(p["detail"].as_str().unwrap().contains("'admin'"), "{p}");
    let res = app
        .req(
            Method::PATCH,
            &format!("/v1/hubs/{}", uuid::Uuid::new_v4()),
            &app.spokes,
        )
        .json(&json!({"services": ["sqs"]}))
        .send()
        .await
        .unwrap();
    problem(res, 403).await;
    let res = app.get("/v1/audit", &app.spokes).await;
    let p = problem(res, 403).await;
    assert!(p["detail"].as_str().unwrap().contains("'read'"), "{p}");
    let res = app.get("/v1/hubs", &app.spokes).await;
    problem(res, 403).await;

    // read token deleting a spoke
    let res = app
        .delete(&format!("/v1/spokes/{}", uuid::Uuid::new_v4()), &app.read)
        .await;
    problem(res, 403).await;

    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn scopes_grant_what_they_say() {
    let app = spawn_app().await;
    let hub = app.hub_create("h1", 1).await;
    let job = hub["job_id"].as_str().unwrap();
    // read: every GET under /v1
    for path in [
        "/v1/hubs".to_owned(),
        format!("/v1/hubs/{}", hub["id"].as_str().unwrap()),
        "/v1/spokes".to_owned(),
        "/v1/jobs".to_owned(),
        format!("/v1/jobs/{job}"),
        "/v1/audit".to_owned(),
    ] {
        assert_eq!(app.get(&path, &app.read).await.status(), 200, "{path}");
    }
    // spokes:write: spokes and jobs
    for path in [
        "/v1/spokes".to_owned(),
        "/v1/jobs".to_owned(),
        format!("/v1/jobs/{job}"),
    ] {
        assert_eq!(app.get(&path, &app.spokes).await.status(), 200, "{path}");
    }
    // admin: everything, including enrolling
    let res = app
        .post(
            "/v1/spokes",
            &app.admin,
            &spoke_body("h1", 1, &["10.50.0.0/16"]),
        )
        .await;
    assert_eq!(res.status(), 202);
}

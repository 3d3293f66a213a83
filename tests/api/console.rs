//! What the operator console needs from the service: its assets (`/ui/`: content types, strong
//! ETags answered 304, `no-cache`, the Content-Security-Policy, the `/ui` redirect, 404 for
//! anything else), `GET /v1/whoami`, and `GET /v1/hubs/{id}/topology` with the hubs' spoke
//! counts.

use std::collections::BTreeSet;

use reqwest::header;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, problem, spawn_app};

/// GET without following redirects.
async fn raw_get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = client.get(app.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

fn header_of(res: &reqwest::Response, name: header::HeaderName) -> String {
    res.headers()
        .get(&name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn ui_redirects_to_the_page_served_with_csp_and_no_cache() {
    let app = spawn_app().await;
    let res = raw_get(&app, "/ui", &[]).await;
    assert_eq!(res.status(), 308);
    assert_eq!(header_of(&res, header::LOCATION), "/ui/");

    let res = raw_get(&app, "/ui/", &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        header_of(&res, header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert_eq!(header_of(&res, header::CACHE_CONTROL), "no-cache");
    let csp = header_of(&res, header::CONTENT_SECURITY_POLICY);
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(header_of(&res, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    let page = res.text().await.unwrap();
    assert!(page.contains(r#"<script type="module" src="app.js"></script>"#));
}

#[tokio::test]
async fn assets_have_their_content_types_and_strong_etags_answered_304() {
    let app = spawn_app().await;
    for (path, content_type) in [
        ("/ui/", "text/html; charset=utf-8"),
        ("/ui/index.html", "text/html; charset=utf-8"),
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/topology.js", "text/javascript; charset=utf-8"),
        ("/ui/style.css", "text/css; charset=utf-8"),
        ("/ui/icon.svg", "image/svg+xml"),
    ] {
        let res = raw_get(&app, path, &[]).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(
            header_of(&res, header::CONTENT_TYPE),
            content_type,
            "{path}"
        );
        assert_eq!(header_of(&res, header::CACHE_CONTROL), "no-cache", "{path}");
        let etag = header_of(&res, header::ETAG);
        let body = res.bytes().await.unwrap();
        // Strong (no W/), and the SHA-256 of the bytes served.
        use sha2::Digest;
        assert_eq!(
            etag,
            format!("\"{}\"", hex::encode(sha2::Sha256::digest(&body))),
            "{path}"
        );

        let res = raw_get(&app, path, &[("if-none-match", &etag)]).await;
        assert_eq!(res.status(), 304, "{path}");
        assert_eq!(header_of(&res, header::ETAG), etag);
        assert_eq!(header_of(&res, header::CACHE_CONTROL), "no-cache");
        assert!(res.bytes().await.unwrap().is_empty());

        let listed = format!("\"0000\", W/{etag}");
        let res = raw_get(&app, path, &[("if-none-match", &listed)]).await;
        assert_eq!(
            res.status(),
            304,
            "{path}: a list with the tag, weakly compared"
        );

        let res = raw_get(&app, path, &[("if-none-match", "\"stale\"")]).await;
        assert_eq!(res.status(), 200, "{path}: another tag gets the asset");
    }
}

#[tokio::test]
async fn every_module_the_page_imports_is_served() {
    let app = spawn_app().await;
    let mut seen = BTreeSet::new();
    let mut todo = vec!["app.js".to_owned()];
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let res = raw_get(&app, &format!("/ui/{name}"), &[]).await;
        assert_eq!(res.status(), 200, "{name} is imported but not served");
        let text = res.text().await.unwrap();
        for line in text.lines() {
            if let Some(rest) = line.split(" from './").nth(1) {
                todo.push(rest.split('\'').next().unwrap().to_owned());
            }
        }
    }
    assert!(seen.len() >= 8, "{seen:?}");
}

#[tokio::test]
async fn unknown_assets_are_404_problems() {
    let app = spawn_app().await;
    for path in [
        "/ui/nope.js",
        "/ui/%2e%2e/Cargo.toml",
        "/ui/../Cargo.toml",
        "/ui/app.js/",
    ] {
        let res = raw_get(&app, path, &[]).await;
        problem(res, 404).await;
    }
}

#[tokio::test]
async fn whoami_names_the_token_and_its_scopes() {
    let app = spawn_app().await;
    for (token, name, scopes) in [
        (&app.admin, "admin", json!(["admin"])),
        (&app.read, "reader", json!(["read"])),
        (&app.spokes, "vending", json!(["spokes:write"])),
    ] {
        let res = app.get("/v1/whoami", token).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body, json!({"name": name, "scopes": scopes}));
    }
    let res = app.client.get(app.url("/v1/whoami")).send().await.unwrap();
    problem(res, 401).await;
    problem(app.get("/v1/whoami", "eh_not-a-token").await, 401).await;
    let body = problem(app.get("/v1/whoami?x=1", &app.read).await, 400).await;
    assert_eq!(body["errors"][0]["field"], "x");
}

/// Sets a spoke's status (and optionally its error and drift) as its jobs would have.
async fn spoke_set(
    app: &TestApp,
    id: &str,
    status: &str,
    error: Option<&str>,
    drift: Option<Value>,
) {
    sqlx::query("UPDATE spokes SET status = $2, last_error = $3, drift = $4 WHERE id = $1")
        .bind(id.parse::<Uuid>().unwrap())
        .bind(status)
        .bind(error)
        .bind(drift)
        .execute(&app.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn topology_lists_live_spokes_with_marks_and_counts_every_status() {
    let app = spawn_app().await;
    let hub = app.hub_create("h1", 1).await;
    let hub_id = hub["id"].as_str().unwrap();
    let other = app.hub_create("h2", 2).await;
    let mut ids = Vec::new();
    for n in 1..=5 {
        let s = app
            .spoke_enroll("h1", n, &[&format!("10.{}.0.0/16", 100 + n)])
            .await;
        ids.push(s["id"].as_str().unwrap().to_owned());
    }
    app.spoke_enroll("h2", 9, &["10.200.0.0/16"]).await;
    let conflict = json!({
        "checked_at": "2026-11-27T10:00:00Z",
        "differences": [
            {"kind": "conflict", "resource": "route", "key": "route:spoke:rtb-1:10.1.0.0/16",
             "detail": "a route through igw-1 holds 10.1.0.0/16"},
            {"kind": "missing", "resource": "prefix_list_entry", "key": "pl:10.101.0.0/16",
             "detail": "gone"},
        ],
    });
    spoke_set(&app, &ids[0], "attached", None, Some(conflict)).await;
    spoke_set(&app, &ids[1], "attached", None, None).await;
    spoke_set(
        &app,
        &ids[2],
        "failed",
        Some("CreateRoute: access denied"),
        None,
    )
    .await;
    spoke_set(&app, &ids[3], "detached", None, None).await;
    // ids[4] stays pending.

    let res = app
        .get(&format!("/v1/hubs/{hub_id}/topology"), &app.read)
        .await;
    assert_eq!(res.status(), 200);
    let topo: Value = res.json().await.unwrap();
    assert_eq!(topo["hub_id"], hub_id);
    let counts = json!({"pending": 1, "attaching": 0, "attached": 2, "failed": 1,
                        "detaching": 0, "detached": 1});
    assert_eq!(topo["counts"], counts);
    let spokes = topo["spokes"].as_array().unwrap();
    let mut live: Vec<&str> = vec![&ids[0], &ids[1], &ids[2], &ids[4]];
    live.sort();
    let got: Vec<&str> = spokes.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(got, live, "live spokes only, by id");
    let by_id = |id: &str| spokes.iter().find(|s| s["id"] == id).unwrap().clone();
    let first = by_id(&ids[0]);
    assert_eq!(first["status"], "attached");
    assert_eq!(first["drifted"], true);
    assert_eq!(first["conflicts"], 1);
    assert_eq!(first["cidrs"], json!(["10.101.0.0/16"]));
    assert_eq!(first["account_id"], "100000000001");
    assert!(first["vpc_id"].as_str().unwrap().starts_with("vpc-"));
    let failed = by_id(&ids[2]);
    assert_eq!(failed["drifted"], false);
    assert_eq!(failed["conflicts"], 0);
    assert_eq!(failed["last_error"], "CreateRoute: access denied");

    // The same counts on the hub, read and listed; the other hub has its own.
    let got: Value = app
        .get(&format!("/v1/hubs/{hub_id}"), &app.read)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["spoke_counts"], counts);
    let peerings = got["capacity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["dimension"] == "peerings_per_vpc")
        .unwrap()
        .clone();
    assert_eq!(peerings["used"], 4, "live spokes hold a peering each");
    let list: Value = app.get("/v1/hubs", &app.read).await.json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    let of = |id: &str| items.iter().find(|h| h["id"] == id).unwrap()["spoke_counts"].clone();
    assert_eq!(of(hub_id), counts);
    assert_eq!(of(other["id"].as_str().unwrap())["pending"], 1);
    // Listed hubs carry their capacity too (the console draws the list without a request
    // per hub): the same as the hub read alone, each hub its own.
    let listed = items.iter().find(|h| h["id"] == hub_id).unwrap();
    assert_eq!(listed["capacity"], got["capacity"]);
    let other_listed = items.iter().find(|h| h["id"] == other["id"]).unwrap();
    let other_peerings = other_listed["capacity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["dimension"] == "peerings_per_vpc")
        .unwrap();
    assert_eq!(other_peerings["used"], 1);
}

#[tokio::test]
async fn topology_of_a_hub_without_spokes_is_empty() {
    let app = spawn_app().await;
    let hub = app.hub_create("h1", 1).await;
    let hub_id = hub["id"].as_str().unwrap();
    let topo: Value = app
        .get(&format!("/v1/hubs/{hub_id}/topology"), &app.read)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(topo["spokes"], json!([]));
    assert_eq!(topo["counts"]["attached"], 0);
    let got: Value = app
        .get(&format!("/v1/hubs/{hub_id}"), &app.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["spoke_counts"]["pending"], 0);
}

#[tokio::test]
async fn topology_refuses_without_read_and_answers_404_for_unknown_hubs() {
    let app = spawn_app().await;
    let hub = app.hub_create("h1", 1).await;
    let path = format!("/v1/hubs/{}/topology", hub["id"].as_str().unwrap());
    let res = app.client.get(app.url(&path)).send().await.unwrap();
    problem(res, 401).await;
    let body = problem(app.get(&path, &app.spokes).await, 403).await;
    assert!(
        body["detail"].as_str().unwrap().contains("'read'"),
        "{body}"
    );
    let unknown = format!("/v1/hubs/{}/topology", Uuid::new_v4());
    problem(app.get(&unknown, &app.read).await, 404).await;
    let body = problem(
        app.get("/v1/hubs/not-a-uuid/topology", &app.read).await,
        400,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "id");
    let body = problem(app.get(&format!("{path}?limit=5"), &app.read).await, 400).await;
    assert_eq!(body["errors"][0]["field"], "limit");
    // A deleted hub has no topology.
    sqlx::query("UPDATE hubs SET status = 'deleted' WHERE id = $1")
        .bind(hub["id"].as_str().unwrap().parse::<Uuid>().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    problem(app.get(&path, &app.read).await, 404).await;
}

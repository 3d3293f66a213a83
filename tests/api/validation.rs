//! Bad input of every kind: the answer is a problem naming what is wrong, nothing changes, and a
//! refused mutation leaves an audit row.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    BODY_LIMIT, TestApp, fields, hub_body, problem, request_id, spawn_app, spawn_app_with_timeout,
    spoke_body,
};

/// Sends a mutating request that must be refused; checks the problem, that nothing changed,
/// and the audit row. Returns the problem.
async fn refused(app: &TestApp, res: reqwest::Response, status: u16, token_name: &str) -> Value {
    let rid = request_id(&res);
    let p = problem(res, status).await;
    let audit = app.audit_of(&rid).await;
    assert_eq!(audit.len(), 1, "one audit row for {p}: {audit:?}");
    let (principal, action, target, outcome) = &audit[0];
    assert_eq!(principal, token_name);
    assert!(
        ["POST ", "PUT ", "PATCH ", "DELETE "]
            .iter()
            .any(|m| action.starts_with(m)),
        "{action}"
    );
    assert_eq!(target.as_deref(), p["instance"].as_str());
    assert_eq!(
        outcome,
        &format!("rejected: {status} {}", p["title"].as_str().unwrap())
    );
    p
}

#[tokio::test]
async fn invalid_spoke_fields_are_422_naming_the_field() {
    let app = spawn_app().await;
    app.hub_create("h1", 1).await;
    let good = spoke_body("h1", 1, &["10.50.0.0/16", "10.51.0.0/16"]);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = good.clone();
        f(&mut b);
        b
    };
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "bad account",
            with(&|b| b["account_id"] = json!("12345")),
            "account_id",
            "12 digits",
        ),
        (
            "bad vpc",
            with(&|b| b["vpc_id"] = json!("vpc-XYZ")),
            "vpc_id",
            "VPC",
        ),
        (
            "bad region",
            with(&|b| b["region"] = json!("europe-1")),
            "region",
            "region",
        ),
        (
            "host bits",
            with(&|b| b["cidrs"][1] = json!("10.51.0.1/16")),
            "cidrs[1]",
            "host bits",
        ),
        (
            "slash 8",
            with(&|b| b["cidrs"][0] = json!("10.0.0.0/8")),
            "cidrs[0]",
            "/16 and /28",
        ),
        (
            "not a cidr",
            with(&|b| b["cidrs"][1] = json!("banana")),
            "cidrs[1]",
            "CIDR",
        ),
        (
            "arn of another account",
            with(&|b| b["role_arn"] = json!("arn:aws:iam::999999999999:role/eh")),
            "role_arn",
            "999999999999",
        ),
        (
            "bad arn",
            with(&|b| b["role_arn"] = json!("arn:aws:iam::1:user/x")),
            "role_arn",
            "ARN",
        ),
        (
            "unknown field",
            with(&|b| b["colour"] = json!("blue")),
            "colour",
            "unknown field",
        ),
        (
            "missing field",
            with(&|b| {
                b.as_object_mut().unwrap().remove("vpc_id");
            }),
            "vpc_id",
            "missing field",
        ),
        (
            "wrong type",
            with(&|b| b["cidrs"] = json!("10.50.0.0/16")),
            "cidrs",
            "invalid type",
        ),
        (
            "wrong type in list",
            with(&|b| b["cidrs"][0] = json!(10)),
            "cidrs[0]",
            "invalid type",
        ),
        (
            "bad label key",
            with(&|b| b["labels"] = json!({"Team!": "x"})),
            "labels.Team!",
            "label",
        ),
        (
            "unknown hub",
            with(&|b| b["hub"] = json!("nope")),
            "hub",
            "nope",
        ),
        (
            "overlap within",
            with(&|b| b["cidrs"][1] = json!("10.50.1.0/24")),
            "cidrs",
            "overlaps",
        ),
        (
            "another region than the hub's",
            with(&|b| b["region"] = json!("us-east-1")),
            "region",
            "a spoke must be in its hub's region",
        ),
        ("not an object", json!(42), "body", "invalid type"),
    ];
    let before = app.counts().await;
    for (name, body, field, needle) in cases {
        let res = app.post("/v1/spokes", &app.spokes, &body).await;
        let p = refused(&app, res, 422, "vending").await;
        assert_eq!(fields(&p), vec![field], "{name}: {p}");
        let message = p["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{name}: {message}");
        assert!(!message.contains(" at line "), "{name}: {message}");
        assert_eq!(
            p["type"], "https://endpoint-hub.dev/problems/validation",
            "{name}"
        );
    }
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn invalid_hub_fields_are_422_naming_the_field() {
    let app = spawn_app().await;
    let good = crate::helpers::hub_body("h1", 1);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = good.clone();
        f(&mut b);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(&|b| b["name"] = json!("Not A Name")), "name"),
        (
            with(&|b| b["subnet_ids"] = json!(["subnet-1"])),
            "subnet_ids[0]",
        ),
        (
            with(&|b| b["services"] = json!(["sqs", "SQS"])),
            "services[1]",
        ),
        (
            with(&|b| b["services"] = json!(["sqs", "sqs"])),
            "services[1]",
        ),
        (with(&|b| b["cidrs"] = json!([])), "cidrs"),
        (
            with(&|b| b["prefix_list_max_entries"] = json!(0)),
            "prefix_list_max_entries",
        ),
        (
            with(&|b| b["prefix_list_max_entries"] = json!("many")),
            "prefix_list_max_entries",
        ),
        (
            // The security group counts the prefix-list rule as 61 of its 60 inbound rules.
            with(&|b| b["prefix_list_max_entries"] = json!(61)),
            "prefix_list_max_entries",
        ),
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("role_name");
            }),
            "role_arn",
        ),
    ];
    for (body, field) in cases {
        let res = app.post("/v1/hubs", &app.admin, &body).await;
        let p = refused(&app, res, 422, "admin").await;
        assert_eq!(fields(&p), vec![field], "{p}");
    }
    assert_eq!(app.count("hubs").await, 0);
    assert_eq!(app.count("jobs").await, 0);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    app.hub_create("h1", 1).await;
    let before = app.counts().await;
    for raw in ["{\"hub\": ", "not json", "{} trailing", ""] {
        let res = app
            .req(Method::POST, "/v1/spokes", &app.spokes)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let p = refused(&app, res, 400, "vending").await;
        assert_eq!(
            p["type"], "https://endpoint-hub.dev/problems/malformed-json",
            "{raw}: {p}"
        );
    }
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = spawn_app().await;
    app.hub_create("h1", 1).await;
    let before = app.counts().await;
    let body = serde_json::to_string(&spoke_body("h1", 1, &["10.50.0.0/16"])).unwrap();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut req = app
            .req(Method::POST, "/v1/spokes", &app.spokes)
            .body(body.clone());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let res = req.send().await.unwrap();
        refused(&app, res, 415, "vending").await;
    }
    // parameters of application/json are fine
    let res = app
        .req(Method::POST, "/v1/spokes", &app.spokes)
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(
        app.count("spokes").await,
        before.iter().find(|c| c.0 == "spokes").unwrap().1 + 1
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = spawn_app().await;
    app.hub_create("h1", 1).await;
    let before = app.counts().await;
    let mut body = spoke_body("h1", 1, &["10.50.0.0/16"]);
    body["labels"]["big"] = json!("x".repeat(BODY_LIMIT));
    let res = app.post("/v1/spokes", &app.spokes, &body).await;
    refused(&app, res, 413, "vending").await;

    // a chunked body (no Content-Length) over the limit as well
    let text = serde_json::to_vec(&body).unwrap();
    let (status, head, body_text) = raw_chunked_post(&app, "/v1/spokes", &app.spokes, &text).await;
    assert_eq!(status, 413, "{head}\n{body_text}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{head}"
    );
    let p: Value = serde_json::from_str(&body_text).unwrap();
    assert_eq!(p["status"], 413);
    let rid = p["request_id"].as_str().unwrap();
    assert_eq!(app.audit_of(rid).await.len(), 1);
    assert_eq!(app.counts().await, before);
}

/// POSTs `body` with `Transfer-Encoding: chunked` over a raw connection (reqwest always knows
/// the length of a buffered body) and returns the status, the head and the body.
async fn raw_chunked_post(
    app: &TestApp,
    path: &str,
    token: &str,
    body: &[u8],
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(1024) {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&frame).await.is_err() {
            break; // the server may answer and close before reading everything
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, rest) = response.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (status, head.to_owned(), body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_problems() {
    let app = spawn_app().await;
    let res = app.get("/v1/nothing-here", &app.admin).await;
    let p = problem(res, 404).await;
    assert_eq!(p["instance"], "/v1/nothing-here");

    let res = app.client.get(app.url("/nope")).send().await.unwrap();
    problem(res, 404).await;

    let res = app
        .req(Method::PUT, "/v1/hubs", &app.admin)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("allow"));
    let p = refused(&app, res, 405, "admin").await;
    assert_eq!(p["instance"], "/v1/hubs");

    let res = app
        .req(Method::DELETE, "/v1/audit", &app.admin)
        .send()
        .await
        .unwrap();
    refused(&app, res, 405, "admin").await;

    let res = app
        .req(Method::POST, "/v1/no-such-thing", &app.admin)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    refused(&app, res, 404, "admin").await;

    // without a token, the refusal is audited as anonymous
    let res = app.client.delete(app.url("/v1/hubs")).send().await.unwrap();
    refused(&app, res, 405, "anonymous").await;
}

#[tokio::test]
async fn bad_query_parameters_are_400_naming_them() {
    let app = spawn_app().await;
    let cases = [
        ("/v1/hubs?limit=0", "limit"),
        ("/v1/hubs?limit=201", "limit"),
        ("/v1/hubs?limit=ten", "limit"),
        ("/v1/hubs?limit=-1", "limit"),
        ("/v1/hubs?limit=1&limit=2", "limit"),
        ("/v1/hubs?cursor=garbage", "cursor"),
        ("/v1/hubs?colour=blue", "colour"),
        ("/v1/spokes?status=sleeping", "status"),
        ("/v1/spokes?account_id=12", "account_id"),
        ("/v1/spokes?label=novalue", "label"),
        ("/v1/spokes?cursor=%ff", "cursor"),
        ("/v1/jobs?status=done", "status"),
        ("/v1/jobs?kind=paint", "kind"),
        ("/v1/jobs?hub_id=h1", "hub_id"),
        ("/v1/jobs?cursor=12", "cursor"),
        ("/v1/audit?cursor=abc", "cursor"),
        ("/v1/audit?since=yesterday", "since"),
        ("/v1/audit?until=2024-13-01T00:00:00Z", "until"),
        ("/v1/audit?limit=1000", "limit"),
        ("/v1/hubs/not-a-uuid", "id"),
        ("/v1/spokes/123", "id"),
        ("/v1/jobs/zzz", "id"),
    ];
    for (path, field) in cases {
        let res = app.get(path, &app.admin).await;
        let p = problem(res, 400).await;
        assert_eq!(fields(&p), vec![field], "{path}: {p}");
    }
    // mutations with a bad path id or an unknown parameter are refused, audited, and change
    // nothing
    let before = app.counts().await;
    let res = app
        .post("/v1/hubs?dry_run=true", &app.admin, &hub_body("h1", 1))
        .await;
    let p = refused(&app, res, 400, "admin").await;
    assert_eq!(fields(&p), vec!["dry_run"]);
    let res = app.delete("/v1/spokes/not-a-uuid", &app.spokes).await;
    let p = refused(&app, res, 400, "vending").await;
    assert_eq!(fields(&p), vec!["id"]);
    let res = app
        .req(Method::POST, "/v1/jobs/xyz/retry", &app.admin)
        .send()
        .await
        .unwrap();
    refused(&app, res, 400, "admin").await;
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn a_request_over_the_timeout_is_a_503_problem() {
    let app = spawn_app_with_timeout(std::time::Duration::from_millis(500)).await;
    // hold a lock that the hub insert waits for
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE hubs IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let res = app.post("/v1/hubs", &app.admin, &hub_body("h1", 1)).await;
    let p = refused(&app, res, 503, "admin").await;
    assert_eq!(p["type"], "https://endpoint-hub.dev/problems/timeout");
    tx.rollback().await.unwrap();
    assert_eq!(app.count("hubs").await, 0);
}

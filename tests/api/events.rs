//! `GET /v1/events`: Server-Sent Events of job events, resumable with `Last-Event-ID`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{TestApp, problem, spawn_app};
use endpoint_hub::store::jobs::job_event_insert;

/// An open event stream, parsed as it arrives.
struct Stream {
    res: reqwest::Response,
    buf: String,
}

/// One SSE event: its `id:`, `event:` and parsed `data:`.
#[derive(Debug)]
struct Sse {
    id: String,
    event: String,
    data: Value,
}

impl Stream {
    async fn open(app: &TestApp, query: &str, last_event_id: Option<&str>) -> Stream {
        let mut req = app
            .client
            .get(app.url(&format!("/v1/events{query}")))
            .bearer_auth(&app.read);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        // The head comes at once (an opening comment), not with the first event.
        let res = tokio::time::timeout(Duration::from_secs(5), req.send())
            .await
            .expect("no response head within 5 s")
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        Stream {
            res,
            buf: String::new(),
        }
    }

    /// The next event (comments skipped), or panics after `within`.
    async fn next(&mut self, within: Duration) -> Sse {
        let deadline = Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if event.is_empty() {
                    continue; // a keep-alive comment
                }
                return Sse {
                    id,
                    event,
                    data: serde_json::from_str(&data).unwrap(),
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no event within {within:?}");
            match tokio::time::timeout(left, self.res.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None)) => panic!("the stream ended"),
                Ok(Err(e)) => panic!("stream error: {e}"),
                Err(_) => panic!("no event within {within:?}"),
            }
        }
    }
}

/// The id of the provisioning job of a new hub (its events are the test's events).
async fn hub_job(app: &TestApp) -> (String, Uuid) {
    let hub = app.hub_create("main", 1).await;
    let hub_id = hub["id"].as_str().unwrap().to_owned();
    let job_id = hub["job_id"].as_str().unwrap().parse().unwrap();
    (hub_id, job_id)
}

async fn event(app: &TestApp, job: Uuid, message: &str) {
    let mut conn = app.pool.acquire().await.unwrap();
    job_event_insert(&mut conn, job, Some("test"), "step_note", Some(message))
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_requests_are_refused_before_streaming() {
    let app = spawn_app().await;
    let (hub_id, _) = hub_job(&app).await;
    let res = app.client.get(app.url("/v1/events")).send().await.unwrap();
    problem(res, 401).await;
    let res = app
        .client
        .get(app.url("/v1/events"))
        .bearer_auth(&app.read)
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    let p = problem(res, 400).await;
    assert_eq!(p["errors"][0]["field"], "Last-Event-ID", "{p}");
    let p = problem(app.get("/v1/events?hub=main", &app.read).await, 400).await;
    assert_eq!(p["errors"][0]["field"], "hub", "{p}");
    let p = problem(app.get("/v1/events?since=1", &app.read).await, 400).await;
    assert_eq!(p["errors"][0]["field"], "since", "{p}");
    let unknown = Uuid::new_v4();
    problem(
        app.get(&format!("/v1/events?spoke={unknown}"), &app.read)
            .await,
        404,
    )
    .await;
    problem(
        app.get(&format!("/v1/events?job={unknown}"), &app.read)
            .await,
        404,
    )
    .await;
    // The vending pipeline's token may follow its jobs.
    let res = app
        .get(&format!("/v1/events?hub={hub_id}"), &app.spokes)
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn an_enrolment_is_seen_live_with_its_job() {
    let app = spawn_app().await;
    let (hub_id, _) = hub_job(&app).await;
    let mut stream = Stream::open(&app, &format!("?hub={hub_id}"), None).await;
    let spoke = app.spoke_enroll(&hub_id, 1, &["10.200.0.0/16"]).await;
    let e = stream.next(Duration::from_secs(10)).await;
    assert_eq!(e.event, "job");
    assert_eq!(e.data["kind"], "job_queued");
    assert_eq!(e.data["job_kind"], "attach_spoke");
    assert_eq!(e.data["spoke_id"], spoke["id"]);
    assert_eq!(e.data["job_id"], spoke["job_id"]);
    assert_eq!(e.data["hub_id"], hub_id.as_str());
    assert_eq!(e.data["job_status"], "queued");
    assert_eq!(e.data["cursor"].as_str().unwrap(), e.id);
}

/// The case a plain id cursor gets wrong: a transaction draws a smaller event id, a later one
/// with a larger id commits first and is read, then the first commits. Then 200 events from ten
/// writers at once, the reader dropped after some and resumed with `Last-Event-ID`: every event
/// arrives exactly once, in stream order.
#[tokio::test]
async fn a_resumed_stream_misses_no_event_when_commits_come_out_of_order() {
    let app = spawn_app().await;
    let (hub_id, job) = hub_job(&app).await;
    let mut stream = Stream::open(&app, &format!("?job={job}"), None).await;
    let mut seen: Vec<Sse> = Vec::new();

    // `older` takes its transaction id first; `late` writes the smaller event id and stays
    // open; `older` writes a larger event id and commits.
    let mut older = app.pool.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *older)
        .await
        .unwrap();
    let mut late = app.pool.begin().await.unwrap();
    job_event_insert(&mut late, job, Some("test"), "step_note", Some("late"))
        .await
        .unwrap();
    job_event_insert(&mut older, job, Some("test"), "step_note", Some("older"))
        .await
        .unwrap();
    older.commit().await.unwrap();
    let e = stream.next(Duration::from_secs(10)).await;
    assert_eq!(e.data["message"], "older");
    seen.push(e);
    late.commit().await.unwrap();
    let e = stream.next(Duration::from_secs(10)).await;
    assert_eq!(e.data["message"], "late", "the late commit was skipped");
    seen.push(e);

    // Ten writers, 20 events each; the reader leaves after 50 events.
    let write = |from: usize| {
        let app_pool = app.pool.clone();
        async move {
            for i in from..from + 20 {
                let mut conn = app_pool.acquire().await.unwrap();
                job_event_insert(
                    &mut conn,
                    job,
                    Some("test"),
                    "step_note",
                    Some(&format!("m{i}")),
                )
                .await
                .unwrap();
            }
        }
    };
    let writers: Vec<_> = (0..10).map(|w| tokio::spawn(write(w * 20))).collect();
    while seen.len() < 52 {
        seen.push(stream.next(Duration::from_secs(10)).await);
    }
    drop(stream);
    for w in writers {
        w.await.unwrap();
    }
    // Written while nobody listened.
    for i in 200..220 {
        event(&app, job, &format!("m{i}")).await;
    }
    let last = seen.last().unwrap().id.clone();
    let mut stream = Stream::open(&app, &format!("?job={job}"), Some(&last)).await;
    while seen.len() < 2 + 220 {
        seen.push(stream.next(Duration::from_secs(10)).await);
    }

    let messages: Vec<&str> = seen
        .iter()
        .map(|e| e.data["message"].as_str().unwrap())
        .collect();
    let distinct: BTreeSet<&str> = messages.iter().copied().collect();
    assert_eq!(distinct.len(), messages.len(), "an event came twice");
    let expected: BTreeSet<String> = (0..220)
        .map(|i| format!("m{i}"))
        .chain(["late".to_owned(), "older".to_owned()])
        .collect();
    assert_eq!(
        distinct,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    // Stream order: each id after the one before.
    let cursors: Vec<(i64, i64)> = seen
        .iter()
        .map(|e| {
            let (t, i) = e.id.split_once('-').unwrap();
            (t.parse().unwrap(), i.parse().unwrap())
        })
        .collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    // Nothing else of the hub's jobs leaked into a job-filtered stream.
    assert!(seen.iter().all(|e| e.data["job_id"] == job.to_string()));
    assert!(seen.iter().all(|e| e.data["hub_id"] == hub_id.as_str()));
}

/// The request timeout bounds the time to the response head, not a stream's life.
#[tokio::test]
async fn a_stream_outlives_the_request_timeout() {
    let app = crate::helpers::spawn_app_with_timeout(Duration::from_millis(500)).await;
    let (_, job) = hub_job(&app).await;
    let mut stream = Stream::open(&app, &format!("?job={job}"), None).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    event(&app, job, "after the timeout").await;
    let e = stream.next(Duration::from_secs(10)).await;
    assert_eq!(e.data["message"], "after the timeout");
}

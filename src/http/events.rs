//! `GET /v1/events`: job events as Server-Sent Events, resumable with `Last-Event-ID`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::watch;

use super::extract::{Auth, QueryParams, SpokesReadScope};
use super::problem::{ApiError, Problem};
use crate::app::{App, EventFilter};
use crate::model::{EventCursor, StreamEvent};

/// Events read per query.
const BATCH: i64 = 500;
/// A stream re-reads this often even without a notification: an event becomes final only
/// when every older transaction has ended, which nothing announces.
const POLL: Duration = Duration::from_secs(1);

/// Stream job events (step and status changes) as they happen.
///
/// Each SSE event is `event: job`, `id: <cursor>`, `data: <StreamEvent JSON>`. A client that
/// reconnects with `Last-Event-ID: <cursor>` gets every event after it, none twice, none
/// missed (events are sent in commit-safe order). Without it, the stream starts now: with what
/// commits after the request. A comment
/// line is sent every 15 s to keep proxies from closing an idle stream.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "jobs",
    operation_id = "events",
    params(
        ("hub" = Option<uuid::Uuid>, Query, description = "Events of this hub's jobs"),
        ("spoke" = Option<uuid::Uuid>, Query, description = "Events of this spoke's jobs"),
        ("job" = Option<uuid::Uuid>, Query, description = "Events of this job"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event (`<txid>-<id>`)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "An endless stream of `job` events", body = StreamEvent, content_type = "text/event-stream"),
        (status = 400, description = "Bad or unknown query parameter, or a malformed `Last-Event-ID`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `read` or `spokes:write` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such hub, spoke or job", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or timeout", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn events(
    State(app): State<App>,
    _auth: Auth<SpokesReadScope>,
    headers: HeaderMap,
    mut q: QueryParams,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let filter = EventFilter {
        hub_id: q.uuid("hub")?,
        spoke_id: q.uuid("spoke")?,
        job_id: q.uuid("job")?,
    };
    q.finish()?;
    let resume = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<EventCursor>().ok())
                .ok_or_else(|| {
                    Problem::bad_request(
                        "Last-Event-ID",
                        "not an event id of this stream (<number>-<number>)",
                    )
                })?,
        ),
    };
    // Unknown filters are a mistake worth a 404, not a silent empty stream.
    if let Some(id) = filter.hub_id {
        app.hub_get(id).await?;
    }
    if let Some(id) = filter.spoke_id {
        app.spoke_get(id).await?;
    }
    if let Some(id) = filter.job_id {
        app.job_get(id).await?;
    }
    let wake = app.events_watch();
    let (cursor, not_in) = match resume {
        Some(c) => (c, None),
        None => {
            let (c, snapshot) = app.events_now().await?;
            (c, Some(snapshot))
        }
    };
    let state = Reader {
        app,
        filter,
        cursor,
        not_in,
        wake,
        ready: VecDeque::new(),
        opened: false,
        _counted: crate::metrics::StreamGuard::new(),
    };
    let stream = futures_util::stream::unfold(state, |mut r| async move {
        let event = r.next().await?;
        Some((Ok(event), r))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// One client's position in the stream.
struct Reader {
    app: App,
    filter: EventFilter,
    cursor: EventCursor,
    /// A stream started now leaves out what was committed before it started.
    not_in: Option<String>,
    wake: watch::Receiver<u64>,
    ready: VecDeque<StreamEvent>,
    opened: bool,
    _counted: crate::metrics::StreamGuard,
}

impl Reader {
    /// The next event; `None` ends the stream (the database failed: the client resumes).
    async fn next(&mut self) -> Option<Event> {
        if !self.opened {
            // At once, so that the client gets the response head now, not with the first event
            // or keep-alive.
            self.opened = true;
            return Some(Event::default().comment("stream open"));
        }
        loop {
            if let Some(e) = self.ready.pop_front() {
                self.cursor = e.cursor;
                let data = serde_json::to_string(&e).ok()?;
                return Some(
                    Event::default()
                        .event("job")
                        .id(e.cursor.to_string())
                        .data(data),
                );
            }
            // Marked seen before reading, so a notification during the read is not lost.
            self.wake.borrow_and_update();
            let read = self
                .app
                .events_after(self.cursor, self.not_in.as_deref(), self.filter, BATCH)
                .await;
            match read {
                Ok(batch) if !batch.is_empty() => self.ready.extend(batch),
                Ok(_) => {
                    tokio::select! {
                        changed = self.wake.changed() => {
                            if changed.is_err() {
                                tokio::time::sleep(POLL).await;
                            }
                        }
                        _ = tokio::time::sleep(POLL) => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = ?e, "event stream ends: cannot read events");
                    return None;
                }
            }
        }
    }
}

//! What the service learns from PostgreSQL notifications while it runs: job events for the
//! event streams, and token revocations for the token cache.
//!
//! One `LISTEN` connection per process, started by the first request that needs it. While it is
//! down, nothing is cached (every request reads its token) and event streams poll.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use super::{App, AppError};
use crate::model::{EventCursor, Principal, StreamEvent};
use crate::store;
use crate::store::events::EventFilter;

/// How long a cached token is trusted without a revocation notice (a backstop: revocations
/// clear the cache at once).
const TOKEN_TTL: Duration = Duration::from_secs(30);
/// Cached tokens at most; the cache is emptied when full.
const TOKEN_CACHE_MAX: usize = 10_000;

/// Process-wide notification state, shared by every clone of [`App`].
#[derive(Clone, Default)]
pub struct Live(Arc<LiveInner>);

struct LiveInner {
    started: OnceLock<()>,
    /// Bumped on every job-event notification.
    events: watch::Sender<u64>,
    /// True while the LISTEN connection is up (only then may tokens be cached).
    listening: AtomicBool,
    /// Bumped on every revocation and disconnect: a lookup that raced one does not cache.
    token_generation: AtomicU64,
    tokens: Mutex<HashMap<String, (Principal, Instant)>>,
}

impl Default for LiveInner {
    fn default() -> Self {
        LiveInner {
            started: OnceLock::new(),
            events: watch::Sender::new(0),
            listening: AtomicBool::new(false),
            token_generation: AtomicU64::new(0),
            tokens: Mutex::new(HashMap::new()),
        }
    }
}

impl Live {
    /// Starts the LISTEN task once per process (needs a Tokio runtime).
    fn ensure_started(&self, pool: &PgPool) {
        self.0.started.get_or_init(|| {
            let inner = self.0.clone();
            let pool = pool.clone();
            tokio::spawn(async move { listen(inner, pool).await });
        });
    }

    /// Whether the LISTEN connection is up (tokens are cached only then).
    pub fn is_listening(&self) -> bool {
        self.0.listening.load(Ordering::SeqCst)
    }

    fn tokens_forget(inner: &LiveInner) {
        inner.token_generation.fetch_add(1, Ordering::SeqCst);
        inner.tokens.lock().expect("token cache").clear();
    }
}

async fn listen(inner: Arc<LiveInner>, pool: PgPool) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "cannot LISTEN for events and revocations");
                if pool.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener
            .listen_all([store::events::EVENTS_CHANNEL, store::tokens::TOKENS_CHANNEL])
            .await
        {
            tracing::warn!(error = %e, "LISTEN failed");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Revocations made while nobody listened are unknown: start from an empty cache.
        Live::tokens_forget(&inner);
        inner.listening.store(true, Ordering::SeqCst);
        // Events may have been missed too: wake the streams.
        inner.events.send_modify(|n| *n += 1);
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) if n.channel() == store::tokens::TOKENS_CHANNEL => {
                    Live::tokens_forget(&inner);
                }
                Ok(Some(_)) => inner.events.send_modify(|n| *n += 1),
                Ok(None) | Err(_) => break,
            }
        }
        inner.listening.store(false, Ordering::SeqCst);
        Live::tokens_forget(&inner);
        tracing::warn!("LISTEN connection lost; reconnecting");
        if pool.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl App {
    /// The principal of a live (not revoked) token with this secret; `None` for an unknown or
    /// revoked token. Known tokens are cached for a short while; a revocation (through any
    /// process: it `NOTIFY`s) empties the cache.
    pub async fn principal_from_token(&self, secret: &str) -> Result<Option<Principal>, AppError> {
        let live = &self.live.0;
        self.live.ensure_started(&self.pool);
        let hash = store::tokens::token_hash(secret);
        if live.listening.load(Ordering::SeqCst)
            && let Some((p, at)) = live.tokens.lock().expect("token cache").get(&hash)
            && at.elapsed() < TOKEN_TTL
        {
            return Ok(Some(p.clone()));
        }
        let generation = live.token_generation.load(Ordering::SeqCst);
        let principal = store::tokens::token_verify_hash(&self.pool, &hash).await?;
        if let Some(p) = &principal
            && live.listening.load(Ordering::SeqCst)
        {
            let mut tokens = live.tokens.lock().expect("token cache");
            // Checked under the lock: a revocation clears under it too.
            if live.token_generation.load(Ordering::SeqCst) == generation {
                if tokens.len() >= TOKEN_CACHE_MAX {
                    tokens.clear();
                }
                tokens.insert(hash, (p.clone(), Instant::now()));
            }
        }
        Ok(principal)
    }

    /// Where a stream that starts now begins: a cursor, and the snapshot of this moment whose
    /// events the stream leaves out (see [`store::events::events_now`]).
    pub async fn events_now(&self) -> Result<(EventCursor, String), AppError> {
        Ok(store::events::events_now(&self.pool).await?)
    }

    /// Up to `limit` events after `after`, in stream order, leaving out those visible in the
    /// snapshot `not_in`.
    pub async fn events_after(
        &self,
        after: EventCursor,
        not_in: Option<&str>,
        filter: EventFilter,
        limit: i64,
    ) -> Result<Vec<StreamEvent>, AppError> {
        Ok(store::events::events_after(&self.pool, after, not_in, filter, limit).await?)
    }

    /// Changes whenever a job event may have been written (and on reconnects).
    pub fn events_watch(&self) -> watch::Receiver<u64> {
        self.live.ensure_started(&self.pool);
        self.live.0.events.subscribe()
    }
}

//! A fresh PostgreSQL database per test (`eh_test_<uuid>`), checked and dropped at teardown.
//!
//! Teardown (the `Drop` of [`TestDb`], so no test can forget it) fails the test when a job is
//! still `queued` or `running` in its database, unless the test said it means it
//! ([`TestDb::allow_unfinished_jobs`]). The check is skipped when the test is already failing.
//! A passing test's database is dropped; a failing one's is kept for inspection (its name is
//! printed; `scripts/test.sh` drops leftovers).

use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use endpoint_hub::store;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgPool};
use uuid::Uuid;

/// Connections the pool of a test database may open.
const POOL_SIZE: u32 = 30;

/// The server's maintenance database, from `EH_TEST_DATABASE_URL`.
fn maintenance_options() -> PgConnectOptions {
    let url = std::env::var("EH_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    PgConnectOptions::from_str(&url).expect("EH_TEST_DATABASE_URL is not a PostgreSQL URL")
}

/// Runs `f` on a thread of its own with its own runtime, and waits for it: `Drop` cannot await,
/// and the thread dropping may be the one driving the test's (current-thread) runtime.
fn block_on_thread<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("teardown runtime")
            .block_on(f)
    })
    .join()
    .expect("teardown thread panicked")
}

pub struct TestDb {
    pub name: String,
    /// URL of the test database, for processes of its own (the e2e service).
    pub url: String,
    options: PgConnectOptions,
    allow_unfinished: AtomicBool,
    /// The job check has run (`check_jobs_finished`); the drop does not run it again.
    checked: AtomicBool,
    /// Kept after the test: not checked, not dropped ([`TestDb::keep`]).
    keep: bool,
}

impl TestDb {
    /// An empty database (the e2e service migrates it itself).
    pub async fn create() -> TestDb {
        let maintenance = maintenance_options();
        let name = format!("eh_test_{}", Uuid::new_v4().simple());
        let mut conn = maintenance
            .connect()
            .await
            .expect("cannot connect to the test PostgreSQL server");
        sqlx::query(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .execute(&mut conn)
            .await
            .expect("cannot create the test database");
        conn.close().await.ok();
        let options = maintenance.database(&name);
        TestDb {
            url: options.to_url_lossy().to_string(),
            name,
            options,
            allow_unfinished: AtomicBool::new(false),
            checked: AtomicBool::new(false),
            keep: false,
        }
    }

    /// A migrated database and a pool on it.
    pub async fn migrated() -> (TestDb, PgPool) {
        let db = TestDb::create().await;
        let pool = store::connect(&db.url, POOL_SIZE)
            .await
            .expect("cannot connect to the test database");
        store::migrate(&pool).await.expect("migrations failed");
        (db, pool)
    }

    /// Leaves the database after the test: no job check, not dropped.
    pub fn keep(mut self) {
        self.keep = true;
    }

    /// The test leaves jobs queued or running on purpose: teardown does not fail for them.
    pub fn allow_unfinished_jobs(&self) {
        self.allow_unfinished.store(true, Ordering::Relaxed);
    }

    /// Fails the test when jobs are still queued or running after waiting up to `settle` for
    /// them (for tests whose workers are other processes, checked before they are stopped).
    /// The drop does not check again.
    pub fn check_jobs_finished(&self, settle: Duration) {
        if let Some(problem) = self.unfinished_jobs(settle) {
            panic!("{problem}");
        }
    }

    /// What is wrong with the jobs left, if anything (`None` when allowed, already checked, or
    /// the test is already failing).
    fn unfinished_jobs(&self, settle: Duration) -> Option<String> {
        if self.keep
            || std::thread::panicking()
            || self.allow_unfinished.load(Ordering::Relaxed)
            || self.checked.swap(true, Ordering::Relaxed)
        {
            return None;
        }
        let options = self.options.clone();
        let jobs = block_on_thread(async move {
            let deadline = Instant::now() + settle;
            loop {
                let jobs = unfinished_job_list(&options).await;
                if !matches!(&jobs, Ok(list) if !list.is_empty()) || Instant::now() >= deadline {
                    return jobs;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        match jobs {
            Ok(list) if list.is_empty() => None,
            Ok(list) => Some(format!(
                "the test left {} unfinished job(s) in {}:\n  {}\nWait for them (e.g. \
                 `run_until_idle`) or, if the test means it, call `allow_unfinished_jobs()`.",
                list.len(),
                self.name,
                list.join("\n  ")
            )),
            Err(e) => Some(format!(
                "teardown: cannot check the jobs of {}: {e}",
                self.name
            )),
        }
    }
}

/// `kind id status (step n): last error` of every queued or running job; none when the
/// database has no `jobs` table (never migrated).
async fn unfinished_job_list(options: &PgConnectOptions) -> Result<Vec<String>, sqlx::Error> {
    let mut conn = options.connect().await?;
    let list = sqlx::query_scalar(
        "SELECT format('%s %s %s (step %s): %s', kind, id, status, next_step, \
         coalesce(last_error, '-')) FROM jobs WHERE status IN ('queued', 'running') \
         ORDER BY created_at",
    )
    .fetch_all(&mut conn)
    .await;
    conn.close().await.ok();
    match list {
        Err(e) if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("42P01") => {
            Ok(Vec::new())
        }
        other => other,
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let problem = self.unfinished_jobs(Duration::ZERO);
        if problem.is_some() || std::thread::panicking() {
            eprintln!(
                "test database {} kept for inspection (scripts/test.sh drops it)",
                self.name
            );
        } else {
            let name = self.name.clone();
            let dropped = block_on_thread(async move {
                let mut conn = maintenance_options().connect().await?;
                sqlx::query(AssertSqlSafe(format!(
                    r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await
            });
            if let Err(e) = dropped {
                eprintln!("cannot drop the test database {}: {e}", self.name);
            }
        }
        if let Some(problem) = problem {
            panic!("{problem}");
        }
    }
}

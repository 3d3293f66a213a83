//! Black-box tests of the HTTP API: each test gets a fresh database and a server on a random
//! port, and talks to it with reqwest. No workers run: jobs stay queued.
//!
//! The modules live in `tests/api/`; the database comes from `tests/support/`.

mod support;

#[path = "api/helpers.rs"]
mod helpers;

#[path = "api/audit.rs"]
mod audit;
#[path = "api/auth.rs"]
mod auth;
#[path = "api/console.rs"]
mod console;
#[path = "api/cost.rs"]
mod cost;
#[path = "api/events.rs"]
mod events;
#[path = "api/health.rs"]
mod health;
#[path = "api/hubs.rs"]
mod hubs;
#[path = "api/jobs.rs"]
mod jobs;
#[path = "api/openapi.rs"]
mod openapi;
#[path = "api/orphans.rs"]
mod orphans;
#[path = "api/reconcile.rs"]
mod reconcile;
#[path = "api/spokes.rs"]
mod spokes;
#[path = "api/validation.rs"]
mod validation;

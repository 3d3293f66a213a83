//! The process's own Prometheus metrics: HTTP requests, AWS calls, job steps, Route 53 pacing
//! and event streams. Counted in memory (per process, from its start, as Prometheus expects)
//! and written out by `GET /metrics` after the database-derived gauges.
//!
//! A leaf module: the HTTP layer, the AWS layer, the job runner and the pacer record into it.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Seconds: 1 ms to 60 s, for requests, AWS calls and pacing waits.
const SHORT: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Seconds: 10 ms to 30 min, for job steps (which may wait for AWS).
const STEPS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0,
];

struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    aws_calls: IntCounterVec,
    aws_duration: HistogramVec,
    aws_throttled: IntCounterVec,
    steps: HistogramVec,
    pacing_wait: HistogramVec,
    event_streams: IntGauge,
}

fn histogram(name: &str, help: &str, buckets: &[f64], labels: &[&str]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .expect("valid histogram")
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter")
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let m = Metrics {
        registry: Registry::new(),
        http_requests: counter(
            "endpoint_hub_http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            &["method", "route", "status"],
        ),
        http_duration: histogram(
            "endpoint_hub_http_request_duration_seconds",
            "Time to answer an HTTP request (to the response head; a stream's life is not counted).",
            SHORT,
            &["method", "route"],
        ),
        aws_calls: counter(
            "endpoint_hub_aws_calls_total",
            "AWS API calls (the SDK's retries included in one call), by service, operation and \
             outcome: ok, throttled, client_error, server_error, no_response.",
            &["service", "operation", "outcome"],
        ),
        aws_duration: histogram(
            "endpoint_hub_aws_call_duration_seconds",
            "Duration of AWS API calls, retries and their back-off included.",
            SHORT,
            &["service", "operation"],
        ),
        aws_throttled: counter(
            "endpoint_hub_aws_throttled_attempts_total",
            "Attempts AWS refused for rate (Throttling, RequestLimitExceeded, \
             PriorRequestNotComplete, ...), each retry counted.",
            &["service", "operation"],
        ),
        steps: histogram(
            "endpoint_hub_job_step_duration_seconds",
            "Duration of one run of a job step, by job kind, step and outcome: succeeded, \
             waiting (asked to run again later), retry (transient failure), failed.",
            STEPS,
            &["kind", "step", "outcome"],
        ),
        pacing_wait: histogram(
            "endpoint_hub_route53_pacing_wait_seconds",
            "Time Route 53 requests waited for their slot from the pacer, by bucket (requests \
             that did not wait count as 0).",
            SHORT,
            &["bucket"],
        ),
        event_streams: IntGauge::new(
            "endpoint_hub_event_streams",
            "Clients connected to GET /v1/events.",
        )
        .expect("valid gauge"),
    };
    for c in [
        Box::new(m.http_requests.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(m.http_duration.clone()),
        Box::new(m.aws_calls.clone()),
        Box::new(m.aws_duration.clone()),
        Box::new(m.aws_throttled.clone()),
        Box::new(m.steps.clone()),
        Box::new(m.pacing_wait.clone()),
        Box::new(m.event_streams.clone()),
    ] {
        m.registry.register(c).expect("metric registered once");
    }
    m
});

/// An answered HTTP request. `route` is the matched route template (`/v1/spokes/{id}`), never
/// the raw path, so that ids do not make new series.
pub fn http_request(method: &str, route: &str, status: u16, took: Duration) {
    let m = &*METRICS;
    m.http_requests
        .with_label_values(&[method, route, &status.to_string()])
        .inc();
    m.http_duration
        .with_label_values(&[method, route])
        .observe(took.as_secs_f64());
}

/// A finished AWS call.
pub fn aws_call(service: &str, operation: &str, outcome: &str, took: Duration) {
    let m = &*METRICS;
    m.aws_calls
        .with_label_values(&[service, operation, outcome])
        .inc();
    m.aws_duration
        .with_label_values(&[service, operation])
        .observe(took.as_secs_f64());
}

/// An attempt AWS refused for rate.
pub fn aws_throttled(service: &str, operation: &str) {
    METRICS
        .aws_throttled
        .with_label_values(&[service, operation])
        .inc();
}

/// One run of a job step.
pub fn step_run(kind: &str, step: &str, outcome: &str, took: Duration) {
    METRICS
        .steps
        .with_label_values(&[kind, step, outcome])
        .observe(took.as_secs_f64());
}

/// A Route 53 request's wait for its pacing slot.
pub fn pacing_wait(bucket: &str, waited: Duration) {
    METRICS
        .pacing_wait
        .with_label_values(&[bucket])
        .observe(waited.as_secs_f64());
}

/// Counts a connected event stream while the guard lives.
pub struct StreamGuard(());

impl StreamGuard {
    pub fn new() -> StreamGuard {
        METRICS.event_streams.inc();
        StreamGuard(())
    }
}

impl Default for StreamGuard {
    fn default() -> Self {
        StreamGuard::new()
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        METRICS.event_streams.dec();
    }
}

/// The metrics in Prometheus text format 0.0.4.
pub fn render() -> String {
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&METRICS.registry.gather(), &mut out) {
        tracing::error!(error = %e, "cannot encode metrics");
    }
    String::from_utf8(out).unwrap_or_default()
}

//! Process-wide metrics, read by tests and served on `GET /metrics` in the
//! Prometheus text exposition format (version 0.0.4), written by hand.
//!
//! Not `prometheus-client`: it writes OpenMetrics 1.0 text, not this format.
//! It appends `_total` to a counter's samples (so its `# TYPE` line names the
//! counter without it), a `.` to every `# HELP` text, and a closing `# EOF`,
//! which would change every name and line scrapers and the benchmark read.
//! What it would replace is a few counters, one histogram and `render`.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `annograph_http_requests_total` | counter | `operation`, `status` |
//! | `annograph_graphql_request_duration_seconds` | histogram | `operation` |
//! | `annograph_graphql_errors_total` | counter | `code` |
//! | `annograph_sql_statements_total` | counter | — |
//! | `annograph_active_subscriptions` | gauge | — |
//! | `annograph_runtime_alive_tasks` | gauge | — |
//! | `annograph_import_entries_total` | counter | `outcome` |
//! | `annograph_build_info` | gauge (always 1) | `version` |
//! | `process_start_time_seconds` | gauge | — |
//!
//! Label values are bounded: at most [`MAX_OPERATIONS`] operation names (then
//! `other`), and a name must be a GraphQL name of at most
//! [`MAX_OPERATION_NAME_LEN`] characters (else `other`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Most distinct operation names tracked; later ones are counted as `other`.
pub const MAX_OPERATIONS: usize = 100;
/// Longest operation name tracked; longer ones are counted as `other`.
pub const MAX_OPERATION_NAME_LEN: usize = 128;
/// Most distinct error codes and import outcomes tracked (then `other`).
const MAX_SMALL_LABELS: usize = 32;

/// The operation label of a request without an operation name.
pub const ANONYMOUS: &str = "anonymous";
/// The operation label of a batched request (several operations).
pub const BATCH: &str = "batch";
/// The label standing for every value past a bound.
pub const OTHER: &str = "other";

/// Upper bounds (seconds) of the request duration histogram's buckets.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug)]
pub struct Metrics {
    started: SystemTime,
    sql_statements: AtomicU64,
    active_subscriptions: AtomicU64,
    operations: Mutex<BTreeMap<String, OperationStats>>,
    errors: Mutex<BTreeMap<String, u64>>,
    imports: Mutex<BTreeMap<String, u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: SystemTime::now(),
            sql_statements: AtomicU64::new(0),
            active_subscriptions: AtomicU64::new(0),
            operations: Mutex::default(),
            errors: Mutex::default(),
            imports: Mutex::default(),
        }
    }
}

/// Requests of one operation: counts by HTTP status and a duration histogram.
#[derive(Debug, Default)]
struct OperationStats {
    by_status: BTreeMap<u16, u64>,
    /// Non-cumulative: `buckets[i]` counts durations in `(BUCKETS[i-1], BUCKETS[i]]`.
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// Counts one SQL statement sent to the database.
    pub fn record_statement(&self) {
        self.sql_statements.fetch_add(1, Ordering::Relaxed);
    }

    /// SQL statements sent since start.
    pub fn sql_statements(&self) -> u64 {
        self.sql_statements.load(Ordering::Relaxed)
    }

    /// Records one HTTP request to `/graphql`: its operation name (`None`:
    /// anonymous), the response status and how long it took.
    pub fn record_request(&self, operation: Option<&str>, status: u16, elapsed: Duration) {
        let mut operations = lock(&self.operations);
        let label = operation_label(&operations, operation);
        let stats = operations.entry(label).or_default();
        *stats.by_status.entry(status).or_default() += 1;
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            stats.buckets[i] += 1;
        }
        stats.count += 1;
        stats.sum += seconds;
    }

    /// Counts one GraphQL error sent to a client, by its `extensions.code`.
    pub fn record_error(&self, code: &str) {
        increment(&self.errors, code);
    }

    /// Counts one entry handled by an import, by outcome (a short fixed word
    /// such as `created`, `skipped` or `failed`; at most 32 distinct ones).
    pub fn record_import(&self, outcome: &str) {
        increment(&self.imports, outcome);
    }

    /// Counts `n` entries handled by an import with the same outcome.
    pub fn record_imports(&self, outcome: &str, n: u64) {
        if n > 0 {
            add(&self.imports, outcome, n);
        }
    }

    /// A subscription started (the `annograph_active_subscriptions` gauge
    /// goes up). Call [`Metrics::subscription_ended`] exactly once when it
    /// ends for any reason, or hold a [`Metrics::subscription_guard`] instead.
    pub fn subscription_started(&self) {
        self.active_subscriptions.fetch_add(1, Ordering::Relaxed);
    }

    /// A subscription ended (completed, failed, cancelled or its connection
    /// closed). Never goes below zero.
    pub fn subscription_ended(&self) {
        let _ = self
            .active_subscriptions
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Subscriptions running now.
    pub fn active_subscriptions(&self) -> u64 {
        self.active_subscriptions.load(Ordering::Relaxed)
    }

    /// Calls [`Metrics::subscription_started`] now and
    /// [`Metrics::subscription_ended`] when the guard is dropped (keep it in
    /// the subscription's stream so that it ends with it).
    pub fn subscription_guard(self: &Arc<Self>) -> SubscriptionGuard {
        self.subscription_started();
        SubscriptionGuard(self.clone())
    }

    /// Everything in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let operations = lock(&self.operations);
        header(
            &mut out,
            "annograph_http_requests_total",
            "counter",
            "HTTP requests to /graphql by GraphQL operation name and response status.",
        );
        for (operation, stats) in operations.iter() {
            for (status, n) in &stats.by_status {
                let _ = writeln!(
                    out,
                    "annograph_http_requests_total{{operation=\"{}\",status=\"{status}\"}} {n}",
                    escape(operation)
                );
            }
        }
        header(
            &mut out,
            "annograph_graphql_request_duration_seconds",
            "histogram",
            "Time to answer a /graphql request, by GraphQL operation name.",
        );
        for (operation, stats) in operations.iter() {
            let operation = escape(operation);
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(stats.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "annograph_graphql_request_duration_seconds_bucket{{operation=\"{operation}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "annograph_graphql_request_duration_seconds_bucket{{operation=\"{operation}\",le=\"+Inf\"}} {}\n\
                 annograph_graphql_request_duration_seconds_sum{{operation=\"{operation}\"}} {}\n\
                 annograph_graphql_request_duration_seconds_count{{operation=\"{operation}\"}} {}",
                stats.count, stats.sum, stats.count
            );
        }
        drop(operations);
        header(
            &mut out,
            "annograph_graphql_errors_total",
            "counter",
            "GraphQL errors sent to clients, by extensions.code.",
        );
        for (code, n) in lock(&self.errors).iter() {
            let _ = writeln!(
                out,
                "annograph_graphql_errors_total{{code=\"{}\"}} {n}",
                escape(code)
            );
        }
        header(
            &mut out,
            "annograph_sql_statements_total",
            "counter",
            "SQL statements sent to the database.",
        );
        let _ = writeln!(
            out,
            "annograph_sql_statements_total {}",
            self.sql_statements()
        );
        header(
            &mut out,
            "annograph_active_subscriptions",
            "gauge",
            "GraphQL subscriptions running now.",
        );
        let _ = writeln!(
            out,
            "annograph_active_subscriptions {}",
            self.active_subscriptions()
        );
        header(
            &mut out,
            "annograph_runtime_alive_tasks",
            "gauge",
            "Tasks alive in the server's async runtime (connections, requests, subscriptions, workers).",
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let _ = writeln!(
                out,
                "annograph_runtime_alive_tasks {}",
                runtime.metrics().num_alive_tasks()
            );
        }
        header(
            &mut out,
            "annograph_import_entries_total",
            "counter",
            "Import entries handled, by outcome.",
        );
        for (outcome, n) in lock(&self.imports).iter() {
            let _ = writeln!(
                out,
                "annograph_import_entries_total{{outcome=\"{}\"}} {n}",
                escape(outcome)
            );
        }
        header(
            &mut out,
            "annograph_build_info",
            "gauge",
            "The running build; always 1.",
        );
        let _ = writeln!(
            out,
            "annograph_build_info{{version=\"{}\"}} 1",
            escape(env!("CARGO_PKG_VERSION"))
        );
        header(
            &mut out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch in seconds.",
        );
        let started = self
            .started
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let _ = writeln!(out, "process_start_time_seconds {started}");
        out
    }
}

/// Ends a subscription in the metrics when dropped; see
/// [`Metrics::subscription_guard`].
#[derive(Debug)]
pub struct SubscriptionGuard(Arc<Metrics>);

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        self.0.subscription_ended();
    }
}

/// A poisoned lock only means a panic elsewhere; the counts are still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The label an operation is counted under: its name while fewer than
/// [`MAX_OPERATIONS`] names are tracked, `other` beyond that or for a name
/// that is not a GraphQL name, `anonymous` for none.
fn operation_label(tracked: &BTreeMap<String, OperationStats>, name: Option<&str>) -> String {
    let Some(name) = name else {
        return ANONYMOUS.to_owned();
    };
    if matches!(name, ANONYMOUS | BATCH | OTHER) || tracked.contains_key(name) {
        return name.to_owned();
    }
    let named = tracked
        .keys()
        .filter(|k| !matches!(k.as_str(), ANONYMOUS | BATCH | OTHER))
        .count();
    if named < MAX_OPERATIONS && is_operation_name(name) {
        name.to_owned()
    } else {
        OTHER.to_owned()
    }
}

/// Whether a name can be a label: a GraphQL name of at most
/// [`MAX_OPERATION_NAME_LEN`] characters.
pub fn is_operation_name(name: &str) -> bool {
    name.len() <= MAX_OPERATION_NAME_LEN && is_graphql_name(name)
}

/// `/[_A-Za-z][_0-9A-Za-z]*/`, the GraphQL `Name`.
fn is_graphql_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// Adds one to a counter of a small label set (at most [`MAX_SMALL_LABELS`]
/// values of at most 64 characters, then `other`).
fn increment(counters: &Mutex<BTreeMap<String, u64>>, label: &str) {
    add(counters, label, 1);
}

fn add(counters: &Mutex<BTreeMap<String, u64>>, label: &str, by: u64) {
    let mut counters = lock(counters);
    if let Some(n) = counters.get_mut(label) {
        *n += by;
        return;
    }
    let label = if counters.len() < MAX_SMALL_LABELS && label.len() <= 64 {
        label
    } else {
        OTHER
    };
    *counters.entry(label.to_owned()).or_default() += by;
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value escaped for the text format.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_operation_names() {
        let metrics = Metrics::default();
        for i in 0..MAX_OPERATIONS + 5 {
            metrics.record_request(Some(&format!("Op{i}")), 200, Duration::from_millis(3));
        }
        metrics.record_request(Some("Op0"), 200, Duration::from_millis(3));
        metrics.record_request(None, 200, Duration::from_millis(3));
        metrics.record_request(Some(BATCH), 200, Duration::from_millis(3));
        let text = metrics.render();
        assert!(text.contains("annograph_http_requests_total{operation=\"Op0\",status=\"200\"} 2"));
        assert!(text.contains(&format!(
            "annograph_http_requests_total{{operation=\"Op{}\",status=\"200\"}} 1",
            MAX_OPERATIONS - 1
        )));
        assert!(!text.contains(&format!("\"Op{}\"", MAX_OPERATIONS)));
        assert!(
            text.contains("annograph_http_requests_total{operation=\"other\",status=\"200\"} 5")
        );
        assert!(text.contains("{operation=\"anonymous\",status=\"200\"} 1"));
        assert!(text.contains("{operation=\"batch\",status=\"200\"} 1"));
    }

    #[test]
    fn refuses_names_that_are_not_graphql_names() {
        let metrics = Metrics::default();
        metrics.record_request(Some("a\"b\nc"), 400, Duration::ZERO);
        metrics.record_request(Some(""), 400, Duration::ZERO);
        metrics.record_request(Some(&"x".repeat(200)), 400, Duration::ZERO);
        let text = metrics.render();
        assert!(
            text.contains("annograph_http_requests_total{operation=\"other\",status=\"400\"} 3")
        );
        assert!(is_graphql_name("_My_Query2"));
        assert!(!is_graphql_name("2x"));
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn renders_a_cumulative_histogram() {
        let metrics = Metrics::default();
        metrics.record_request(Some("Q"), 200, Duration::from_millis(7));
        metrics.record_request(Some("Q"), 200, Duration::from_millis(300));
        metrics.record_request(Some("Q"), 400, Duration::from_secs(20));
        let text = metrics.render();
        for line in [
            "annograph_graphql_request_duration_seconds_bucket{operation=\"Q\",le=\"0.005\"} 0",
            "annograph_graphql_request_duration_seconds_bucket{operation=\"Q\",le=\"0.01\"} 1",
            "annograph_graphql_request_duration_seconds_bucket{operation=\"Q\",le=\"0.5\"} 2",
            "annograph_graphql_request_duration_seconds_bucket{operation=\"Q\",le=\"10\"} 2",
            "annograph_graphql_request_duration_seconds_bucket{operation=\"Q\",le=\"+Inf\"} 3",
            "annograph_graphql_request_duration_seconds_count{operation=\"Q\"} 3",
            "annograph_http_requests_total{operation=\"Q\",status=\"400\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn counts_subscriptions_errors_and_imports() {
        let metrics = Arc::new(Metrics::default());
        metrics.subscription_started();
        let guard = metrics.subscription_guard();
        assert_eq!(metrics.active_subscriptions(), 2);
        drop(guard);
        metrics.subscription_ended();
        metrics.subscription_ended();
        assert_eq!(metrics.active_subscriptions(), 0);
        metrics.record_error("NOT_FOUND");
        metrics.record_error("NOT_FOUND");
        metrics.record_import("created");
        let text = metrics.render();
        assert!(text.contains("annograph_graphql_errors_total{code=\"NOT_FOUND\"} 2"));
        assert!(text.contains("annograph_import_entries_total{outcome=\"created\"} 1"));
        assert!(text.contains("annograph_active_subscriptions 0"));
        assert!(text.contains(&format!(
            "annograph_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )));
    }
}

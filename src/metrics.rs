//! Prometheus metrics: HTTP requests by route and status, latency histograms,
//! LLM calls, fallbacks and tokens, searches, exports and account deletions,
//! database pool waits, replies being generated and open event streams. Kept
//! per process, as Prometheus expects (it scrapes every replica and sums).
//!
//! Each `Metrics` owns its own `prometheus::Registry` rather than using a
//! process-wide one, so every server (and every test server in one test
//! binary) counts on its own. Recording a request is a read-locked lookup of
//! the label set followed by atomic adds; only the first request with a new
//! label set takes a write lock. The one exception is the database pool's
//! wait histogram ([`db_pool_wait`]) and the SQLite writer's queue depth, batch
//! sizes and waits ([`db_write_queued`], [`db_write_batch`], [`db_write_wait`]):
//! the database layer records them without a handle on a `Metrics`, so they
//! are process-wide (a process has one pool and one writer) and every
//! registry exposes the same series.

use std::sync::LazyLock;

use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

/// Latency buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Pool-wait buckets, in seconds: an idle pool answers in microseconds; a
/// wait of tens of milliseconds means every connection was busy.
const POOL_WAIT_BUCKETS: &[f64] = &[
    0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0,
];

/// A metric family as exposed: name, HELP text and labels in exposition order.
struct Family {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
}

const HTTP_REQUESTS: Family = Family {
    name: "http_requests_total",
    help: "HTTP requests by method, route and status.",
    labels: &["method", "route", "status"],
};
const HTTP_LATENCY: Family = Family {
    name: "http_request_duration_seconds",
    help: "HTTP request latency by method and route.",
    labels: &["method", "route"],
};
const LLM_CALLS: Family = Family {
    name: "llm_calls_total",
    help: "Replies produced, by responder and outcome.",
    labels: &["provider", "outcome"],
};
const LLM_FALLBACKS: Family = Family {
    name: "llm_fallbacks_total",
    help: "Replies written by the offline responder.",
    labels: &[],
};
const LLM_TOKENS: Family = Family {
    name: "llm_tokens_total",
    help: "Tokens reported by the provider.",
    labels: &["kind"],
};

const FEEDBACK: Family = Family {
    name: "feedback_total",
    help: "Ratings given to replies, by rating.",
    labels: &["rating"],
};
const QUOTA_FALLBACKS: Family = Family {
    name: "quota_fallbacks_total",
    help:
        "Replies written by the offline responder because the user's daily token quota was used up.",
    labels: &[],
};
const RETENTION_DELETIONS: Family = Family {
    name: "retention_deleted_sessions_total",
    help: "Sessions deleted by the retention sweep.",
    labels: &[],
};
const SEARCHES: Family = Family {
    name: "searches_total",
    help: "Searches of messages answered.",
    labels: &[],
};
const EXPORTS: Family = Family {
    name: "exports_total",
    help:
        "Exports answered, by format (json, markdown: one session; account: all of a user's data).",
    labels: &["format"],
};
const ACCOUNT_DELETIONS: Family = Family {
    name: "account_deletions_total",
    help: "Accounts deleted by their owners.",
    labels: &[],
};

const DB_POOL_WAIT: Family = Family {
    name: "db_pool_wait_seconds",
    help: "Time to check out a database connection from the pool (per process).",
    labels: &[],
};
const DB_WRITE_WAIT: Family = Family {
    name: "db_write_wait_seconds",
    help: "Time a write waited in the single SQLite writer's queue before it ran (per process).",
    labels: &[],
};
const DB_WRITE_QUEUE: Family = Family {
    name: "db_write_queue_depth",
    help: "Writes waiting for the single SQLite writer now (per process).",
    labels: &[],
};
const DB_WRITE_BATCH: Family = Family {
    name: "db_write_batch_size",
    help: "Writes committed together in one transaction by the single SQLite writer (per process).",
    labels: &[],
};
const REPLIES_GENERATING: Family = Family {
    name: "replies_generating",
    help: "Replies this process is generating now.",
    labels: &[],
};
const SSE_STREAMS_OPEN: Family = Family {
    name: "sse_streams_open",
    help: "Server-Sent Event streams open now (sends, regenerates, edits, resumes).",
    labels: &[],
};

/// Process-wide: see the module comment. `None` only if the options above
/// were invalid, which the unit tests rule out.
static POOL_WAIT: LazyLock<Option<Histogram>> =
    LazyLock::new(|| histogram(&DB_POOL_WAIT, POOL_WAIT_BUCKETS));

/// A process-wide histogram of `family`.
fn histogram(family: &Family, buckets: &[f64]) -> Option<Histogram> {
    Histogram::with_opts(HistogramOpts::new(family.name, family.help).buckets(buckets.to_vec()))
        .ok()
}

/// Records how long checking out a database connection took.
pub fn db_pool_wait(seconds: f64) {
    if let Some(histogram) = POOL_WAIT.as_ref() {
        histogram.observe(seconds);
    }
}

/// Batch-size buckets: one write alone, up to the writer's largest batch.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

static WRITE_WAIT: LazyLock<Option<Histogram>> =
    LazyLock::new(|| histogram(&DB_WRITE_WAIT, POOL_WAIT_BUCKETS));

static WRITE_QUEUE: LazyLock<Option<IntGauge>> =
    LazyLock::new(|| IntGauge::with_opts(opts(&DB_WRITE_QUEUE)).ok());

static WRITE_BATCH: LazyLock<Option<Histogram>> =
    LazyLock::new(|| histogram(&DB_WRITE_BATCH, BATCH_BUCKETS));

/// Records how long a write waited for the SQLite writer.
pub fn db_write_wait(seconds: f64) {
    if let Some(histogram) = WRITE_WAIT.as_ref() {
        histogram.observe(seconds);
    }
}

/// Adds `change` to the writes waiting for the SQLite writer.
pub fn db_write_queued(change: i64) {
    if let Some(gauge) = WRITE_QUEUE.as_ref() {
        gauge.add(change);
    }
}

/// Records how many writes one transaction of the SQLite writer committed.
pub fn db_write_batch(jobs: usize) {
    if let Some(histogram) = WRITE_BATCH.as_ref() {
        histogram.observe(jobs as f64);
    }
}

/// The `prometheus` crate sorts labels by name; these families have always
/// been exposed in their declared order (`provider` before `outcome`), and
/// `render` keeps it so scrapes stay byte-for-byte what they were.
const LABELLED: [&Family; 4] = [&HTTP_REQUESTS, &HTTP_LATENCY, &LLM_CALLS, &LLM_TOKENS];

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    llm_calls: IntCounterVec,
    fallbacks: IntCounter,
    prompt_tokens: IntCounter,
    completion_tokens: IntCounter,
    feedback: IntCounterVec,
    quota_fallbacks: IntCounter,
    retention_deletions: IntCounter,
    searches: IntCounter,
    exports: IntCounterVec,
    account_deletions: IntCounter,
    replies_generating: IntGauge,
    sse_streams_open: IntGauge,
}

/// What an export holds, for [`Metrics::export`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Json,
    Markdown,
    Account,
}

impl ExportKind {
    fn label(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Markdown => "markdown",
            Self::Account => "account",
        }
    }
}

/// Counts an open event stream for as long as it lives (it is moved into
/// the response body, which is dropped when the stream ends or the client
/// goes away).
#[derive(Debug)]
pub struct OpenStream(IntGauge);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    /// A fresh set of metrics, all at zero, with its own registry.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(opts(&HTTP_REQUESTS), HTTP_REQUESTS.labels)?;
        let latency = HistogramVec::new(
            HistogramOpts::new(HTTP_LATENCY.name, HTTP_LATENCY.help).buckets(BUCKETS.to_vec()),
            HTTP_LATENCY.labels,
        )?;
        let llm_calls = IntCounterVec::new(opts(&LLM_CALLS), LLM_CALLS.labels)?;
        let fallbacks = IntCounter::with_opts(opts(&LLM_FALLBACKS))?;
        let tokens = IntCounterVec::new(opts(&LLM_TOKENS), LLM_TOKENS.labels)?;
        // Both token series exist from the start, at 0, as they always have.
        let prompt_tokens = tokens.get_metric_with_label_values(&["prompt"])?;
        let completion_tokens = tokens.get_metric_with_label_values(&["completion"])?;
        let feedback = IntCounterVec::new(opts(&FEEDBACK), FEEDBACK.labels)?;
        for rating in ["up", "down"] {
            feedback.get_metric_with_label_values(&[rating])?;
        }
        let quota_fallbacks = IntCounter::with_opts(opts(&QUOTA_FALLBACKS))?;
        let retention_deletions = IntCounter::with_opts(opts(&RETENTION_DELETIONS))?;
        let searches = IntCounter::with_opts(opts(&SEARCHES))?;
        let exports = IntCounterVec::new(opts(&EXPORTS), EXPORTS.labels)?;
        // Every format is listed from the start, at 0.
        for kind in [ExportKind::Json, ExportKind::Markdown, ExportKind::Account] {
            exports.get_metric_with_label_values(&[kind.label()])?;
        }
        let account_deletions = IntCounter::with_opts(opts(&ACCOUNT_DELETIONS))?;

        let replies_generating = IntGauge::with_opts(opts(&REPLIES_GENERATING))?;
        let sse_streams_open = IntGauge::with_opts(opts(&SSE_STREAMS_OPEN))?;
        let mut collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(requests.clone()),
            Box::new(latency.clone()),
            Box::new(llm_calls.clone()),
            Box::new(fallbacks.clone()),
            Box::new(tokens),
            Box::new(feedback.clone()),
            Box::new(quota_fallbacks.clone()),
            Box::new(retention_deletions.clone()),
            Box::new(searches.clone()),
            Box::new(exports.clone()),
            Box::new(account_deletions.clone()),
            Box::new(replies_generating.clone()),
            Box::new(sse_streams_open.clone()),
        ];
        if let Some(pool_wait) = POOL_WAIT.as_ref() {
            collectors.push(Box::new(pool_wait.clone()));
        }
        if let Some(write_wait) = WRITE_WAIT.as_ref() {
            collectors.push(Box::new(write_wait.clone()));
        }
        if let Some(write_queue) = WRITE_QUEUE.as_ref() {
            collectors.push(Box::new(write_queue.clone()));
        }
        if let Some(write_batch) = WRITE_BATCH.as_ref() {
            collectors.push(Box::new(write_batch.clone()));
        }
        for collector in collectors {
            registry.register(collector)?;
        }
        Ok(Self {
            registry,
            requests,
            latency,
            llm_calls,
            fallbacks,
            prompt_tokens,
            completion_tokens,
            feedback,
            quota_fallbacks,
            retention_deletions,
            searches,
            exports,
            account_deletions,
            replies_generating,
            sse_streams_open,
        })
    }

    /// Sets how many replies this process is generating (read from the chat
    /// service when the metrics are scraped).
    pub fn replies_generating(&self, count: usize) {
        self.replies_generating
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Counts an event stream as open until the returned value is dropped.
    pub fn stream_opened(&self) -> OpenStream {
        self.sse_streams_open.inc();
        OpenStream(self.sse_streams_open.clone())
    }

    pub fn http_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        // The label counts are fixed above, so these lookups cannot fail; a
        // metric must never fail a request anyway.
        if let Ok(counter) = self
            .requests
            .get_metric_with_label_values(&[method, route, &status])
        {
            counter.inc();
        }
        if let Ok(histogram) = self.latency.get_metric_with_label_values(&[method, route]) {
            histogram.observe(seconds);
        }
    }

    pub fn llm_call(&self, provider: &'static str, outcome: &'static str) {
        if let Ok(counter) = self
            .llm_calls
            .get_metric_with_label_values(&[provider, outcome])
        {
            counter.inc();
        }
    }

    pub fn fallback(&self) {
        self.fallbacks.inc();
    }

    pub fn llm_tokens(&self, prompt: u32, completion: u32) {
        self.prompt_tokens.inc_by(u64::from(prompt));
        self.completion_tokens.inc_by(u64::from(completion));
    }

    /// A rating given to a reply (`up` or `down`).
    pub fn feedback(&self, rating: &str) {
        if let Ok(counter) = self.feedback.get_metric_with_label_values(&[rating]) {
            counter.inc();
        }
    }

    pub fn search(&self) {
        self.searches.inc();
    }

    pub fn export(&self, kind: ExportKind) {
        if let Ok(counter) = self.exports.get_metric_with_label_values(&[kind.label()]) {
            counter.inc();
        }
    }

    /// A reply the offline responder wrote because the user's quota was used up.
    pub fn quota_fallback(&self) {
        self.quota_fallbacks.inc();
    }

    pub fn retention_deleted(&self, sessions: u64) {
        self.retention_deletions.inc_by(sessions);
    }

    pub fn account_deleted(&self) {
        self.account_deletions.inc();
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut families = self.registry.gather();
        for family in &mut families {
            let Some(declared) = LABELLED.iter().find(|f| f.name == family.name()) else {
                continue;
            };
            for metric in family.mut_metric() {
                metric
                    .mut_label()
                    .sort_by_key(|pair| declared.labels.iter().position(|l| *l == pair.name()));
            }
        }
        let mut out = String::new();
        if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&families, &mut out) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        out
    }
}

fn opts(family: &Family) -> Opts {
    Opts::new(family.name, family.help)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_keeps_names_labels_and_buckets() {
        let metrics = Metrics::new().unwrap();
        metrics.http_request("GET", "/sessions/{id}", 200, 0.02);
        metrics.http_request("GET", "/sessions/{id}", 200, 3.0);
        metrics.llm_call("provider", "error");
        metrics.fallback();
        metrics.llm_tokens(7, 3);
        metrics.feedback("down");
        metrics.quota_fallback();
        metrics.retention_deleted(7);
        metrics.search();
        metrics.export(ExportKind::Markdown);
        metrics.account_deleted();
        let text = metrics.render();
        for line in [
            "# HELP http_requests_total HTTP requests by method, route and status.",
            "# TYPE http_requests_total counter",
            r#"http_requests_total{method="GET",route="/sessions/{id}",status="200"} 2"#,
            "# TYPE http_request_duration_seconds histogram",
            r#"http_request_duration_seconds_bucket{method="GET",route="/sessions/{id}",le="0.005"} 0"#,
            r#"http_request_duration_seconds_bucket{method="GET",route="/sessions/{id}",le="0.025"} 1"#,
            r#"http_request_duration_seconds_bucket{method="GET",route="/sessions/{id}",le="2.5"} 1"#,
            r#"http_request_duration_seconds_bucket{method="GET",route="/sessions/{id}",le="5"} 2"#,
            r#"http_request_duration_seconds_bucket{method="GET",route="/sessions/{id}",le="30"} 2"#,
            r#"http_request_duration_seconds_bucket{method="GET",route="/sessions/{id}",le="+Inf"} 2"#,
            r#"http_request_duration_seconds_sum{method="GET",route="/sessions/{id}"} 3.02"#,
            r#"http_request_duration_seconds_count{method="GET",route="/sessions/{id}"} 2"#,
            "# HELP llm_calls_total Replies produced, by responder and outcome.",
            r#"llm_calls_total{provider="provider",outcome="error"} 1"#,
            "# HELP llm_fallbacks_total Replies written by the offline responder.",
            "llm_fallbacks_total 1",
            "# HELP llm_tokens_total Tokens reported by the provider.",
            r#"llm_tokens_total{kind="prompt"} 7"#,
            r#"llm_tokens_total{kind="completion"} 3"#,
            "# HELP feedback_total Ratings given to replies, by rating.",
            r#"feedback_total{rating="up"} 0"#,
            r#"feedback_total{rating="down"} 1"#,
            "quota_fallbacks_total 1",
            "retention_deleted_sessions_total 7",
            "searches_total 1",
            r#"exports_total{format="json"} 0"#,
            r#"exports_total{format="markdown"} 1"#,
            "account_deletions_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n---\n{text}");
        }
    }

    #[test]
    fn gauges_and_the_pool_wait_histogram_are_exposed() {
        let metrics = Metrics::new().unwrap();
        metrics.replies_generating(3);
        let first = metrics.stream_opened();
        let second = metrics.stream_opened();
        drop(first);
        db_pool_wait(0.000_2);
        let text = metrics.render();
        for line in [
            "# TYPE replies_generating gauge",
            "replies_generating 3",
            "# TYPE sse_streams_open gauge",
            "sse_streams_open 1",
            "# TYPE db_pool_wait_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n---\n{text}");
        }
        // Process-wide: other tests may have recorded waits too.
        let count = text
            .lines()
            .find_map(|l| l.strip_prefix("db_pool_wait_seconds_count "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap();
        assert!(count >= 1, "{text}");
        drop(second);
        assert!(metrics.render().lines().any(|l| l == "sse_streams_open 0"));
    }

    #[test]
    fn the_writer_queue_batches_and_waits_are_exposed() {
        let metrics = Metrics::new().unwrap();
        db_write_batch(3);
        db_write_wait(0.000_3);
        let text = metrics.render();
        for line in [
            "# TYPE db_write_queue_depth gauge",
            "# TYPE db_write_batch_size histogram",
            "# TYPE db_write_wait_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n---\n{text}");
        }
        // Process-wide: other tests may have recorded batches too, but a
        // batch of 3 lies above the bucket of 2.
        let [at_most_two, all] = [
            "db_write_batch_size_bucket{le=\"2\"} ",
            "db_write_batch_size_count ",
        ]
        .map(|prefix| {
            text.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap()
        });
        assert!(all > at_most_two, "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::new().unwrap();
        metrics.http_request("GET", "/a\"b\\c\nd", 404, 0.001);
        assert!(metrics
            .render()
            .contains(r#"route="/a\"b\\c\nd",status="404"} 1"#));
    }

    #[test]
    fn each_instance_counts_alone() {
        let first = Metrics::new().unwrap();
        let second = Metrics::new().unwrap();
        first.fallback();
        assert!(first.render().contains("llm_fallbacks_total 1"));
        assert!(second.render().contains("llm_fallbacks_total 0"));
    }
}

//! Every metric keel exports, by its contract name, in one registry per
//! server (so tests running several servers in one process do not mix
//! counts). Hot-path handles are resolved once here, never per request.

mod node;
mod outbox;
mod shards;

pub use node::*;
pub use outbox::*;
pub use shards::{CacheResult, Shard, Shards, Totals};

use std::sync::Arc;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

pub const HTTP_REQUESTS_TOTAL: &str = "keel_http_requests_total";
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "keel_http_request_duration_seconds";
pub const CACHE_REQUESTS_TOTAL: &str = "keel_cache_requests_total";
pub const CACHE_ENTRIES: &str = "keel_cache_entries";
pub const CACHE_BYTES: &str = "keel_cache_bytes";
pub const DB_QUERIES_TOTAL: &str = "keel_db_queries_total";
pub const DB_QUERY_DURATION_SECONDS: &str = "keel_db_query_duration_seconds";
pub const DB_ROWS_READ_TOTAL: &str = "keel_db_rows_read_total";
pub const RENDERS_TOTAL: &str = "keel_renders_total";
pub const RENDER_DURATION_SECONDS: &str = "keel_render_duration_seconds";
pub const EVENTS_APPLIED_TOTAL: &str = "keel_events_applied_total";
pub const EVENT_SEQ: &str = "keel_event_seq";
pub const INVALIDATION_LAG_SECONDS: &str = "keel_invalidation_lag_seconds";
pub const HTTP_REJECTED_TOTAL: &str = "keel_http_rejected_total";
pub const PANICS_TOTAL: &str = "keel_panics_total";

/// Latency buckets from 50 µs (a cache hit) to 10 s (a stuck query).
pub(crate) const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// From an event's commit to this node applying it: milliseconds normally,
/// seconds while the LISTEN connection is down and the poll catches up.
const LAG_BUCKETS: &[f64] = &[
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    /// Page reads' counters, one shard per worker (see [`Shards`]): cache
    /// lookups and the `page` route's requests and durations.
    pub shards: Shards,
    /// For page reads outside a worker (tests, tools).
    shared_shard: Arc<Shard>,
    pub cache_entries: IntGauge,
    pub cache_bytes: IntGauge,
    pub db_queries: IntCounterVec,
    /// Entries read by store queries that return entries, by operation.
    pub db_rows: IntCounterVec,
    pub db_duration: HistogramVec,
    pub renders: IntCounter,
    pub render_duration: Histogram,
    pub events_applied: IntCounter,
    pub event_seq: IntGauge,
    pub invalidation_lag: Histogram,
    /// Requests the HTTP front refused, by reason (malformed, too large,
    /// ...): a client's fault, so counted here and logged at debug only.
    pub http_rejected: IntCounterVec,
    /// Panics in the process ([`crate::panics`]), caught up at each scrape.
    panics: IntCounter,
    pub outbox: OutboxMetrics,
    pub node: NodeMetrics,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let latency = |name: &str, help: &str| {
            HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec())
        };
        let http_requests = IntCounterVec::new(
            Opts::new(
                HTTP_REQUESTS_TOTAL,
                "HTTP requests by route pattern and status",
            ),
            &["route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            latency(
                HTTP_REQUEST_DURATION_SECONDS,
                "HTTP request duration by route pattern",
            ),
            &["route"],
        )
        .expect("valid metric");
        let shards = Shards::default();
        let metrics = Metrics {
            http_requests,
            http_duration,
            shared_shard: shards.new_shared_shard(),
            shards,
            cache_entries: IntGauge::new(CACHE_ENTRIES, "Pages held in the cache")
                .expect("valid metric"),
            cache_bytes: IntGauge::new(CACHE_BYTES, "Bytes held in the cache (all encodings)")
                .expect("valid metric"),
            db_queries: IntCounterVec::new(
                Opts::new(DB_QUERIES_TOTAL, "Queries sent to the store, by operation"),
                &["op"],
            )
            .expect("valid metric"),
            db_rows: IntCounterVec::new(
                Opts::new(
                    DB_ROWS_READ_TOTAL,
                    "Entries read from the store, by operation",
                ),
                &["op"],
            )
            .expect("valid metric"),
            db_duration: HistogramVec::new(
                latency(
                    DB_QUERY_DURATION_SECONDS,
                    "Store query duration, by operation",
                ),
                &["op"],
            )
            .expect("valid metric"),
            renders: IntCounter::new(RENDERS_TOTAL, "Pages rendered").expect("valid metric"),
            render_duration: Histogram::with_opts(latency(
                RENDER_DURATION_SECONDS,
                "Time to render and compress one page",
            ))
            .expect("valid metric"),
            events_applied: IntCounter::new(
                EVENTS_APPLIED_TOTAL,
                "Events from the store's log applied on this node",
            )
            .expect("valid metric"),
            event_seq: IntGauge::new(EVENT_SEQ, "Seq of the last event applied on this node")
                .expect("valid metric"),
            invalidation_lag: Histogram::with_opts(
                HistogramOpts::new(
                    INVALIDATION_LAG_SECONDS,
                    "Time from an event's commit to this node applying it",
                )
                .buckets(LAG_BUCKETS.to_vec()),
            )
            .expect("valid metric"),
            http_rejected: IntCounterVec::new(
                Opts::new(
                    HTTP_REJECTED_TOTAL,
                    "Requests refused by the HTTP front, by reason",
                ),
                &["reason"],
            )
            .expect("valid metric"),
            panics: IntCounter::new(
                PANICS_TOTAL,
                "Panics in the process (each closed a connection)",
            )
            .expect("valid metric"),
            outbox: OutboxMetrics::new(),
            node: NodeMetrics::new(),
            registry,
        };
        metrics.register();
        metrics
    }

    fn register(&self) {
        let collectors: [Box<dyn prometheus::core::Collector>; 14] = [
            Box::new(self.http_requests.clone()),
            Box::new(self.http_duration.clone()),
            Box::new(self.cache_entries.clone()),
            Box::new(self.cache_bytes.clone()),
            Box::new(self.db_queries.clone()),
            Box::new(self.db_rows.clone()),
            Box::new(self.db_duration.clone()),
            Box::new(self.renders.clone()),
            Box::new(self.render_duration.clone()),
            Box::new(self.events_applied.clone()),
            Box::new(self.event_seq.clone()),
            Box::new(self.invalidation_lag.clone()),
            Box::new(self.http_rejected.clone()),
            Box::new(self.panics.clone()),
        ];
        let more = self
            .outbox
            .collectors()
            .into_iter()
            .chain(self.node.collectors());
        for c in collectors.into_iter().chain(more) {
            self.registry.register(c).expect("metric names are unique");
        }
        // Open files against their limit, above all: each reader's
        // connection is one, and running out refuses new readers.
        #[cfg(target_os = "linux")]
        self.registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("metric names are unique");
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// A shard for a caller with no worker of its own (any thread).
    pub fn shared_shard(&self) -> &Arc<Shard> {
        &self.shared_shard
    }

    /// Counts and times one response on the `page` route in `shard`.
    pub fn page(&self, shard: &Shard, status: u16, seconds: f64) {
        if !shard.page(status, seconds) {
            self.http_requests
                .with_label_values(&[PAGE_ROUTE, &status.to_string()])
                .inc();
        }
    }

    /// `keel_cache_requests_total{result}` so far, over every shard.
    pub fn cache_requests(&self, result: CacheResult) -> u64 {
        self.shards.totals().cache(result)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        // The hook cannot reach a registry; the count catches up here.
        let panics = crate::panics::count();
        self.panics.inc_by(panics.saturating_sub(self.panics.get()));
        let mut out = Vec::with_capacity(8 * 1024);
        let encoder = TextEncoder::new();
        let mut families = self.registry.gather();
        self.shards.merge_into(&mut families);
        if let Err(e) = encoder.encode(&families, &mut out) {
            tracing::warn!(error = %e, "could not encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// `GET /metrics`: the Prometheus text format.
pub async fn metrics_endpoint(metrics: actix_web::web::Data<Metrics>) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(metrics.render())
}

/// Middleware body: counts and times each request under its route pattern
/// (never the raw path, which would let any client mint new series).
pub async fn observe_request(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let start = std::time::Instant::now();
    let metrics = req.app_data::<actix_web::web::Data<Metrics>>().cloned();
    let shard = req.app_data::<actix_web::web::Data<Shard>>().cloned();
    let res = next.call(req).await?;
    if let Some(metrics) = metrics {
        let elapsed = start.elapsed().as_secs_f64();
        let status = res.status();
        match route_pattern(res.request()) {
            Some(route) => {
                metrics
                    .http_requests
                    .with_label_values(&[route.as_str(), status.as_str()])
                    .inc();
                metrics
                    .http_duration
                    .with_label_values(&[route.as_str()])
                    .observe(elapsed);
            }
            // Public pages come through the default service: one label for
            // all of them, in this worker's shard.
            None => metrics.page(
                shard.as_deref().unwrap_or(metrics.shared_shard()),
                status.as_u16(),
                elapsed,
            ),
        }
    }
    Ok(res)
}

/// The pattern of the route that matches the request, `None` for a public
/// page. `match_pattern` walks every route again (regexes included), which
/// costs a page hit more than its lookup; a GET the router handed to the
/// default service without consuming any of its path matched no pattern
/// (only a method guard can turn a matching route down, and every route
/// guarded so answers GET), so it is known to be a page without the walk.
fn route_pattern(req: &actix_web::HttpRequest) -> Option<String> {
    let path = req.match_info();
    let unrouted = path.unprocessed().len() == path.as_str().len();
    if unrouted && req.method() == actix_web::http::Method::GET {
        return None;
    }
    req.match_pattern()
}

/// The route label of public pages served by the cache (any path that no
/// route pattern matched).
pub const PAGE_ROUTE: &str = "page";

#[cfg(test)]
mod tests {
    use actix_web::middleware::from_fn;
    use actix_web::test::{self as actix_test, TestRequest};
    use actix_web::{App, HttpResponse, web};

    use super::*;

    /// Every label the middleware records after these requests, as
    /// `route status` pairs.
    async fn labels_after(requests: Vec<TestRequest>) -> Vec<String> {
        let metrics = web::Data::new(Metrics::new());
        let app = actix_test::init_service(
            App::new()
                .app_data(metrics.clone())
                .wrap(from_fn(observe_request))
                .route("/metrics", web::get().to(HttpResponse::Ok))
                .service(web::resource("/api/v1/content/{tail:.*}").to(HttpResponse::Ok))
                .service(
                    web::scope("/api/v1")
                        .route("/entries/{type}", web::post().to(HttpResponse::Created)),
                )
                .default_service(web::to(HttpResponse::NotFound)),
        )
        .await;
        for req in requests {
            actix_test::call_service(&app, req.to_request()).await;
        }
        // Lines such as `keel_http_requests_total{route="page",status="404"} 2`.
        let prefix = format!("{HTTP_REQUESTS_TOTAL}{{route=\"");
        let mut labels: Vec<String> = metrics
            .render()
            .lines()
            .filter(|line| !line.ends_with(" 0"))
            .filter_map(|line| line.strip_prefix(&prefix))
            .filter_map(|rest| {
                let (route, rest) = rest.split_once("\",status=\"")?;
                let (status, _) = rest.split_once('"')?;
                Some(format!("{route} {status}"))
            })
            .collect();
        labels.sort();
        labels
    }

    #[actix_web::test]
    async fn requests_are_labelled_by_route_pattern_and_pages_as_page() {
        use actix_web::http::Method;
        let get = TestRequest::get;
        let labels = labels_after(vec![
            get().uri("/teams/rovers"),
            get().uri("/caf%C3%A9?x=1"),
            get().uri("/metrics"),
            // Turned down by the GET guard, answered by the default service,
            // still labelled by the pattern its path matches.
            TestRequest::default().method(Method::HEAD).uri("/metrics"),
            get().uri("/api/v1/content/team/rovers"),
            TestRequest::post().uri("/api/v1/entries/team"),
            get().uri("/api/v1/nowhere"),
        ])
        .await;
        assert_eq!(
            labels,
            [
                "/api/v1/content/{tail:.*} 200",
                "/api/v1/entries/{type} 201",
                "/metrics 200",
                "/metrics 404",
                "page 404",
            ]
        );
    }

    #[test]
    fn every_contract_name_is_exported() {
        let m = Metrics::new();
        m.http_requests.with_label_values(&["/", "200"]).inc();
        m.http_duration.with_label_values(&["/"]).observe(0.001);
        m.db_queries.with_label_values(&["page"]).inc();
        m.db_duration.with_label_values(&["page"]).observe(0.001);
        m.db_rows.with_label_values(&["listed"]).inc();
        m.invalidation_lag.observe(0.01);
        m.http_rejected.with_label_values(&["malformed"]).inc();
        m.outbox.register_destination("varnish:http://edge/");
        let text = m.render();
        for name in [
            HTTP_REQUESTS_TOTAL,
            HTTP_REQUEST_DURATION_SECONDS,
            CACHE_REQUESTS_TOTAL,
            CACHE_ENTRIES,
            CACHE_BYTES,
            DB_QUERIES_TOTAL,
            DB_QUERY_DURATION_SECONDS,
            DB_ROWS_READ_TOTAL,
            RENDERS_TOTAL,
            RENDER_DURATION_SECONDS,
            EVENTS_APPLIED_TOTAL,
            EVENT_SEQ,
            INVALIDATION_LAG_SECONDS,
            HTTP_REJECTED_TOTAL,
            PANICS_TOTAL,
            OUTBOX_BACKLOG,
            OUTBOX_DELIVERIES_TOTAL,
            OUTBOX_FORCED_TOTAL,
            OUTBOX_DELIVERY_DURATION_SECONDS,
            OUTBOX_LAG_SECONDS,
            OUTBOX_SENDING,
            NODE_HELD_SEQ,
            NODES_LIVE,
            NODE_READY,
            DB_CIRCUIT_OPEN,
            DB_POOL_CONNECTIONS,
            DB_POOL_WAITING,
        ] {
            assert!(text.contains(name), "{name} missing");
        }
    }
}

//! Requests by route and status class, and their latency by route: counted by a middleware
//! around every route, into a fixed table (no lock, no label set that grows with input).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use purser_engine::stats::Histogram;

/// The routes as metrics name them: a path's variable parts are named, not copied, so that
/// the series stay few whatever clients send.
pub const ROUTES: &[&str] = &[
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/metrics",
    "/v1/accounts",
    "/v1/accounts/{path}",
    "/v1/accounts/{path}:report",
    "/v1/accounts/{path}:forecast",
    "/v1/accounts/{path}:allocate",
    "/v1/usage",
    "/v1/usage:batch",
    "/v1/reservations",
    "/v1/reservations/{id}",
    "/v1/dags",
    "/v1/dags/{id}",
    "/v1/workers/{id}",
    "/v1/tasks/{id}",
    "/v1/optimizer:run",
    "/v1/audit",
    "/v1/events",
    "/ui",
    "other",
];

/// The status classes counted: 1xx to 5xx.
pub const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Counts and latencies of every route.
#[derive(Debug)]
pub struct HttpStats {
    requests: Box<[[AtomicU64; 5]]>,
    latency: Box<[Histogram]>,
}

impl Default for HttpStats {
    fn default() -> Self {
        HttpStats {
            requests: ROUTES.iter().map(|_| Default::default()).collect(),
            latency: ROUTES.iter().map(|_| Histogram::latency()).collect(),
        }
    }
}

impl HttpStats {
    pub fn observe(&self, route: usize, status: u16, nanos: u64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[route][class].fetch_add(1, Relaxed);
        self.latency[route].observe(nanos);
    }

    /// Requests of `route` in status class `class` (an index of [`CLASSES`]).
    pub fn requests(&self, route: usize, class: usize) -> u64 {
        self.requests[route][class].load(Relaxed)
    }

    pub fn latency(&self, route: usize) -> &Histogram {
        &self.latency[route]
    }
}

/// The index in [`ROUTES`] of a request's route.
pub fn route_of(path: &str) -> usize {
    let named = if let Some(rest) = path.strip_prefix("/v1/accounts/") {
        match rest.rsplit_once(':').map(|(_, method)| method) {
            None => "/v1/accounts/{path}",
            Some("report") => "/v1/accounts/{path}:report",
            Some("forecast") => "/v1/accounts/{path}:forecast",
            Some("allocate") => "/v1/accounts/{path}:allocate",
            Some(_) => "other",
        }
    } else if path.starts_with("/ui/") || path == "/" || path == "/ui" {
        "/ui"
    } else if let Some(prefix) = [
        "/v1/reservations/",
        "/v1/dags/",
        "/v1/workers/",
        "/v1/tasks/",
    ]
    .iter()
    .find(|prefix| path.len() > prefix.len() && path.starts_with(*prefix))
    {
        return ROUTES
            .iter()
            .position(|route| route.strip_suffix("{id}") == Some(prefix))
            .unwrap_or(ROUTES.len() - 1);
    } else {
        path
    };
    ROUTES
        .iter()
        .position(|route| *route == named)
        .unwrap_or(ROUTES.len() - 1)
}

/// The middleware: times the handler and counts its answer.
pub async fn observe(
    State(stats): State<std::sync::Arc<HttpStats>>,
    request: Request,
    next: Next,
) -> Response {
    let route = route_of(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    stats.observe(
        route,
        response.status().as_u16(),
        started.elapsed().as_nanos() as u64,
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_their_variable_parts_and_stay_few() {
        for (path, route) in [
            ("/v1/usage", "/v1/usage"),
            ("/v1/usage:batch", "/v1/usage:batch"),
            ("/v1/accounts", "/v1/accounts"),
            ("/v1/accounts/acme/wf-1", "/v1/accounts/{path}"),
            (
                "/v1/accounts/acme/wf-1:report",
                "/v1/accounts/{path}:report",
            ),
            ("/v1/accounts/acme:close-all", "other"),
            ("/v1/reservations/rsv_1:settle", "/v1/reservations/{id}"),
            ("/v1/dags/12", "/v1/dags/{id}"),
            ("/v1/dags", "/v1/dags"),
            ("/v1/workers/local-0:lease", "/v1/workers/{id}"),
            ("/", "/ui"),
            ("/ui/accounts", "/ui"),
            ("/no/such/thing", "other"),
            ("/metrics", "/metrics"),
        ] {
            assert_eq!(ROUTES[route_of(path)], route, "{path}");
        }
    }

    #[test]
    fn answers_are_counted_by_class() {
        let stats = HttpStats::default();
        let usage = route_of("/v1/usage");
        stats.observe(usage, 200, 1_000);
        stats.observe(usage, 201, 1_000);
        stats.observe(usage, 429, 1_000);
        stats.observe(usage, 503, 1_000);
        assert_eq!(stats.requests(usage, 1), 2);
        assert_eq!(stats.requests(usage, 3), 1);
        assert_eq!(stats.requests(usage, 4), 1);
        assert_eq!(stats.latency(usage).figures().count, 4);
    }
}

//! `GET /metrics`: the Prometheus text exposition (OpenMetrics when the scraper asks for it),
//! encoded with the `prometheus-client` crate from one consistent gathering of the engine's
//! figures (`purser_engine::view::metrics`), its counters (`purser_engine::stats`) and the
//! HTTP layer's (`http.rs`). Names follow Prometheus conventions: a configurable prefix, base
//! units, `_total` on counters. The catalogue is in `docs/monitoring.md`.

mod fleet;
pub mod http;

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use purser_engine::stats::{EngineStats, Histogram};
use purser_engine::view::metrics::MetricsView;

use self::http::{CLASSES, HttpStats, ROUTES};

/// Everything one scrape shows.
#[derive(Debug)]
pub struct Scrape {
    pub prefix: String,
    pub view: MetricsView,
    /// The process's own figures; `None` for a caller whose token has a scope.
    pub process: Option<Process>,
}

/// What only an unscoped caller sees: the engine, the journal and the HTTP layer.
#[derive(Debug)]
pub struct Process {
    pub engine: Arc<EngineStats>,
    pub http: Arc<HttpStats>,
    pub queue_depth: u64,
    pub queue_capacity: u64,
    pub journal_bytes: u64,
    /// Series left out over every scrape so far, this one included.
    pub omitted_total: u64,
    /// Agents, the profiles' HPA decisions and the resource monitor's findings.
    pub fleet: crate::fleet::FleetGauges,
}

/// Encodes `scrape`, as OpenMetrics (with its `# EOF`) or as the Prometheus text format.
pub fn render(scrape: Scrape, openmetrics: bool) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut text = String::with_capacity(64 << 10);
    let encoded = if openmetrics {
        prometheus_client::encoding::text::encode(&mut text, &registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
    };
    // Writing to a String does not fail; an encoder's refusal would be a bug here.
    if let Err(err) = encoded {
        let _ = writeln!(text, "# encoding failed: {err}");
    }
    text
}

/// Writes one family: its descriptor, then every series.
struct Family<'a, 'e> {
    encoder: &'a mut DescriptorEncoder<'e>,
    prefix: &'a str,
}

impl Family<'_, '_> {
    fn gauges<L: EncodeLabelSet, V: prometheus_client::encoding::EncodeGaugeValue>(
        &mut self,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (L, V)>,
    ) -> Result<(), std::fmt::Error> {
        let name = format!("{}{name}", self.prefix);
        let mut metric = self
            .encoder
            .encode_descriptor(&name, help, None, MetricType::Gauge)?;
        for (labels, value) in series {
            metric.encode_family(&labels)?.encode_gauge(&value)?;
        }
        Ok(())
    }

    fn gauge(&mut self, name: &str, help: &str, value: f64) -> Result<(), std::fmt::Error> {
        let name = format!("{}{name}", self.prefix);
        self.encoder
            .encode_descriptor(&name, help, None, MetricType::Gauge)?
            .encode_gauge(&value)
    }

    /// A counter; `name` without `_total`, which the encoder adds.
    fn counters<L: EncodeLabelSet>(
        &mut self,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (L, u64)>,
    ) -> Result<(), std::fmt::Error> {
        let name = format!("{}{name}", self.prefix);
        let mut metric = self
            .encoder
            .encode_descriptor(&name, help, None, MetricType::Counter)?;
        for (labels, value) in series {
            metric
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
        }
        Ok(())
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) -> Result<(), std::fmt::Error> {
        let name = format!("{}{name}", self.prefix);
        self.encoder
            .encode_descriptor(&name, help, None, MetricType::Counter)?
            .encode_counter::<NoLabelSet, _, u64>(&value, None)
    }

    fn histograms<'h, L: EncodeLabelSet>(
        &mut self,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (L, &'h Histogram)>,
    ) -> Result<(), std::fmt::Error> {
        let name = format!("{}{name}", self.prefix);
        let mut metric =
            self.encoder
                .encode_descriptor(&name, help, None, MetricType::Histogram)?;
        for (labels, histogram) in series {
            let figures = histogram.figures();
            metric
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(
                    figures.sum,
                    figures.count,
                    &figures.buckets,
                    None,
                )?;
        }
        Ok(())
    }

    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        histogram: &Histogram,
    ) -> Result<(), std::fmt::Error> {
        let name = format!("{}{name}", self.prefix);
        let figures = histogram.figures();
        self.encoder
            .encode_descriptor(&name, help, None, MetricType::Histogram)?
            .encode_histogram::<NoLabelSet>(figures.sum, figures.count, &figures.buckets, None)
    }
}

type Labels<'a> = [(&'static str, &'a str); 2];
type Labels3<'a> = [(&'static str, &'a str); 3];

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = Family {
            encoder: &mut encoder,
            prefix: &self.prefix,
        };
        self.encode_accounts(&mut family)?;
        if let Some(process) = &self.process {
            encode_process(process, &mut family)?;
            fleet::encode(&process.fleet, &mut family)?;
        }
        if let Some(sched) = &self.view.sched {
            encode_sched(sched, &mut family)?;
        }
        Ok(())
    }
}

impl Scrape {
    fn encode_accounts(&self, family: &mut Family<'_, '_>) -> Result<(), std::fmt::Error> {
        let accounts = &self.view.accounts;
        let per_dim = || {
            accounts.iter().flat_map(|account| {
                account.dims.iter().map(move |dim| -> (Labels<'_>, _) {
                    (
                        [
                            ("account", account.path.as_str()),
                            ("dimension", &*dim.dimension),
                        ],
                        dim,
                    )
                })
            })
        };
        let limited = || per_dim().filter(|(_, dim)| dim.limit.is_some());
        family.gauges(
            "account_limit",
            "The account's limit in the dimension's unit (only limited dimensions).",
            limited().map(|(labels, dim)| (labels, dim.limit.unwrap_or(0))),
        )?;
        family.gauges(
            "account_consumed",
            "Consumed in the current period, here and below.",
            per_dim().map(|(labels, dim)| (labels, dim.consumed)),
        )?;
        family.gauges(
            "account_reserved",
            "Held by open reservations, here and below.",
            per_dim().map(|(labels, dim)| (labels, dim.reserved)),
        )?;
        family.gauges(
            "account_remaining",
            "Limit minus consumed minus reserved (only limited dimensions).",
            limited().map(|(labels, dim)| (labels, dim.remaining.unwrap_or(0))),
        )?;
        family.gauges(
            "account_used_ratio",
            "(consumed + reserved) / limit.",
            limited().map(|(labels, dim)| (labels, dim.used_ratio.unwrap_or(0.0))),
        )?;
        family.gauges(
            "account_level",
            "The level the dimension holds the account at: 0 green, 1 yellow (warn), 2 orange (throttle), 3 red (degrade), 4 black (stop).",
            per_dim().map(|(labels, dim)| (labels, dim.level as i64)),
        )?;
        family.gauges(
            "account_level_info",
            "The account's own level by name (always 1).",
            accounts.iter().map(|account| {
                (
                    [
                        ("account", account.path.as_str()),
                        ("level", account.level.as_str()),
                    ],
                    1i64,
                )
            }),
        )?;
        family.gauges(
            "account_forecast_exhaustion_seconds",
            "Seconds until the last forecast sees the stop threshold reached (only where it does).",
            per_dim().filter_map(|(labels, dim)| Some((labels, dim.exhaustion_s?))),
        )?;
        family.gauges(
            "account_forecast_confidence",
            "Backtested share of that forecast's predictions within 10 % (0 to 1).",
            per_dim().filter_map(|(labels, dim)| Some((labels, dim.confidence?))),
        )?;
        family.gauge(
            "accounts",
            "Open accounts in the caller's scope.",
            self.view.n_accounts as f64,
        )?;
        family.gauge(
            "increase_requests_pending",
            "Requests for more budget waiting for an operator's decision, in the caller's scope.",
            self.view.n_requests_pending as f64,
        )?;
        family.gauge(
            "accounts_halted",
            "Open accounts stopped by a cap in force: a run cap, a loop set to stop, an expired one-time budget.",
            self.view.n_halted as f64,
        )?;
        family.gauge(
            "metrics_scrape_series_omitted",
            "Account-dimension series this scrape left out ([metrics] account_depth and series_max).",
            self.view.omitted as f64,
        )?;
        if let Some(process) = &self.process {
            family.counter(
                "metrics_series_omitted",
                "Account-dimension series left out, summed over every scrape.",
                process.omitted_total,
            )?;
        }
        Ok(())
    }
}

fn encode_process(process: &Process, family: &mut Family<'_, '_>) -> Result<(), std::fmt::Error> {
    let stats = &process.engine;
    let count = |counter: &std::sync::atomic::AtomicU64| counter.load(Relaxed);
    family.counter(
        "usage_reports",
        "Usage reports applied (duplicates included).",
        count(&stats.usage_reports),
    )?;
    for (name, help, counter) in [
        (
            "reservations_created",
            "Reservations opened.",
            &stats.reservations_created,
        ),
        (
            "reservations_settled",
            "Reservations settled.",
            &stats.reservations_settled,
        ),
        (
            "reservations_voided",
            "Reservations voided.",
            &stats.reservations_voided,
        ),
        (
            "reservations_expired",
            "Reservations that expired unsettled.",
            &stats.reservations_expired,
        ),
        (
            "idempotent_duplicates",
            "Reports and holds answered from their idempotency key, counted once.",
            &stats.duplicates,
        ),
        ("alerts", "Forecast alerts raised.", &stats.alerts),
        (
            "period_renewals",
            "Budget periods renewed.",
            &stats.period_renewals,
        ),
    ] {
        family.counter(name, help, count(counter))?;
    }
    family.counters(
        "denials",
        "Refusals by a budget: holds that would pass a stop threshold (budget_exhausted), DAGs whose next task their account cannot afford (dag_paused).",
        [
            ([("reason", "budget_exhausted")], count(&stats.denials_budget)),
            ([("reason", "dag_paused")], count(&stats.denials_dag_budget)),
        ],
    )?;
    family.counters(
        "optimizer_moves",
        "The optimizer's moves: budget reclaimed from idle accounts and granted to those forecast to run out.",
        [
            ([("kind", "reclaim")], count(&stats.reclaims)),
            ([("kind", "grant")], count(&stats.grants)),
        ],
    )?;
    let http = &process.http;
    family.counters(
        "http_requests",
        "HTTP requests by route and status class.",
        ROUTES
            .iter()
            .enumerate()
            .flat_map(|(route, name)| {
                CLASSES
                    .iter()
                    .enumerate()
                    .map(move |(class, status)| (route, class, *name, *status))
            })
            .filter_map(|(route, class, name, status)| {
                let value = http.requests(route, class);
                (value > 0).then_some(([("route", name), ("status", status)], value))
            }),
    )?;
    family.histograms(
        "http_request_duration_seconds",
        "Time from a request's head to its answer, by route.",
        ROUTES
            .iter()
            .enumerate()
            .filter(|(route, _)| http.latency(*route).figures().count > 0)
            .map(|(route, name)| ([("route", *name)], http.latency(route))),
    )?;
    family.histogram(
        "commit_duration_seconds",
        "Time of one group commit (the journal's durable append).",
        &stats.commit_seconds,
    )?;
    family.histogram(
        "commit_records",
        "Records per group commit.",
        &stats.commit_records,
    )?;
    family.histogram(
        "engine_batch_jobs",
        "Requests the writer applied in one batch.",
        &stats.batch_jobs,
    )?;
    family.gauge(
        "engine_queue_depth",
        "Requests waiting for the writer.",
        process.queue_depth as f64,
    )?;
    family.gauge(
        "engine_queue_capacity",
        "Requests that may wait for the writer before senders wait.",
        process.queue_capacity as f64,
    )?;
    family.gauge(
        "journal_size_bytes",
        "Bytes of the journal's files on disk.",
        process.journal_bytes as f64,
    )?;
    family.gauge(
        "snapshot_last_seq",
        "The event sequence number of the last snapshot.",
        count(&stats.snapshot_seq) as f64,
    )?;
    family.gauge(
        "snapshot_duration_seconds",
        "How long the last snapshot took (0 before the first of this process).",
        count(&stats.snapshot_micros) as f64 / 1e6,
    )?;
    family.gauges(
        "build_info",
        "The running version (always 1).",
        [([("version", env!("CARGO_PKG_VERSION"))], 1i64)],
    )?;
    Ok(())
}

fn encode_sched(
    sched: &purser_sched::SchedGauges,
    family: &mut Family<'_, '_>,
) -> Result<(), std::fmt::Error> {
    family.gauges(
        "tasks",
        "Tasks by state and the pool of their current or last placement (none before one).",
        sched
            .tasks
            .iter()
            .map(|(state, pool, n)| -> (Labels<'_>, _) {
                ([("state", state), ("pool", pool)], *n)
            }),
    )?;
    let pools = || {
        sched.pools.iter().map(|pool| -> (Labels<'_>, _) {
            (
                [
                    ("pool", pool.pool.as_str()),
                    ("dimension", pool.dimension.as_str()),
                ],
                pool,
            )
        })
    };
    family.gauges(
        "pool_capacity",
        "What a pool's machines offer in all, per dimension.",
        pools().map(|(labels, pool)| (labels, pool.capacity)),
    )?;
    family.gauges(
        "pool_used",
        "What placed tasks hold of a pool, per dimension.",
        pools().map(|(labels, pool)| (labels, pool.used)),
    )?;
    family.gauges(
        "pool_utilization_ratio",
        "used / capacity of a pool, per dimension.",
        pools().map(|(labels, pool)| (labels, pool.utilization())),
    )?;
    let quotas = || {
        sched.quotas.iter().map(|quota| -> (Labels3<'_>, _) {
            (
                [
                    ("tenant", quota.tenant.as_str()),
                    ("pool", quota.pool.as_str()),
                    ("dimension", quota.dimension.as_str()),
                ],
                quota,
            )
        })
    };
    family.gauges(
        "quota_used",
        "What a tenant's placed tasks hold of its quota.",
        quotas().map(|(labels, quota)| (labels, quota.used)),
    )?;
    family.gauges(
        "quota_nominal",
        "A tenant's nominal quota.",
        quotas().map(|(labels, quota)| (labels, quota.nominal)),
    )?;
    family.gauges(
        "quota_borrowed",
        "What a tenant uses beyond its nominal quota, lent by the cohort.",
        quotas().map(|(labels, quota)| (labels, quota.borrowed)),
    )?;
    family.gauge(
        "eligible_tasks",
        "Tasks ready and waiting for a machine: what worker autoscaling follows.",
        sched.eligible as f64,
    )?;
    family.gauges(
        "dag_cost_micros",
        "What an unfinished charged DAG has cost so far (settled plus held), in micro-units.",
        sched.dag_costs.iter().map(|(dag, account, micros)| {
            (
                [("dag", format!("dag_{dag}")), ("account", account.clone())],
                *micros,
            )
        }),
    )?;
    Ok(())
}

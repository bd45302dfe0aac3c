//! What the engine has done since it started, counted where it happens: usage reports, holds
//! and their ends, denials, duplicates, alerts, the optimizer's moves, period renewals, and the
//! time and size of every group commit and batch. The writer's thread counts into atomics; the
//! handle reads them for the metrics without asking the writer. Counters start at zero with
//! the process, as monitoring systems expect.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use purser_core::Event;
use purser_core::event::ReallocationKind;

use crate::record::Record;

/// A histogram with fixed bucket bounds, safe to observe from many threads without a lock.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds of the buckets, in the unit the metric is shown in, rising.
    bounds: &'static [f64],
    /// Observed values are integers of `unit` (nanoseconds for a duration in seconds:
    /// `unit = 1e-9`); the sum is kept in them, exact.
    unit: f64,
    /// Observations per bucket (not cumulative); the last is above every bound.
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
}

/// A histogram's figures at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramFigures {
    pub sum: f64,
    pub count: u64,
    /// `(upper bound, observations above the previous bound and at or below this one)`,
    /// ending with `+Inf` (Prometheus shows them summed up).
    pub buckets: Vec<(f64, u64)>,
}

/// Seconds from 100 µs to 10 s: request and commit latencies.
pub const LATENCY_BOUNDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Counts from 1 to 65,536: records per commit, jobs per batch.
pub const SIZE_BOUNDS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0,
];

impl Histogram {
    pub fn new(bounds: &'static [f64], unit: f64) -> Histogram {
        Histogram {
            bounds,
            unit,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// A latency in seconds, observed in nanoseconds.
    pub fn latency() -> Histogram {
        Histogram::new(LATENCY_BOUNDS, 1e-9)
    }

    /// A count.
    pub fn sizes() -> Histogram {
        Histogram::new(SIZE_BOUNDS, 1.0)
    }

    /// Counts one observation of `value` units.
    pub fn observe(&self, value: u64) {
        let shown = value as f64 * self.unit;
        let idx = self.bounds.partition_point(|bound| *bound < shown);
        self.buckets[idx].fetch_add(1, Relaxed);
        self.sum.fetch_add(value, Relaxed);
    }

    pub fn figures(&self) -> HistogramFigures {
        let mut buckets = Vec::with_capacity(self.buckets.len());
        let mut count = 0u64;
        for (idx, bucket) in self.buckets.iter().enumerate() {
            let observed = bucket.load(Relaxed);
            count += observed;
            let bound = self.bounds.get(idx).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, observed));
        }
        HistogramFigures {
            sum: self.sum.load(Relaxed) as f64 * self.unit,
            count,
            buckets,
        }
    }
}

/// The engine's counters, histograms and last snapshot.
#[derive(Debug)]
pub struct EngineStats {
    pub usage_reports: AtomicU64,
    /// Reports and holds answered from their idempotency key, counted once already.
    pub duplicates: AtomicU64,
    pub reservations_created: AtomicU64,
    pub reservations_settled: AtomicU64,
    pub reservations_voided: AtomicU64,
    pub reservations_expired: AtomicU64,
    /// Holds refused because they would pass a stop threshold.
    pub denials_budget: AtomicU64,
    /// DAGs paused because their account could not afford their next task.
    pub denials_dag_budget: AtomicU64,
    pub alerts: AtomicU64,
    pub reclaims: AtomicU64,
    pub grants: AtomicU64,
    pub period_renewals: AtomicU64,
    /// Seconds per group commit (the journal's append).
    pub commit_seconds: Histogram,
    /// Records per group commit.
    pub commit_records: Histogram,
    /// Jobs per batch of the writer.
    pub batch_jobs: Histogram,
    pub snapshot_seq: AtomicU64,
    pub snapshot_micros: AtomicU64,
    /// True while this engine appends (always, on an embedded store); false on a standby that
    /// follows a shared journal.
    pub leader: std::sync::atomic::AtomicBool,
}

impl Default for EngineStats {
    fn default() -> Self {
        EngineStats {
            usage_reports: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            reservations_created: AtomicU64::new(0),
            reservations_settled: AtomicU64::new(0),
            reservations_voided: AtomicU64::new(0),
            reservations_expired: AtomicU64::new(0),
            denials_budget: AtomicU64::new(0),
            denials_dag_budget: AtomicU64::new(0),
            alerts: AtomicU64::new(0),
            reclaims: AtomicU64::new(0),
            grants: AtomicU64::new(0),
            period_renewals: AtomicU64::new(0),
            commit_seconds: Histogram::latency(),
            commit_records: Histogram::sizes(),
            batch_jobs: Histogram::sizes(),
            snapshot_seq: AtomicU64::new(0),
            snapshot_micros: AtomicU64::new(0),
            leader: std::sync::atomic::AtomicBool::new(true),
        }
    }
}

impl EngineStats {
    /// Counts what a committed record did.
    pub(crate) fn note_record(&self, record: &Record) {
        let event = match record {
            Record::Ledger(event) => event,
            Record::Dag(purser_sched::DagEvent::Paused { .. }) => {
                self.denials_dag_budget.fetch_add(1, Relaxed);
                return;
            }
            _ => return,
        };
        let counter = match event {
            Event::ReservationOpened { .. } => &self.reservations_created,
            Event::ReservationSettled { .. } => &self.reservations_settled,
            Event::ReservationVoided { .. } => &self.reservations_voided,
            Event::ReservationExpired { .. } => &self.reservations_expired,
            Event::AlertRaised { .. } => &self.alerts,
            Event::Reallocated {
                kind: ReallocationKind::Reclaim,
                ..
            } => &self.reclaims,
            Event::Reallocated {
                kind: ReallocationKind::Grant,
                ..
            } => &self.grants,
            Event::PeriodRenewed { .. } => &self.period_renewals,
            _ => return,
        };
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_bucket_and_keeps_an_exact_sum() {
        let histogram = Histogram::latency();
        histogram.observe(50_000); // 50 µs
        histogram.observe(1_000_000); // 1 ms: on a bound, counted in it
        histogram.observe(20_000_000_000); // 20 s: above every bound
        let figures = histogram.figures();
        assert_eq!(figures.count, 3);
        assert!((figures.sum - 20.00105).abs() < 1e-9, "{}", figures.sum);
        assert_eq!(figures.buckets[0], (0.0001, 1));
        assert_eq!(figures.buckets[3], (0.001, 1));
        assert_eq!(figures.buckets[LATENCY_BOUNDS.len() - 1], (10.0, 0));
        assert_eq!(*figures.buckets.last().unwrap(), (f64::INFINITY, 1));
    }
}

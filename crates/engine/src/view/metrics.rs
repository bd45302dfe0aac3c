//! The figures `/metrics` shows of the ledger and the scheduler, gathered on the writer's
//! thread in one pass so that they are consistent with each other: per account and dimension
//! its limit, consumption, holds, level and the alert pass's last forecast; the scheduler's
//! gauges. Bounded: accounts down to a depth, at most so many series, shallowest first, and the
//! rest counted so that a cut is never silent.

use std::sync::Arc;

use purser_core::{AccountId, Level};
use purser_sched::SchedGauges;

use crate::scope::Scope;
use crate::state::EngineState;

/// What to gather.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsQuery {
    /// Accounts at most this deep (`acme/team/wf` is 3).
    pub depth: usize,
    /// Account-dimension pairs at most (each is one series of every per-account family).
    pub series_max: usize,
    /// Unfinished DAGs whose cost is listed at most.
    pub dags_max: usize,
}

/// One dimension of one account.
#[derive(Clone, Debug, PartialEq)]
pub struct DimGauge {
    pub dimension: Arc<str>,
    pub limit: Option<u64>,
    /// In the current period.
    pub consumed: u64,
    pub reserved: u64,
    pub remaining: Option<u64>,
    /// `(consumed + reserved) / limit`, when limited.
    pub used_ratio: Option<f64>,
    /// The level this dimension holds the account at: the account's own where it set it, else
    /// what its figures reach without hysteresis (never above the account's).
    pub level: Level,
    /// Seconds from now until the last forecast sees the stop threshold reached (0 when it
    /// is past), and how confident it is; `None` when no forecast expects it.
    pub exhaustion_s: Option<f64>,
    pub confidence: Option<f64>,
}

/// One account.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountGauge {
    pub path: String,
    /// Its own level (ancestors aside), and the dimension that set it.
    pub level: Level,
    pub dims: Vec<DimGauge>,
}

/// Everything `/metrics` shows that only the writer knows.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsView {
    /// Shallowest first, then by path.
    pub accounts: Vec<AccountGauge>,
    /// Open accounts in the caller's scope.
    pub n_accounts: u64,
    /// Increase requests waiting for a decision, in the caller's scope.
    pub n_requests_pending: u64,
    /// Open accounts in the caller's scope stopped by a cap in force (a run cap, a loop set to
    /// stop, an expired one-time budget).
    pub n_halted: u64,
    /// Account-dimension pairs left out by the depth or the series bound.
    pub omitted: u64,
    /// Only for a caller whose scope is everything.
    pub sched: Option<SchedGauges>,
    pub last_seq: u64,
}

/// Gathers the figures at `now_ms` for a caller of `scope`.
pub fn gather(
    state: &EngineState,
    query: &MetricsQuery,
    scope: &Scope,
    now_ms: u64,
) -> MetricsView {
    let ledger = &state.ledger;
    let mut shown: Vec<(usize, AccountId)> = Vec::new();
    let mut n_accounts = 0u64;
    let mut n_halted = 0u64;
    let n_requests_pending = ledger
        .increase_requests(true)
        .filter(|(_, request)| scope.covers(ledger.account(request.account).path.as_str()))
        .count() as u64;
    let mut omitted = 0u64;
    for idx in 0..ledger.n_accounts() {
        let id = AccountId(idx as u32);
        let acc = ledger.account(id);
        if acc.closed || !scope.covers(acc.path.as_str()) {
            continue;
        }
        n_accounts += 1;
        if ledger.halt(id).is_some_and(|halt| halt.stops) {
            n_halted += 1;
        }
        let depth = acc.path.depth();
        if depth > query.depth {
            omitted += acc.slots.len() as u64;
        } else {
            shown.push((depth, id));
        }
    }
    shown.sort_unstable_by(|a, b| {
        (a.0, ledger.account(a.1).path.as_str()).cmp(&(b.0, ledger.account(b.1).path.as_str()))
    });
    let mut series = 0usize;
    let mut accounts = Vec::with_capacity(shown.len().min(query.series_max));
    let mut cut = false;
    for (_, id) in shown {
        let acc = ledger.account(id);
        // Once one account does not fit, no later (deeper or later in order) one is shown.
        cut = cut || series + acc.slots.len() > query.series_max;
        if cut {
            omitted += acc.slots.len() as u64;
            continue;
        }
        series += acc.slots.len();
        let dims = acc
            .slots
            .iter()
            .map(|slot| {
                let used = slot.used();
                let level = if acc.level_dim == Some(slot.dim) {
                    acc.level
                } else {
                    slot.limit.map_or(Level::Green, |limit| {
                        acc.config.thresholds.raw_level(used, limit).min(acc.level)
                    })
                };
                let glance = slot
                    .limit
                    .and_then(|_| state.foresight.watch.glance(id, slot.dim));
                let exhaustion_s = glance
                    .and_then(|glance| glance.exhausts_at_ms)
                    .map(|at_ms| at_ms.saturating_sub(now_ms) as f64 / 1000.0);
                DimGauge {
                    dimension: ledger.dimensions().name(slot.dim).clone(),
                    limit: slot.limit,
                    consumed: slot.period_consumed(),
                    reserved: slot.reserved,
                    remaining: slot.remaining(),
                    used_ratio: slot.limit.map(|limit| used as f64 / (limit.max(1)) as f64),
                    level,
                    exhaustion_s,
                    confidence: exhaustion_s.and(glance.map(|glance| glance.confidence)),
                }
            })
            .collect();
        accounts.push(AccountGauge {
            path: acc.path.to_string(),
            level: acc.level,
            dims,
        });
    }
    MetricsView {
        accounts,
        n_accounts,
        n_requests_pending,
        n_halted,
        omitted,
        sched: scope
            .is_everything()
            .then(|| state.dags.gauges(query.dags_max)),
        last_seq: ledger.last_seq(),
    }
}

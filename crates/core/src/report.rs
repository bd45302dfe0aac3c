//! Reports: what an account and its children did with their budgets, as figures computed from
//! the ledger and the watch at a given time. Rendering (JSON, Markdown, HTML) is the shell's.
//!
//! A report covers the account itself and its children, open and closed (closed accounts stay
//! in the ledger's arena with their figures). Per account and limited dimension it gives the
//! utilization, the forecast and its accuracy so far; per account the efficiency (work units
//! per cost) and the time spent at each level; for closed children the limit left unused
//! (waste); over the children the fairness of their utilizations (Jain's index); and
//! recommendations that carry the figures behind them. Everything is an integer or an `f64`
//! ratio, and nothing reads a clock: `now_ms` is an argument.

mod chart;
mod recommend;
mod rules;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::account::{Account, AccountId};
use crate::amount::DimId;
use crate::ledger::Ledger;
use crate::level::Level;
use crate::path::AccountPath;
use crate::watch::Watch;

pub use chart::{CHART_POINTS, Chart, ChartPoint, LEVEL_POINTS_MAX, LevelSpan, level_spans};
pub use recommend::{Recommendation, Utilization};
pub use rules::{REQUESTS_MAX, RequestRow, RulesRow};

/// Children a report lists at most (open ones first); the rest are counted, not shown.
pub const CHILDREN_MAX: usize = 1_000;

/// Where an account stands in the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The account the report is about.
    Subject,
    Child,
    ClosedChild,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Subject => "subject",
            Role::Child => "child",
            Role::ClosedChild => "closed",
        }
    }
}

/// A level change the shell kept: from `at_ms` the account was at `level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelPoint {
    pub at_ms: u64,
    pub level: Level,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub path: AccountPath,
    pub kind: Option<Arc<str>>,
    pub at_ms: u64,
    /// The subject first, then its open children by name, then its closed children by path.
    pub rows: Vec<AccountRow>,
    /// Children beyond [`CHILDREN_MAX`], left out of every figure.
    pub n_children_omitted: usize,
    /// Per dimension limited on two or more children.
    pub fairness: Vec<Fairness>,
    /// Per dimension limited on a closed child.
    pub waste: Vec<WasteTotal>,
    pub recommendations: Vec<Recommendation>,
    pub chart: Option<Chart>,
    /// Machine time of the DAGs charged to the account or below it, newest first: the shell
    /// that runs DAGs fills it (the ledger knows nothing of them).
    pub dags: Vec<DagCost>,
    /// The budget rules of the accounts shown that have any, and the caps in force.
    pub rules: Vec<RulesRow>,
    /// Increase requests on the accounts shown, newest first.
    pub requests: Vec<RequestRow>,
}

/// What a DAG's machine time cost, in micro-units of money.
#[derive(Clone, Debug, PartialEq)]
pub struct DagCost {
    pub id: u64,
    pub name: Option<String>,
    pub account: String,
    /// `running`, `paused`, `completed`, `failed` or `cancelled`.
    pub state: &'static str,
    pub spent_micros: u64,
    pub reserved_micros: u64,
    pub projected_micros: u64,
    /// Its most expensive tasks, most expensive first.
    pub tasks: Vec<TaskCost>,
    /// Tasks with a cost left out of `tasks`.
    pub n_tasks_omitted: usize,
}

/// What one task's attempts cost.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskCost {
    /// `tsk_{dag}_{index}`.
    pub id: String,
    pub name: String,
    pub account: String,
    pub attempts: u32,
    pub spent_micros: u64,
    pub time_ms: u64,
}

/// One account of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountRow {
    pub path: AccountPath,
    pub role: Role,
    pub kind: Option<Arc<str>>,
    pub level: Level,
    /// Reported on this account and every account below it, open or closed.
    pub work_units: u64,
    pub opened_ms: u64,
    /// The limited dimensions, in dimension order.
    pub dims: Vec<DimRow>,
    pub efficiency: Efficiency,
    /// Time spent at each level, indexed by `Level as usize`; the current level counts up to
    /// now (a closed account's up to its last activity).
    pub level_time_ms: [u64; 5],
}

impl AccountRow {
    /// The subject by its path, a child by its name.
    pub fn label(&self) -> &str {
        match self.role {
            Role::Subject => self.path.as_str(),
            Role::Child | Role::ClosedChild => self.path.name(),
        }
    }
}

/// One limited dimension of one account.
#[derive(Clone, Debug, PartialEq)]
pub struct DimRow {
    pub dimension: Arc<str>,
    pub limit: u64,
    /// Consumed in the current period.
    pub consumed: u64,
    pub reserved: u64,
    /// `consumed / limit` (1.0 for a zero limit with nothing consumed).
    pub utilization: f64,
    /// For a closed account: the limit it left unused.
    pub waste: Option<u64>,
    pub forecast: Option<ForecastSummary>,
}

/// Work units per cost unit, where the account counts that cost.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Efficiency {
    /// Per 1,000,000 cost_micros (one currency unit).
    pub work_units_per_dollar: Option<f64>,
    pub work_units_per_1k_tokens: Option<f64>,
}

/// The watch's forecast of one account's dimension, and how accurate its method was so far.
#[derive(Clone, Debug, PartialEq)]
pub struct ForecastSummary {
    pub method: &'static str,
    pub projected_total: u64,
    pub overage: u64,
    pub horizon_end_ms: u64,
    pub time_to_exhaustion_s: Option<u64>,
    pub exhausts_at_ms: Option<u64>,
    pub interval_low: u64,
    /// `None` while nothing bounds it.
    pub interval_high: Option<u64>,
    /// The share of the method's backtested predictions that landed within 10%.
    pub confidence: f64,
    pub n_backtests: u32,
}

/// Jain's index over the children's utilizations of one dimension: 1 when all are equal, 1/n
/// when one child has everything.
#[derive(Clone, Debug, PartialEq)]
pub struct Fairness {
    pub dimension: Arc<str>,
    pub jain_index: f64,
    pub n_children: usize,
    pub utilization_min: f64,
    pub utilization_max: f64,
}

/// What closed children left unused of their limits in one dimension.
#[derive(Clone, Debug, PartialEq)]
pub struct WasteTotal {
    pub dimension: Arc<str>,
    pub unused: u64,
    /// The sum of their limits.
    pub limits: u64,
    pub n_closed: usize,
}

/// Builds the report of `account` at `now_ms`. The watch should have sampled the ledger at
/// `now_ms` first, so that the forecasts count everything reported. `level_changes` are the
/// account's own level changes the shell kept, in any order; with none, the levels chart shows
/// green until the current level began.
pub fn build_report(
    ledger: &Ledger,
    watch: &mut Watch,
    account: AccountId,
    now_ms: u64,
    level_changes: &[LevelPoint],
) -> Report {
    let acc = ledger.account(account);
    let (children, n_children_omitted) = children_of(ledger, account);
    let mut rows = Vec::with_capacity(children.len() + 1);
    rows.push(account_row(ledger, watch, account, Role::Subject, now_ms));
    for &(child, role) in &children {
        rows.push(account_row(ledger, watch, child, role, now_ms));
    }
    let mut ids: Vec<AccountId> = vec![account];
    ids.extend(children.iter().map(|(child, _)| *child));
    count_subtree_work(ledger, &ids, &mut rows);
    let fairness = fairness(&rows[1..]);
    let waste = waste(&rows[1..]);
    let recommendations = recommend::recommend(&rows);
    let chart = chart::chart(ledger, watch, &rows[0], account, now_ms, level_changes);
    let rules = rules::rules_rows(ledger, &ids);
    let requests = rules::request_rows(ledger, &ids);
    Report {
        path: acc.path.clone(),
        kind: acc.config.kind.clone(),
        at_ms: now_ms,
        rows,
        n_children_omitted,
        fairness,
        waste,
        recommendations,
        chart,
        dags: Vec::new(),
        rules,
        requests,
    }
}

/// The open children by name, then the closed ones by path (and id, as paths can be reused),
/// at most [`CHILDREN_MAX`] in all; answers how many were left out.
fn children_of(ledger: &Ledger, account: AccountId) -> (Vec<(AccountId, Role)>, usize) {
    let acc = ledger.account(account);
    let mut children: Vec<(AccountId, Role)> = acc
        .children
        .values()
        .map(|child| (*child, Role::Child))
        .collect();
    // Closed accounts leave the children map but keep their parent: a scan of the arena finds
    // them. Reports are rare and the arena is bounded, so the scan is affordable.
    let mut closed: Vec<AccountId> = ledger
        .accounts
        .iter()
        .enumerate()
        .filter(|(_, child)| child.closed && child.parent == Some(account))
        .map(|(idx, _)| AccountId(idx as u32))
        .collect();
    closed.sort_by(|a, b| {
        let path_a = &ledger.account(*a).path;
        let path_b = &ledger.account(*b).path;
        path_a.cmp(path_b).then(a.cmp(b))
    });
    children.extend(closed.into_iter().map(|child| (child, Role::ClosedChild)));
    let omitted = children.len().saturating_sub(CHILDREN_MAX);
    children.truncate(CHILDREN_MAX);
    (children, omitted)
}

/// Sets each row's work units and efficiency to its whole subtree's, as its consumption counts
/// its subtree: every account of the arena, open or closed, adds its own work units to itself
/// and to each ancestor that has a row (a walk of at most the tree's depth per account).
fn count_subtree_work(ledger: &Ledger, ids: &[AccountId], rows: &mut [AccountRow]) {
    let mut row_of: rustc_hash::FxHashMap<AccountId, usize> = rustc_hash::FxHashMap::default();
    for (idx, id) in ids.iter().enumerate() {
        row_of.insert(*id, idx);
    }
    let mut totals = vec![0u64; rows.len()];
    for (idx, acc) in ledger.accounts.iter().enumerate() {
        if acc.work_units == 0 {
            continue;
        }
        let mut next = Some(AccountId(idx as u32));
        while let Some(id) = next {
            if let Some(&row) = row_of.get(&id) {
                totals[row] = totals[row].saturating_add(acc.work_units);
            }
            next = ledger.account(id).parent;
        }
    }
    for ((row, total), id) in rows.iter_mut().zip(totals).zip(ids) {
        row.work_units = total;
        row.efficiency = efficiency(ledger, ledger.account(*id), total);
    }
}

fn account_row(
    ledger: &Ledger,
    watch: &mut Watch,
    account: AccountId,
    role: Role,
    now_ms: u64,
) -> AccountRow {
    let acc = ledger.account(account);
    let mut dims = Vec::new();
    for slot in &acc.slots {
        let Some(limit) = slot.limit else { continue };
        let consumed = slot.period_consumed();
        let forecast = if acc.closed {
            None
        } else {
            forecast_summary(ledger, watch, account, slot.dim, now_ms)
        };
        dims.push(DimRow {
            dimension: ledger.dimensions().name(slot.dim).clone(),
            limit,
            consumed,
            reserved: slot.reserved,
            utilization: crate::level::fraction(consumed, limit),
            waste: acc.closed.then(|| limit.saturating_sub(slot.used())),
            forecast,
        });
    }
    AccountRow {
        path: acc.path.clone(),
        role,
        kind: acc.config.kind.clone(),
        level: acc.level,
        // Both are the subtree's: `count_subtree_work` fills them in.
        work_units: 0,
        opened_ms: acc.opened_ms,
        dims,
        efficiency: Efficiency::default(),
        level_time_ms: level_time(acc, now_ms),
    }
}

fn forecast_summary(
    ledger: &Ledger,
    watch: &mut Watch,
    account: AccountId,
    dim: DimId,
    now_ms: u64,
) -> Option<ForecastSummary> {
    let forecast = watch.forecast(ledger, account, dim, now_ms)?;
    Some(ForecastSummary::of(
        &forecast,
        watch.horizon_end(ledger, account, now_ms),
    ))
}

impl ForecastSummary {
    /// The outlook of `forecast` towards `horizon_end_ms`: what every view of a forecast shows.
    pub fn of(forecast: &crate::watch::Forecast, horizon_end_ms: u64) -> ForecastSummary {
        ForecastSummary {
            method: forecast.method.name(),
            projected_total: forecast.projected_total,
            overage: forecast.overage,
            horizon_end_ms,
            time_to_exhaustion_s: forecast.time_to_exhaustion_s,
            exhausts_at_ms: forecast.exhausts_at_ms,
            interval_low: forecast.interval.low,
            interval_high: (forecast.interval.high != u64::MAX).then_some(forecast.interval.high),
            confidence: forecast.confidence,
            n_backtests: forecast.n_backtests,
        }
    }
}

/// Work units per cost unit over the account's whole life: work units are never reset by a
/// period, so neither is the cost they are divided by.
fn efficiency(ledger: &Ledger, acc: &Account, work_units: u64) -> Efficiency {
    let per = |name: &str, unit: f64| {
        let dim = ledger.dimensions().lookup(name)?;
        let consumed = acc.slot(dim)?.consumed;
        (consumed > 0).then(|| work_units as f64 * unit / consumed as f64)
    };
    Efficiency {
        work_units_per_dollar: per("cost_micros", 1_000_000.0),
        work_units_per_1k_tokens: per("tokens", 1_000.0),
    }
}

/// Time per level, the current one counted up to now; a closed account stopped counting at its
/// last activity (the ledger keeps no closing time).
pub fn level_time(acc: &Account, now_ms: u64) -> [u64; 5] {
    let mut times = acc.level_time_ms;
    let end_ms = if acc.closed {
        acc.last_activity_ms.unwrap_or(acc.level_since_ms)
    } else {
        now_ms
    };
    let current = &mut times[acc.level as usize];
    *current = current.saturating_add(end_ms.saturating_sub(acc.level_since_ms));
    times
}

/// Jain's fairness index: (sum x)^2 / (n * sum x^2); 1 for no values, one value, or all zero.
pub fn jain_index(values: &[f64]) -> f64 {
    let sum: f64 = values.iter().sum();
    let sum_squares: f64 = values.iter().map(|value| value * value).sum();
    if values.len() <= 1 || sum_squares == 0.0 {
        return 1.0;
    }
    sum * sum / (values.len() as f64 * sum_squares)
}

/// Per dimension, the children's utilizations (dimensions in order of first appearance, which
/// is dimension order for each child).
fn by_dimension<'a, T>(
    rows: &'a [AccountRow],
    mut pick: impl FnMut(&'a AccountRow, &'a DimRow) -> Option<T>,
) -> Vec<(Arc<str>, Vec<T>)> {
    let mut groups: Vec<(Arc<str>, Vec<T>)> = Vec::new();
    for row in rows {
        for dim in &row.dims {
            let Some(value) = pick(row, dim) else {
                continue;
            };
            match groups.iter_mut().find(|(name, _)| *name == dim.dimension) {
                Some((_, values)) => values.push(value),
                None => groups.push((dim.dimension.clone(), vec![value])),
            }
        }
    }
    groups
}

fn fairness(children: &[AccountRow]) -> Vec<Fairness> {
    by_dimension(children, |_, dim| Some(dim.utilization))
        .into_iter()
        .filter(|(_, values)| values.len() >= 2)
        .map(|(dimension, values)| Fairness {
            dimension,
            jain_index: jain_index(&values),
            n_children: values.len(),
            utilization_min: values.iter().copied().fold(f64::INFINITY, f64::min),
            utilization_max: values.iter().copied().fold(0.0, f64::max),
        })
        .collect()
}

fn waste(children: &[AccountRow]) -> Vec<WasteTotal> {
    by_dimension(children, |_, dim| {
        dim.waste.map(|unused| (unused, dim.limit))
    })
    .into_iter()
    .map(|(dimension, values)| WasteTotal {
        dimension,
        unused: values.iter().map(|(unused, _)| unused).sum(),
        limits: values.iter().map(|(_, limit)| limit).sum(),
        n_closed: values.len(),
    })
    .collect()
}

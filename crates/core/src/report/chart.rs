//! The chart of a report: the subject's main dimension over time (sampled from the watch's
//! series), its limit, its forecast to the horizon end, and its levels over time.

use std::sync::Arc;

use super::{AccountRow, ForecastSummary, LevelPoint};
use crate::account::{Account, AccountId};
use crate::amount::DimId;
use crate::ledger::Ledger;
use crate::level::Level;
use crate::watch::Watch;

/// Points of the consumption curve in the chart.
pub const CHART_POINTS: u64 = 60;
/// Level changes a report reads at most.
pub const LEVEL_POINTS_MAX: usize = 10_000;

/// The chart of the subject's main dimension: consumption so far, the limit, the forecast to
/// the horizon's end, and the levels over time.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    pub dimension: Arc<str>,
    pub start_ms: u64,
    pub now_ms: u64,
    /// The horizon's end (at least `now_ms`).
    pub end_ms: u64,
    pub limit: Option<u64>,
    /// Cumulative consumption, from `start_ms` to `now_ms`.
    pub consumption: Vec<ChartPoint>,
    pub forecast: Option<ForecastSummary>,
    /// Consecutive spans from `start_ms` to `now_ms`.
    pub levels: Vec<LevelSpan>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChartPoint {
    pub at_ms: u64,
    pub value: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelSpan {
    pub from_ms: u64,
    pub to_ms: u64,
    pub level: Level,
}

/// The subject's main dimension: the limited one closest to its limit that the watch follows.
fn main_dimension(acc: &Account, watch: &Watch, account: AccountId) -> Option<DimId> {
    acc.slots
        .iter()
        .filter(|slot| slot.limit.is_some() && watch.series_start_ms(account, slot.dim).is_some())
        .map(|slot| {
            let limit = slot.limit.unwrap_or(0);
            (slot.dim, crate::level::fraction(slot.used(), limit))
        })
        .fold(
            None,
            |best: Option<(DimId, f64)>, (dim, fraction)| match best {
                Some((_, best_fraction)) if best_fraction >= fraction => best,
                _ => Some((dim, fraction)),
            },
        )
        .map(|(dim, _)| dim)
}

pub(super) fn chart(
    ledger: &Ledger,
    watch: &Watch,
    subject: &AccountRow,
    account: AccountId,
    now_ms: u64,
    level_changes: &[LevelPoint],
) -> Option<Chart> {
    let acc = ledger.account(account);
    let dim = main_dimension(acc, watch, account)?;
    let start_ms = watch.series_start_ms(account, dim)?.min(now_ms);
    let span_ms = now_ms - start_ms;
    let n_points = if span_ms == 0 { 1 } else { CHART_POINTS };
    let consumption = (0..n_points)
        .map(|idx| {
            let at_ms = start_ms + span_ms * idx / (n_points - 1).max(1);
            ChartPoint {
                at_ms,
                value: watch.cumulative_at(account, dim, at_ms, now_ms),
            }
        })
        .collect();
    let dimension = ledger.dimensions().name(dim).clone();
    let forecast = subject
        .dims
        .iter()
        .find(|row| row.dimension == dimension)
        .and_then(|row| row.forecast.clone());
    let end_ms = watch.horizon_end(ledger, account, now_ms).max(now_ms);
    Some(Chart {
        dimension,
        start_ms,
        now_ms,
        end_ms,
        limit: acc.limit(dim),
        consumption,
        forecast,
        levels: level_spans(acc, level_changes, start_ms, now_ms),
    })
}

/// The levels from `start_ms` to `now_ms`: the kept changes before the current level began,
/// then the current level from when it began (the account's own figure, always right).
pub fn level_spans(
    acc: &Account,
    level_changes: &[LevelPoint],
    start_ms: u64,
    now_ms: u64,
) -> Vec<LevelSpan> {
    let current_since = acc.level_since_ms.clamp(start_ms, now_ms);
    let mut points: Vec<LevelPoint> = level_changes
        .iter()
        .rev()
        .take(LEVEL_POINTS_MAX)
        .filter(|point| point.at_ms < acc.level_since_ms)
        .copied()
        .collect();
    points.sort_by_key(|point| point.at_ms);
    points.push(LevelPoint {
        at_ms: current_since,
        level: acc.level,
    });
    // Accounts open at green: that is the level before the first known change.
    let mut spans: Vec<LevelSpan> = Vec::new();
    let mut cursor = start_ms;
    let mut level = Level::Green;
    for point in points {
        let at_ms = point.at_ms.min(now_ms);
        if at_ms > cursor {
            push_span(&mut spans, cursor, at_ms, level);
            cursor = at_ms;
        }
        level = point.level;
    }
    if now_ms > cursor || spans.is_empty() {
        push_span(&mut spans, cursor, now_ms, level);
    }
    spans
}

fn push_span(spans: &mut Vec<LevelSpan>, from_ms: u64, to_ms: u64, level: Level) {
    match spans.last_mut() {
        Some(last) if last.level == level && last.to_ms == from_ms => last.to_ms = to_ms,
        _ => spans.push(LevelSpan {
            from_ms,
            to_ms,
            level,
        }),
    }
}

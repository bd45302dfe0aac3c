//! Views of forecasts and of the optimizer's moves.

use purser_core::Ledger;
use purser_core::command::Move;
use purser_core::watch::Forecast;

/// An account's forecast in one dimension, with the limit it is measured against.
#[derive(Clone, Debug, PartialEq)]
pub struct ForecastView {
    pub dimension: String,
    /// `average_rate`, `linear`, `holt` or `historical`: the one the backtest chose.
    pub method: &'static str,
    pub consumed: u64,
    pub limit: Option<u64>,
    pub projected_total: u64,
    pub overage: u64,
    pub horizon_end_ms: u64,
    pub time_to_exhaustion_s: Option<u64>,
    pub exhausts_at_ms: Option<u64>,
    /// The 80 % interval of the projected total; `None` high while nothing bounds it.
    pub interval_low: u64,
    pub interval_high: Option<u64>,
    pub confidence: f64,
    pub n_backtests: u32,
    /// The plain average-rate extrapolation, for comparison.
    pub baseline_total: u64,
}

/// One move of the optimizer.
#[derive(Clone, Debug, PartialEq)]
pub struct MoveView {
    pub account: String,
    pub dimension: String,
    /// `reclaim` (to the parent's pool) or `grant` (from it).
    pub kind: &'static str,
    pub from: u64,
    pub to: u64,
    pub reason: String,
}

pub fn forecast(
    dimension: &str,
    limit: Option<u64>,
    horizon_end_ms: u64,
    forecast: &Forecast,
) -> ForecastView {
    ForecastView {
        dimension: dimension.to_string(),
        method: forecast.method.name(),
        consumed: forecast.consumed,
        limit,
        projected_total: forecast.projected_total,
        overage: forecast.overage,
        horizon_end_ms,
        time_to_exhaustion_s: forecast.time_to_exhaustion_s,
        exhausts_at_ms: forecast.exhausts_at_ms,
        interval_low: forecast.interval.low,
        interval_high: (forecast.interval.high != u64::MAX).then_some(forecast.interval.high),
        confidence: forecast.confidence,
        n_backtests: forecast.n_backtests,
        baseline_total: forecast.baseline_total,
    }
}

pub fn moves(ledger: &Ledger, moves: Vec<Move>) -> Vec<MoveView> {
    moves
        .into_iter()
        .map(|mv| MoveView {
            account: ledger.account(mv.account).path.to_string(),
            dimension: ledger.dimensions().name(mv.dimension).to_string(),
            kind: mv.kind.name(),
            from: mv.from,
            to: mv.to,
            reason: mv.reason,
        })
        .collect()
}

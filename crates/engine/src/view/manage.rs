//! Views of forecasts and of the optimizer's moves.

use purser_core::Ledger;
use purser_core::command::Move;
use purser_core::report::ForecastSummary;
use purser_core::watch::Forecast;

/// An account's forecast in one dimension: its outlook (the same as a report shows), with the
/// consumption and the limit it is measured against, and the plain average-rate extrapolation.
#[derive(Clone, Debug, PartialEq)]
pub struct ForecastView {
    pub dimension: String,
    pub consumed: u64,
    pub limit: Option<u64>,
    pub outlook: ForecastSummary,
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
        consumed: forecast.consumed,
        limit,
        outlook: ForecastSummary::of(forecast, horizon_end_ms),
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

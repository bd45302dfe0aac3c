//! Forecasts, the optimizer's moves and the audit log on the wire.

use std::sync::Arc;

use purser_core::report::ForecastSummary;
use purser_engine::audit::AuditEntry as AuditEntryRecord;
use purser_engine::view::manage::{ForecastView, MoveView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rfc3339;

// Forecasts and reports share it.
/// An 80% prediction interval; `high` is absent while nothing bounds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IntervalOut {
    pub low: u64,
    pub high: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportForecastOut {
    pub method: String,
    pub projected_total: u64,
    pub overage: u64,
    pub horizon_end: String,
    pub time_to_exhaustion_s: Option<u64>,
    pub exhausts_at: Option<String>,
    /// 80% prediction interval of the projected total.
    pub interval: IntervalOut,
    /// Share of the method's backtested predictions that landed within 10%.
    pub confidence: f64,
    pub n_backtests: u32,
}

/// `GET /v1/accounts/{path}:forecast?dimension=tokens`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForecastOut {
    pub dimension: String,
    /// `average_rate`, `linear`, `holt` or `historical`: the one the backtest chose.
    pub method: String,
    pub consumed: u64,
    pub limit: Option<u64>,
    pub projected_total: u64,
    pub overage: u64,
    pub horizon_end: String,
    pub time_to_exhaustion_s: Option<u64>,
    pub exhausts_at: Option<String>,
    pub interval: IntervalOut,
    /// The share of the method's recent backtested predictions that landed within 10%.
    pub confidence: f64,
    /// How many backtested predictions the confidence and the interval rest on.
    pub n_backtests: u32,
    /// The plain average-rate extrapolation, for comparison.
    pub baseline_total: u64,
}

/// One move of the optimizer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MoveOut {
    pub account: String,
    pub dimension: String,
    /// `reclaim` (to the parent's pool) or `grant` (from it).
    pub kind: String,
    pub from: u64,
    pub to: u64,
    pub reason: String,
}

/// `POST /v1/optimizer:run?dry_run=true`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OptimizerOut {
    pub dry_run: bool,
    pub moves: Vec<MoveOut>,
}

/// `GET /v1/audit`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditOut {
    #[schema(value_type = Vec<AuditEntry>)]
    pub events: Vec<Arc<AuditEntryRecord>>,
}

// The schema of the engine's entries, which serialize themselves: this type is never built.
/// One entry of the audit log; also one server-sent event.
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    /// The sequence number of the journaled event (a denial, which is not journaled, carries
    /// the last one before it).
    pub seq: u64,
    pub at: String,
    /// `allocation`, `limit_change`, `account_closed`, `enforcement`, `alert`,
    /// `reallocation`, `period`, `reservation_expired`, `denial`, `task` or `dag`.
    #[serde(rename = "type")]
    pub kind: String,
    pub account: Option<String>,
    /// The token's name for an operator's change (`name` in `[[tokens]]`; `anonymous` without
    /// tokens, `config` for accounts of `purser.toml`), else `api`, `optimizer`, `forecast` or
    /// `clock`.
    #[schema(value_type = String)]
    pub actor: String,
    pub reason: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

// A forecast's outlook, as a report and `:forecast` show it: one conversion for both.
impl From<&ForecastSummary> for ReportForecastOut {
    fn from(outlook: &ForecastSummary) -> ReportForecastOut {
        ReportForecastOut {
            method: outlook.method.to_string(),
            projected_total: outlook.projected_total,
            overage: outlook.overage,
            horizon_end: rfc3339(outlook.horizon_end_ms),
            time_to_exhaustion_s: outlook.time_to_exhaustion_s,
            exhausts_at: outlook.exhausts_at_ms.map(rfc3339),
            interval: IntervalOut {
                low: outlook.interval_low,
                high: outlook.interval_high,
            },
            confidence: outlook.confidence,
            n_backtests: outlook.n_backtests,
        }
    }
}

impl From<ForecastView> for ForecastOut {
    fn from(view: ForecastView) -> ForecastOut {
        let outlook = ReportForecastOut::from(&view.outlook);
        ForecastOut {
            dimension: view.dimension,
            method: outlook.method,
            consumed: view.consumed,
            limit: view.limit,
            projected_total: outlook.projected_total,
            overage: outlook.overage,
            horizon_end: outlook.horizon_end,
            time_to_exhaustion_s: outlook.time_to_exhaustion_s,
            exhausts_at: outlook.exhausts_at,
            interval: outlook.interval,
            confidence: outlook.confidence,
            n_backtests: outlook.n_backtests,
            baseline_total: view.baseline_total,
        }
    }
}

impl From<MoveView> for MoveOut {
    fn from(view: MoveView) -> MoveOut {
        MoveOut {
            account: view.account,
            dimension: view.dimension,
            kind: view.kind.to_string(),
            from: view.from,
            to: view.to,
            reason: view.reason,
        }
    }
}

//! The engine's side of forecasts, alerts, the optimizer, budget periods and the audit log:
//! what the clock's tick does and the read operations on the manager. Runs on the engine
//! thread, which alone owns the ledger and the manager.

use std::sync::Arc;

use purser_core::report::LevelPoint;
use purser_core::{AccountPath, Answer, Command, Event};

use crate::audit::AuditEntry;
use crate::engine::{EngineCore, Reply};
use crate::error::ApiError;
use crate::wire::{ForecastOut, IntervalOut, MoveOut, OptimizerOut, rfc3339};

/// Budget periods renewed by one tick at most; the rest wait for the next.
const RENEWALS_PER_TICK_MAX: usize = 1_000;

/// A read of the audit log.
pub struct AuditQuery {
    pub prefix: Option<AccountPath>,
    pub since_seq: u64,
    pub limit: usize,
    /// Only what the event stream carries (its resume by `Last-Event-ID`).
    pub streamed_only: bool,
}

impl EngineCore {
    /// The clock's work: expired holds, alerts and the optimizer (when due), then periods.
    pub fn tick_manager(&mut self, now_ms: u64, events: &mut Vec<Event>) -> Reply {
        let outcome = self.manager.tick(&mut self.ledger, now_ms, events);
        for account in self.ledger.periods_due(now_ms, RENEWALS_PER_TICK_MAX) {
            let Some(spec) = self.ledger.account(account).config.period.clone() else {
                continue;
            };
            // The period that contains now; after a long stop, the missed ones are skipped.
            match crate::periods::period_bounds(&spec, now_ms) {
                Ok((start_ms, end_ms)) => {
                    let command = Command::RenewPeriod {
                        account,
                        start_ms,
                        end_ms,
                    };
                    if let Err(err) = self.ledger.apply(command, now_ms, events) {
                        eprintln!("purser: renewing the period of account {account:?}: {err}");
                    }
                }
                Err(err) => eprintln!(
                    "purser: the period of {} cannot be computed: {err}",
                    self.ledger.account(account).path
                ),
            }
        }
        Reply::Expired(outcome.expired)
    }

    pub fn forecast(&mut self, path: &AccountPath, dimension: &str, now_ms: u64) -> Reply {
        let Some(account) = self.ledger.lookup(path.as_str()) else {
            return Reply::Error(ApiError::new(
                404,
                "account_not_found",
                format!("account {path} not found"),
            ));
        };
        let Some(dim) = self.ledger.dimensions().lookup(dimension) else {
            return Reply::Error(
                ApiError::new(
                    404,
                    "dimension_not_found",
                    format!("dimension {dimension} is not counted anywhere"),
                )
                .with_field("dimension"),
            );
        };
        let limit = self.ledger.account(account).limit(dim);
        if limit.is_none() {
            return Reply::Error(
                ApiError::new(
                    409,
                    "not_limited",
                    format!("{path} has no limit in {dimension}: there is nothing to exhaust"),
                )
                .with_field("dimension"),
            );
        }
        let horizon_end_ms = self
            .manager
            .watch
            .horizon_end(&self.ledger, account, now_ms);
        let Some(forecast) = self
            .manager
            .forecast(&mut self.ledger, account, dim, now_ms)
        else {
            return Reply::Error(ApiError::new(
                409,
                "not_forecast",
                format!(
                    "{path} {dimension} has no forecast: nothing consumed yet, or more series than manager.forecast_series_max"
                ),
            ));
        };
        Reply::Forecast(Box::new(ForecastOut {
            dimension: dimension.to_string(),
            method: forecast.method.name(),
            consumed: forecast.consumed,
            limit,
            projected_total: forecast.projected_total,
            overage: forecast.overage,
            horizon_end: rfc3339(horizon_end_ms),
            time_to_exhaustion_s: forecast.time_to_exhaustion_s,
            exhausts_at: forecast.exhausts_at_ms.map(rfc3339),
            interval: IntervalOut {
                low: forecast.interval.low,
                high: (forecast.interval.high != u64::MAX).then_some(forecast.interval.high),
            },
            confidence: forecast.confidence,
            n_backtests: forecast.n_backtests,
            baseline_total: forecast.baseline_total,
        }))
    }

    pub fn optimize(&mut self, dry_run: bool, now_ms: u64, events: &mut Vec<Event>) -> Reply {
        let moves = if dry_run {
            self.manager.plan_moves(&mut self.ledger, now_ms)
        } else {
            self.manager.optimize(&mut self.ledger, now_ms, events)
        };
        let moves = moves
            .into_iter()
            .map(|mv| MoveOut {
                account: self.ledger.account(mv.account).path.to_string(),
                dimension: self.ledger.dimensions().name(mv.dimension).to_string(),
                kind: mv.kind.name(),
                from: mv.from,
                to: mv.to,
                reason: mv.reason,
            })
            .collect();
        Reply::Optimized(OptimizerOut { dry_run, moves })
    }

    pub fn audit_page(&self, query: &AuditQuery) -> Vec<Arc<AuditEntry>> {
        self.audit.page(
            query.prefix.as_ref().map(AccountPath::as_str),
            query.since_seq,
            query.limit,
            query.streamed_only,
        )
    }

    /// The level changes the audit ring holds for the report's chart.
    pub fn level_points(&self, path: &AccountPath) -> Vec<LevelPoint> {
        self.audit
            .level_changes(path.as_str())
            .into_iter()
            .map(|(at_ms, level)| LevelPoint { at_ms, level })
            .collect()
    }

    /// A refused hold goes to the audit log (not the journal: it changed nothing).
    pub fn note_denial(&mut self, answer: &Answer, now_ms: u64) {
        if let Answer::Denied(denial) = answer {
            let entry = crate::audit::denial(
                self.ledger.last_seq(),
                now_ms,
                self.ledger.account(denial.account).path.to_string(),
                self.ledger.dimensions().name(denial.dimension).to_string(),
                denial.requested,
                denial.available,
            );
            self.audit.push(entry);
        }
    }
}

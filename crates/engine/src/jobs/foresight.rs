//! Jobs of foresight: the clock's tick (expired holds, alerts, the optimizer when due, budget
//! periods on the calendar, then the DAGs' leases and placement), forecasts, the optimizer on
//! request, and reports.

use purser_core::report::{LevelPoint, Report, build_report};
use purser_core::{AccountPath, Command};

use crate::error::EngineError;
use crate::periods::period_bounds;
use crate::state::EngineState;
use crate::view::manage::{self, ForecastView, MoveView};

/// Budget periods renewed by one tick at most; the rest wait for the next.
const RENEWALS_PER_TICK_MAX: usize = 1_000;

impl EngineState {
    pub(super) fn tick(&mut self, now_ms: u64) {
        if self.foresight.alerts_due(now_ms) {
            self.commit_dag_costs();
        }
        self.foresight
            .tick(&mut self.ledger, now_ms, &mut self.events);
        self.records
            .extend(self.events.drain(..).map(crate::record::Record::Ledger));
        self.renew_periods(now_ms);
        self.reach_caps(now_ms);
        self.tick_dags(now_ms);
    }

    /// Tells the watch what the charged DAGs' tasks not started yet will cost, so that an
    /// account whose committed DAGs exceed what it has left is alerted before the first task
    /// that cannot be afforded would start.
    fn commit_dag_costs(&mut self) {
        let dim = self
            .ledger
            .dimensions()
            .lookup(super::charge::COST_DIMENSION);
        let committed: Vec<_> = match dim {
            Some(dim) => self
                .dags
                .unstarted_costs()
                .into_iter()
                .filter_map(|(path, micros)| Some(((self.ledger.lookup(&path)?, dim), micros)))
                .collect(),
            None => Vec::new(),
        };
        self.foresight.watch.set_committed(committed);
    }

    /// Renews the periods that ended: the period that contains now (after a long stop, the
    /// missed ones are skipped), its bounds on the calendar of the account's time zone.
    fn renew_periods(&mut self, now_ms: u64) {
        for account in self.ledger.periods_due(now_ms, RENEWALS_PER_TICK_MAX) {
            self.renew_period(account, now_ms);
        }
    }

    /// Halts the runs past their wall time and the one-time budgets past their expiry.
    fn reach_caps(&mut self, now_ms: u64) {
        for (account, cap) in self.ledger.caps_due(now_ms, RENEWALS_PER_TICK_MAX) {
            if let Err(err) = self.apply_ledger(Command::ReachCap { account, cap }, now_ms) {
                eprintln!(
                    "purser: halting account {account:?} ({}): {err}",
                    cap.name()
                );
            }
        }
    }

    /// Starts the period that contains `now_ms` for `account`, if it renews.
    pub(super) fn renew_period(&mut self, account: purser_core::AccountId, now_ms: u64) {
        let Some(spec) = self.ledger.account(account).config.period.clone() else {
            return;
        };
        match period_bounds(&spec, now_ms) {
            Ok((start_ms, end_ms)) => {
                let command = Command::RenewPeriod {
                    account,
                    start_ms,
                    end_ms,
                };
                if let Err(err) = self.apply_ledger(command, now_ms) {
                    eprintln!("purser: renewing the period of account {account:?}: {err}");
                }
            }
            Err(err) => eprintln!(
                "purser: the period of {} cannot be computed: {err}",
                self.ledger.account(account).path
            ),
        }
    }

    pub(super) fn forecast(
        &mut self,
        path: &AccountPath,
        dimension: &str,
        now_ms: u64,
    ) -> Result<ForecastView, EngineError> {
        let account = self.lookup(path)?;
        let dim = self.ledger.dimensions().lookup(dimension).ok_or_else(|| {
            EngineError::UnknownDimension {
                dimension: dimension.to_string(),
            }
        })?;
        let limit = self.ledger.account(account).limit(dim);
        if limit.is_none() {
            return Err(EngineError::NotLimited {
                path: path.to_string(),
                dimension: dimension.to_string(),
            });
        }
        let horizon_end_ms = self
            .foresight
            .watch
            .horizon_end(&self.ledger, account, now_ms);
        let forecast = self
            .foresight
            .forecast(&mut self.ledger, account, dim, now_ms)
            .ok_or_else(|| EngineError::NoForecast {
                path: path.to_string(),
                dimension: dimension.to_string(),
            })?;
        Ok(manage::forecast(
            dimension,
            limit,
            horizon_end_ms,
            &forecast,
        ))
    }

    pub(super) fn optimize(&mut self, dry_run: bool, now_ms: u64) -> Vec<MoveView> {
        let moves = if dry_run {
            self.foresight.plan_moves(&mut self.ledger, now_ms)
        } else {
            let moves = self
                .foresight
                .optimize(&mut self.ledger, now_ms, &mut self.events);
            self.records
                .extend(self.events.drain(..).map(crate::record::Record::Ledger));
            moves
        };
        manage::moves(&self.ledger, moves)
    }

    /// The report of an account and its children, with the level changes the audit ring holds
    /// for its chart.
    pub(super) fn report(
        &mut self,
        path: &AccountPath,
        now_ms: u64,
    ) -> Result<Box<Report>, EngineError> {
        let account = self.lookup(path)?;
        self.foresight.sample(&mut self.ledger, now_ms);
        let level_changes: Vec<LevelPoint> = self
            .audit
            .level_changes(path.as_str())
            .into_iter()
            .map(|(at_ms, level)| LevelPoint { at_ms, level })
            .collect();
        let mut report = build_report(
            &self.ledger,
            &mut self.foresight.watch,
            account,
            now_ms,
            &level_changes,
        );
        report.dags = crate::view::dag::dag_costs(&self.dags, path.as_str());
        Ok(Box::new(report))
    }
}

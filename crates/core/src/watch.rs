//! The watch: a forecaster per account and limited dimension, fed by sampling the ledger, and
//! the forecast alerts it decides.
//!
//! The ledger marks the accounts whose consumption moved; [`Watch::sample`] reads how much each
//! of their limited dimensions grew since the last sample and records it at the sample's time.
//! Sampling (every tick, not every report) keeps the hot path free of forecasting: a report
//! costs the ledger one flag, and a series one observation per tick however many reports came.
//!
//! The watch is derived state: it is not journaled. What it decides (alerts) is, as ledger
//! events. After a restart a series is rebuilt from the account's figures, its consumption so
//! far spread evenly over the time since the period began.

use purser_forecast::{ForecastConfig, Forecaster, ProfileLibrary};
use rustc_hash::FxHashMap;

pub use purser_forecast::Forecast;

use crate::account::AccountId;
use crate::amount::DimId;
use crate::command::{AlertCommand, AlertFigures};
use crate::ledger::Ledger;

/// Settings of the watch and its alerts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WatchConfig {
    /// Series kept at most (about 10 KiB each); accounts beyond are not forecast.
    pub series_max: usize,
    /// The horizon of an account with neither a period nor a deadline: the run is forecast to
    /// the end of the current multiple of this, counted from its opening.
    pub horizon_ms: u64,
    /// When set, every forecast ends here (trace replay: the period's end).
    pub horizon_end_ms: Option<u64>,
    /// An alert is raised when the stop threshold is forecast to be reached within this...
    pub lead_time_ms: u64,
    /// ...with at least this confidence.
    pub alert_confidence: f64,
    /// Series forecast for alerts in one pass at most.
    pub alerts_per_pass_max: usize,
    pub pseudo_horizon_ms: u64,
    /// How often the alert pass runs: an alert is raised for a stop seen this much beyond the
    /// lead time, so that the pass that raises it still comes a whole lead time before.
    pub pass_every_ms: u64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            series_max: 10_000,
            horizon_ms: 3_600_000,
            horizon_end_ms: None,
            lead_time_ms: 60_000,
            alert_confidence: 0.85,
            alerts_per_pass_max: 2_000,
            pseudo_horizon_ms: ForecastConfig::default().pseudo_horizon_ms,
            pass_every_ms: 5_000,
        }
    }
}

struct Series {
    forecaster: Forecaster,
    /// The account's `consumed` at the last sample.
    seen: u64,
    /// The slot's `period_base` the series counts from: a change means a new period.
    base: u64,
    start_ms: u64,
    /// What the alert pass last saw of it.
    glance: Option<Glance>,
}

/// The alert pass's last forecast of one series, kept for those who look without forecasting
/// (the metrics): when the series is forecast to reach its stop threshold, and how confident.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Glance {
    pub at_ms: u64,
    /// `None`: not within twice the lead time of `at_ms`.
    pub exhausts_at_ms: Option<u64>,
    pub confidence: f64,
}

/// Forecasters over the ledger's accounts.
pub struct Watch {
    config: WatchConfig,
    series: FxHashMap<(AccountId, DimId), Series>,
    profiles: ProfileLibrary,
    touched: Vec<AccountId>,
    /// Series forecast by the alert pass since they last moved.
    alert_queue: Vec<(AccountId, DimId)>,
    /// The first sample's time: accounts opened before it are rebuilt from their figures.
    began_ms: Option<u64>,
    /// Spending already committed but not yet held, per account and dimension: the cost of
    /// the DAG tasks still to start (see [`Watch::set_committed`]).
    committed: FxHashMap<(AccountId, DimId), u64>,
}

/// The forecast method an alert names when committed work, not the usage trend, exceeds
/// what is left.
pub const COMMITTED_METHOD: &str = "committed";

/// Points a series rebuilt after a restart spreads the consumption so far over.
const BACKFILL_POINTS: u64 = 16;

impl Watch {
    pub fn new(config: WatchConfig) -> Watch {
        Watch {
            config,
            series: FxHashMap::default(),
            profiles: ProfileLibrary::new(),
            touched: Vec::new(),
            alert_queue: Vec::new(),
            began_ms: None,
            committed: FxHashMap::default(),
        }
    }

    /// Replaces what work already committed will still spend, per account and dimension. The
    /// alert pass raises an alert where it exceeds what is left before the stop threshold
    /// (and keeps it while it does), as for a forecast that sees the stop coming.
    pub fn set_committed(
        &mut self,
        committed: impl IntoIterator<Item = ((AccountId, DimId), u64)>,
    ) {
        self.committed.clear();
        self.committed
            .extend(committed.into_iter().filter(|&(_, amount)| amount > 0));
    }

    pub fn config(&self) -> &WatchConfig {
        &self.config
    }

    /// Sets (or clears) the end every forecast runs to.
    pub fn set_horizon_end(&mut self, horizon_end_ms: Option<u64>) {
        self.config.horizon_end_ms = horizon_end_ms;
    }

    pub fn n_series(&self) -> usize {
        self.series.len()
    }

    /// Records what the accounts touched since the last sample consumed, at `now_ms`.
    pub fn sample(&mut self, ledger: &mut Ledger, now_ms: u64) {
        let began_ms = *self.began_ms.get_or_insert(now_ms);
        if began_ms == now_ms && ledger.last_seq() > 0 {
            // The first sample after a restart sees every account: rebuild what existed.
            ledger.touch_all();
        }
        let mut touched = std::mem::take(&mut self.touched);
        ledger.take_touched(&mut touched);
        for &account in &touched {
            self.sample_account(ledger, account, now_ms);
        }
        touched.clear();
        self.touched = touched;
    }

    fn sample_account(&mut self, ledger: &Ledger, account: AccountId, now_ms: u64) {
        let acc = ledger.account(account);
        if acc.closed {
            return;
        }
        for slot in &acc.slots {
            if slot.limit.is_none() {
                continue;
            }
            let key = (account, slot.dim);
            let start_ms = acc
                .period
                .as_ref()
                .map_or(acc.opened_ms, |period| period.start_ms);
            if let Some(series) = self.series.get(&key)
                && series.base != slot.period_base
            {
                // A new period: the old one is a finished run of this kind.
                let old = self.series.remove(&key).expect("just seen");
                if let Some(kind) = &acc.config.kind {
                    self.profiles
                        .record_run(kind, old.forecaster.history(), start_ms);
                }
            }
            if !self.series.contains_key(&key) {
                if self.series.len() >= self.config.series_max {
                    continue;
                }
                let mut forecaster = Forecaster::with_config(
                    start_ms,
                    ForecastConfig {
                        pseudo_horizon_ms: self.config.pseudo_horizon_ms,
                        ..ForecastConfig::default()
                    },
                );
                if let Some(kind) = &acc.config.kind {
                    forecaster.set_profile(self.profiles.profile(kind));
                }
                if start_ms < self.began_ms.unwrap_or(0) {
                    backfill(&mut forecaster, start_ms, now_ms, slot.period_consumed());
                } else if slot.period_consumed() > 0 {
                    forecaster.observe(now_ms, slot.period_consumed());
                }
                self.series.insert(
                    key,
                    Series {
                        forecaster,
                        seen: slot.consumed,
                        base: slot.period_base,
                        start_ms,
                        glance: None,
                    },
                );
                self.alert_queue.push(key);
                continue;
            }
            let series = self.series.get_mut(&key).expect("present");
            if slot.consumed > series.seen {
                series
                    .forecaster
                    .observe(now_ms, slot.consumed - series.seen);
                series.seen = slot.consumed;
                self.alert_queue.push(key);
            }
        }
    }

    /// A closed account's series end; with a kind, each becomes a profile of a finished run.
    pub fn finish(&mut self, ledger: &Ledger, account: AccountId, now_ms: u64) {
        let acc = ledger.account(account);
        for slot in &acc.slots {
            if let Some(series) = self.series.remove(&(account, slot.dim))
                && let Some(kind) = &acc.config.kind
            {
                self.profiles
                    .record_run(kind, series.forecaster.history(), now_ms);
            }
        }
    }

    /// Where the forecast of `account` ends: its period's end, its deadline, the configured end,
    /// or the end of the current horizon-long stretch since it opened.
    pub fn horizon_end(&self, ledger: &Ledger, account: AccountId, now_ms: u64) -> u64 {
        let acc = ledger.account(account);
        if let Some(period) = &acc.period {
            return period.end_ms.max(now_ms);
        }
        if let Some(deadline_ms) = acc.config.deadline_ms
            && deadline_ms > now_ms
        {
            return deadline_ms;
        }
        if let Some(end_ms) = self.config.horizon_end_ms {
            return end_ms.max(now_ms);
        }
        let horizon_ms = self.config.horizon_ms.max(1);
        let since = now_ms.saturating_sub(acc.opened_ms);
        acc.opened_ms + (since / horizon_ms + 1) * horizon_ms
    }

    /// The forecast of one account's dimension at `now_ms` (sample first), or `None` when the
    /// dimension is not limited there or not watched.
    pub fn forecast(
        &mut self,
        ledger: &Ledger,
        account: AccountId,
        dim: DimId,
        now_ms: u64,
    ) -> Option<Forecast> {
        let limit = ledger.account(account).limit(dim);
        let horizon_end_ms = self.horizon_end(ledger, account, now_ms);
        let series = self.series.get_mut(&(account, dim))?;
        Some(series.forecaster.forecast(now_ms, horizon_end_ms, limit))
    }

    /// The alert pass's last forecast of `account` in `dim`, if it made one.
    pub fn glance(&self, account: AccountId, dim: DimId) -> Option<Glance> {
        self.series
            .get(&(account, dim))
            .and_then(|series| series.glance)
    }

    /// When the series of `account` and `dim` began (its run or period start).
    pub fn series_start_ms(&self, account: AccountId, dim: DimId) -> Option<u64> {
        self.series
            .get(&(account, dim))
            .map(|series| series.start_ms)
    }

    /// The cumulative consumption of a series at `at_ms`, for charts.
    pub fn cumulative_at(&self, account: AccountId, dim: DimId, at_ms: u64, now_ms: u64) -> f64 {
        self.series.get(&(account, dim)).map_or(0.0, |series| {
            series.forecaster.history().cumulative_at(at_ms, now_ms)
        })
    }

    /// Decides the alerts to raise and clear at `now_ms`: series that moved since the last pass,
    /// and every account under an alert.
    pub fn alerts(&mut self, ledger: &Ledger, now_ms: u64) -> Vec<AlertCommand> {
        // Oldest first: what waited longest is looked at first, and what does not fit waits at
        // the head of the next pass (a sort here once starved the lowest ids for ever).
        let pending = std::mem::take(&mut self.alert_queue);
        let mut seen: rustc_hash::FxHashSet<(AccountId, DimId)> = Default::default();
        let mut queue = Vec::new();
        let mut rest = Vec::new();
        for key in pending {
            if seen.insert(key) {
                if queue.len() < self.config.alerts_per_pass_max {
                    queue.push(key);
                } else {
                    rest.push(key);
                }
            }
        }
        let mut in_queue: rustc_hash::FxHashSet<(AccountId, DimId)> =
            queue.iter().copied().collect();
        for (idx, acc) in ledger.alerted_accounts() {
            if let Some(alert) = acc.alert
                && in_queue.insert((idx, alert.dim))
            {
                queue.push((idx, alert.dim));
            }
        }
        let mut committed_keys: Vec<(AccountId, DimId)> = self.committed.keys().copied().collect();
        committed_keys.sort_unstable();
        for key in committed_keys {
            if in_queue.insert(key) {
                queue.push(key);
            }
        }
        let mut commands = Vec::new();
        for (account, dim) in queue {
            let acc = ledger.account(account);
            if acc.closed {
                continue;
            }
            let alerted = acc.alert.is_some_and(|alert| alert.dim == dim);
            if let Some(figures) = self.committed_exhaustion(ledger, account, dim, now_ms) {
                // Committed work alone passes the stop line: raised (or kept) whatever the trend.
                if !alerted {
                    commands.push(AlertCommand {
                        account,
                        dimension: dim,
                        raise: Some(figures),
                    });
                }
                continue;
            }
            let lead_ms = self.config.lead_time_ms.max(1);
            // Raised when the stop is seen within the lead time plus one pass, so that the pass
            // that raises it still comes a whole lead time before the stop.
            let reach_ms = lead_ms.saturating_add(self.config.pass_every_ms);
            // The question is near-term: will the account be stopped within the lead time? So
            // the forecast ends there, and its confidence is that of predictions that far out.
            // An agent is stopped at its stop threshold, not at the limit: that is the line the
            // forecast must reach. (Forecasting the limit, the alert came (limit - stop line) /
            // rate later, less than the lead time before the stop, where the forecast had seen
            // it coming: the simulation's invariant 4 found it.)
            let stop_line = acc
                .limit(dim)
                .map(|limit| acc.config.thresholds.stop_line(limit));
            let Some(forecast) = self.series.get_mut(&(account, dim)).map(|series| {
                let forecast = series
                    .forecaster
                    .forecast(now_ms, now_ms + lead_ms, stop_line);
                series.glance = Some(Glance {
                    at_ms: now_ms,
                    exhausts_at_ms: forecast.exhausts_at_ms,
                    confidence: forecast.confidence,
                });
                forecast
            }) else {
                if alerted {
                    commands.push(AlertCommand {
                        account,
                        dimension: dim,
                        raise: None,
                    });
                }
                continue;
            };
            let within = |reach_ms: u64| {
                forecast
                    .exhausts_at_ms
                    .is_some_and(|at_ms| at_ms <= now_ms.saturating_add(reach_ms))
            };
            let confident = forecast.confidence >= self.config.alert_confidence;
            if !alerted && confident && within(reach_ms) {
                commands.push(AlertCommand {
                    account,
                    dimension: dim,
                    raise: Some(AlertFigures {
                        method: forecast.method.name(),
                        projected_total: forecast.projected_total,
                        exhausts_at_ms: forecast.exhausts_at_ms.unwrap_or(now_ms),
                        confidence_ppm: (forecast.confidence * 1e6).round() as u32,
                    }),
                });
            } else if alerted && !within(lead_ms.saturating_mul(2)) {
                // Cleared only well clear of the line, so an alert does not flap.
                commands.push(AlertCommand {
                    account,
                    dimension: dim,
                    raise: None,
                });
            }
        }
        // What did not fit waits for the next pass, oldest first.
        rest.append(&mut self.alert_queue);
        self.alert_queue = rest;
        commands
    }

    /// The alert's figures when what is committed on `account` in `dim` exceeds what is left
    /// before its stop threshold (on the account or on an ancestor, where it is least).
    fn committed_exhaustion(
        &self,
        ledger: &Ledger,
        account: AccountId,
        dim: DimId,
        now_ms: u64,
    ) -> Option<AlertFigures> {
        let committed = *self.committed.get(&(account, dim))?;
        let left = ledger.holdable_on_path(account, dim)?;
        let used = ledger
            .account(account)
            .slot(dim)
            .map_or(0, |slot| slot.used());
        (committed > left).then(|| AlertFigures {
            method: COMMITTED_METHOD,
            projected_total: used.saturating_add(committed),
            exhausts_at_ms: now_ms,
            confidence_ppm: crate::level::PPM as u32,
        })
    }
}

/// Spreads `amount` consumed between `start_ms` and `now_ms` evenly, for a series rebuilt late.
fn backfill(forecaster: &mut Forecaster, start_ms: u64, now_ms: u64, amount: u64) {
    if amount == 0 {
        return;
    }
    let span = now_ms.saturating_sub(start_ms);
    let points = if span < 1_000 { 1 } else { BACKFILL_POINTS };
    let mut given = 0;
    for point in 1..=points {
        let share = (u128::from(amount) * u128::from(point) / u128::from(points)) as u64 - given;
        given += share;
        if share > 0 {
            forecaster.observe(start_ms + span * point / points, share);
        }
    }
}

//! What a replay counts: when accounts exhausted, whether stops had a warning in time, and how
//! the forecasts made along the way compare with what really happened.

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::account::AccountId;
use crate::amount::DimId;
use crate::ledger::Ledger;
use crate::level::Level;

/// Forecasts kept for scoring at most; later ones are not scored.
const FORECASTS_KEPT_MAX: usize = 1_000_000;
/// A projected total within this share of the truth is right.
const TOLERANCE: f64 = 0.10;
/// An exhaustion time within this of the truth is right, however short the remaining time.
const EXHAUSTION_SLACK_MS: u64 = 60_000;
/// Confidence from which a forecast counts as confident.
const CONFIDENT: f64 = 0.85;

pub(super) struct ForecastRecord {
    pub account: AccountId,
    pub dim: DimId,
    pub at_ms: u64,
    pub projected_total: u64,
    pub baseline_total: u64,
    pub exhausts_at_ms: Option<u64>,
    pub interval: (u64, u64),
    pub confidence: f64,
}

pub(super) struct Tally {
    lead_time_ms: u64,
    pub scored_from_ms: u64,
    forecasts: Vec<ForecastRecord>,
    exhausted_at: FxHashMap<(AccountId, DimId), u64>,
    levels: FxHashMap<AccountId, Level>,
    /// When each account last left green.
    warned_at: FxHashMap<AccountId, u64>,
    /// Each stop: the account, when, and when it was warned.
    stops: Vec<(AccountId, u64, Option<u64>)>,
}

/// The figures of one account and dimension.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccountSummary {
    pub account: String,
    pub dimension: String,
    pub limit: Option<u64>,
    pub real_total: u64,
    pub exhausted_at_ms: Option<u64>,
    pub n_forecasts: usize,
    /// Share of the projected totals within 10% of the real total.
    pub total_within_share: f64,
    pub n_before_exhaustion: usize,
    /// Of the forecasts made before the exhaustion, the share whose exhaustion time was within
    /// 10% of the real remaining time or within 60 s.
    pub exhaustion_within_share: Option<f64>,
    /// Share of the 80% intervals that contained the real total.
    pub interval_coverage: f64,
    pub n_confident: usize,
    /// Of the forecasts with confidence >= 0.85, the share within 10%.
    pub confident_within_share: Option<f64>,
    pub mape: f64,
    /// The MAPE of the plain average-rate extrapolation.
    pub baseline_mape: f64,
}

/// The replay's final line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub n_records: u64,
    pub n_after_horizon: u64,
    pub start_ms: u64,
    pub horizon_end_ms: u64,
    pub n_stops: usize,
    /// Stops with a warning at least `lead_time_ms` before.
    pub n_stops_warned_in_time: usize,
    pub lead_time_ms: u64,
    pub accounts: Vec<AccountSummary>,
}

impl Tally {
    pub fn new(lead_time_ms: u64) -> Tally {
        Tally {
            lead_time_ms,
            scored_from_ms: 0,
            forecasts: Vec::new(),
            exhausted_at: FxHashMap::default(),
            levels: FxHashMap::default(),
            warned_at: FxHashMap::default(),
            stops: Vec::new(),
        }
    }

    pub fn record_forecast(&mut self, record: ForecastRecord) {
        if self.forecasts.len() < FORECASTS_KEPT_MAX {
            self.forecasts.push(record);
        }
    }

    /// Notes the first time the account or an ancestor reached a limit.
    pub fn note_consumption(&mut self, ledger: &Ledger, account: AccountId, at_ms: u64) {
        let mut next = Some(account);
        while let Some(id) = next {
            let acc = ledger.account(id);
            for slot in &acc.slots {
                if let Some(limit) = slot.limit
                    && slot.period_consumed() >= limit
                {
                    self.exhausted_at.entry((id, slot.dim)).or_insert(at_ms);
                }
            }
            next = acc.parent;
        }
    }

    pub fn note_level(&mut self, account: AccountId, to: Level, at_ms: u64) {
        let from = self.levels.insert(account, to).unwrap_or(Level::Green);
        if from == Level::Green && to > Level::Green {
            self.warned_at.insert(account, at_ms);
        }
        if to == Level::Black && from < Level::Black {
            self.stops
                .push((account, at_ms, self.warned_at.get(&account).copied()));
        }
    }

    pub fn summary(
        &self,
        ledger: &Ledger,
        n_records: u64,
        n_after_horizon: u64,
        start_ms: u64,
        horizon_end_ms: u64,
    ) -> Summary {
        let mut by_series: std::collections::BTreeMap<(AccountId, DimId), Vec<&ForecastRecord>> =
            std::collections::BTreeMap::new();
        for record in &self.forecasts {
            by_series
                .entry((record.account, record.dim))
                .or_default()
                .push(record);
        }
        let mut accounts = Vec::new();
        for (idx, acc) in ledger.accounts.iter().enumerate() {
            let account = AccountId(idx as u32);
            for slot in &acc.slots {
                if slot.limit.is_none() {
                    continue;
                }
                let records = by_series
                    .get(&(account, slot.dim))
                    .map_or(&[][..], Vec::as_slice);
                accounts.push(self.score(
                    ledger,
                    account,
                    slot.dim,
                    slot.limit,
                    slot.period_consumed(),
                    records,
                ));
            }
        }
        let n_stops_warned_in_time = self
            .stops
            .iter()
            .filter(|(_, stop_ms, warned)| {
                warned.is_some_and(|warned_ms| warned_ms + self.lead_time_ms <= *stop_ms)
            })
            .count();
        Summary {
            n_records,
            n_after_horizon,
            start_ms,
            horizon_end_ms,
            n_stops: self.stops.len(),
            n_stops_warned_in_time,
            lead_time_ms: self.lead_time_ms,
            accounts,
        }
    }

    fn score(
        &self,
        ledger: &Ledger,
        account: AccountId,
        dim: DimId,
        limit: Option<u64>,
        real_total: u64,
        records: &[&ForecastRecord],
    ) -> AccountSummary {
        let exhausted_at_ms = self.exhausted_at.get(&(account, dim)).copied();
        let error =
            |predicted: u64| predicted.abs_diff(real_total) as f64 / real_total.max(1) as f64;
        let share = |count: usize, of: usize| {
            if of == 0 {
                0.0
            } else {
                count as f64 / of as f64
            }
        };
        let n = records.len();
        let within = records
            .iter()
            .filter(|r| error(r.projected_total) <= TOLERANCE)
            .count();
        let covered = records
            .iter()
            .filter(|r| r.interval.0 <= real_total && real_total <= r.interval.1)
            .count();
        let confident: Vec<&&ForecastRecord> = records
            .iter()
            .filter(|r| r.confidence >= CONFIDENT)
            .collect();
        let confident_within = confident
            .iter()
            .filter(|r| error(r.projected_total) <= TOLERANCE)
            .count();
        let before: Vec<&&ForecastRecord> = match exhausted_at_ms {
            Some(real_ms) => records.iter().filter(|r| r.at_ms < real_ms).collect(),
            None => Vec::new(),
        };
        let before_within = before
            .iter()
            .filter(|r| {
                let real_ms = exhausted_at_ms.expect("only with an exhaustion");
                let allowed_ms = EXHAUSTION_SLACK_MS.max((real_ms - r.at_ms) / 10);
                r.exhausts_at_ms
                    .is_some_and(|predicted| predicted.abs_diff(real_ms) <= allowed_ms)
            })
            .count();
        let sum_error: f64 = records.iter().map(|r| error(r.projected_total)).sum();
        let sum_baseline: f64 = records.iter().map(|r| error(r.baseline_total)).sum();
        AccountSummary {
            account: ledger.account(account).path.to_string(),
            dimension: ledger.dimensions().name(dim).to_string(),
            limit,
            real_total,
            exhausted_at_ms,
            n_forecasts: n,
            total_within_share: share(within, n),
            n_before_exhaustion: before.len(),
            exhaustion_within_share: (!before.is_empty())
                .then(|| share(before_within, before.len())),
            interval_coverage: share(covered, n),
            n_confident: confident.len(),
            confident_within_share: (!confident.is_empty())
                .then(|| share(confident_within, confident.len())),
            mape: share(1, n) * sum_error,
            baseline_mape: share(1, n) * sum_baseline,
        }
    }
}

//! Trace replay: a usage trace run through the ledger and the manager in virtual time, as fast
//! as the machine allows. Users tune thresholds and policies on their own traces with it.
//!
//! [`TraceReplay`] takes the trace's records in time order ([`TraceReplay::push`]) and answers
//! what happened as [`ReplayLine`]s: a `forecast` for every watched account and dimension at
//! every forecast time, a `level` at every level change, `alert`s, `grant`s and `reclaim`s, and
//! at the end ([`TraceReplay::finish`]) a `summary` (when each account exhausted, how many stops
//! had a warning `lead_time` before, and how accurate the forecasts were). Pure: the shell reads
//! the trace and writes the lines.

mod lines;
mod tally;

use std::collections::BTreeMap;

use crate::account::AccountId;
use crate::allocate::Strategy;
use crate::amount::NamedAmounts;
use crate::command::{AccountSpec, AllocateRequest, ChildRequest, Command, UsageReport};
use crate::event::Event;
use crate::foresight::{Foresight, ForesightConfig};
use crate::ledger::Ledger;
use crate::path::AccountPath;

pub use lines::ReplayLine;
pub use tally::{AccountSummary, Summary};
use tally::{ForecastRecord, Tally};

/// One line of a trace: usage of an account at a time.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceRecord {
    pub at_ms: u64,
    pub account: AccountPath,
    pub usage: NamedAmounts,
    pub work_units: u64,
}

/// How to replay.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplaySetup {
    /// Limits of every account the trace names (or, with `allocate_equal`, of each top-level
    /// account, spread equally down the tree).
    pub limits: NamedAmounts,
    pub allocate_equal: bool,
    /// The budget period's length, from the trace's first timestamp.
    pub horizon_ms: u64,
    pub forecast_every_ms: u64,
    /// The clock's tick in virtual time: holds expire, alerts and the optimizer run on it.
    pub tick_ms: u64,
    /// Forecasts from this share of the horizon on count in the summary's accuracy.
    pub first_scored_fraction: f64,
    pub manager: ForesightConfig,
}

impl Default for ReplaySetup {
    fn default() -> Self {
        ReplaySetup {
            limits: Vec::new(),
            allocate_equal: false,
            horizon_ms: 3_600_000,
            forecast_every_ms: 60_000,
            tick_ms: 1_000,
            first_scored_fraction: 0.1,
            manager: ForesightConfig::default(),
        }
    }
}

/// Why a trace cannot be replayed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TraceError {
    #[error("record {index}: at_ms {at_ms} is before the previous record's {previous_ms}")]
    OutOfOrder {
        index: u64,
        at_ms: u64,
        previous_ms: u64,
    },
    #[error("record {index}: {message}")]
    Rejected { index: u64, message: String },
}

/// A replay in progress.
pub struct TraceReplay {
    setup: ReplaySetup,
    ledger: Ledger,
    manager: Foresight,
    start_ms: Option<u64>,
    now_ms: u64,
    next_tick_ms: u64,
    next_forecast_ms: u64,
    n_records: u64,
    n_after_horizon: u64,
    tally: Tally,
    /// Accounts named in advance, created at the first timestamp (equal allocation).
    planned: Vec<AccountPath>,
    /// Accounts some record named (they carry the limits unless allocated).
    named: rustc_hash::FxHashSet<AccountId>,
    begun: bool,
    events: Vec<Event>,
}

impl TraceReplay {
    /// `accounts`: every account the trace names, when known in advance (needed for
    /// `allocate_equal`, which spreads the limits over the whole tree at the start).
    pub fn new(setup: ReplaySetup, accounts: Vec<AccountPath>) -> TraceReplay {
        let manager = Foresight::new(setup.manager);
        TraceReplay {
            ledger: Ledger::default(),
            manager,
            start_ms: None,
            now_ms: 0,
            next_tick_ms: 0,
            next_forecast_ms: 0,
            n_records: 0,
            n_after_horizon: 0,
            tally: Tally::new(setup.manager.watch.lead_time_ms),
            planned: accounts,
            named: rustc_hash::FxHashSet::default(),
            begun: false,
            events: Vec::new(),
            setup,
        }
    }

    pub fn horizon_end_ms(&self) -> Option<u64> {
        self.start_ms.map(|start| start + self.setup.horizon_ms)
    }

    /// Replays one record, after the ticks and forecasts due before it.
    pub fn push(
        &mut self,
        record: TraceRecord,
        out: &mut Vec<ReplayLine>,
    ) -> Result<(), TraceError> {
        let index = self.n_records;
        self.n_records += 1;
        if self.start_ms.is_none() {
            self.begin(record.at_ms, out)?;
        } else if record.at_ms < self.now_ms {
            return Err(TraceError::OutOfOrder {
                index,
                at_ms: record.at_ms,
                previous_ms: self.now_ms,
            });
        }
        let horizon_end_ms = self.horizon_end_ms().expect("begun");
        if record.at_ms > horizon_end_ms {
            self.n_after_horizon += 1;
            return Ok(());
        }
        self.advance(record.at_ms, out);
        self.now_ms = record.at_ms;
        let account = self.ensure(&record.account, record.at_ms, out, index, true)?;
        let report = UsageReport {
            account: record.account,
            account_id: Some(account),
            usage: record.usage.into(),
            operation: None,
            work_units: record.work_units,
            idempotency_key: None,
        };
        self.manager
            .apply(
                &mut self.ledger,
                Command::Usage(report),
                record.at_ms,
                &mut self.events,
            )
            .map_err(|err| TraceError::Rejected {
                index,
                message: err.to_string(),
            })?;
        self.tally
            .note_consumption(&self.ledger, account, record.at_ms);
        self.drain(out);
        Ok(())
    }

    /// Runs the clock to the horizon's end and answers the summary.
    pub fn finish(mut self, out: &mut Vec<ReplayLine>) -> Summary {
        if let Some(end_ms) = self.horizon_end_ms() {
            self.advance(end_ms, out);
        }
        let summary = self.tally.summary(
            &self.ledger,
            self.n_records,
            self.n_after_horizon,
            self.start_ms.unwrap_or(0),
            self.horizon_end_ms().unwrap_or(0),
        );
        out.push(ReplayLine::Summary(summary.clone()));
        summary
    }

    fn begin(&mut self, start_ms: u64, out: &mut Vec<ReplayLine>) -> Result<(), TraceError> {
        self.start_ms = Some(start_ms);
        self.now_ms = start_ms;
        self.next_tick_ms = start_ms + self.setup.tick_ms.max(1);
        self.next_forecast_ms = start_ms + self.setup.forecast_every_ms.max(1);
        self.manager
            .watch
            .set_horizon_end(Some(start_ms + self.setup.horizon_ms));
        self.tally.scored_from_ms = start_ms
            + (self.setup.horizon_ms as f64 * self.setup.first_scored_fraction).round() as u64;
        let planned = std::mem::take(&mut self.planned);
        for path in &planned {
            self.ensure(path, start_ms, out, 0, true)?;
        }
        if self.setup.allocate_equal {
            // Top-down, so that each parent has its limits before it spreads them.
            let mut parents: Vec<AccountPath> = self
                .ledger
                .open_parents()
                .map(|id| self.ledger.account(id).path.clone())
                .collect();
            parents.sort_by_key(|path| path.depth());
            for parent in parents {
                self.allocate_equal(&parent, start_ms)
                    .map_err(|err| TraceError::Rejected {
                        index: 0,
                        message: err.to_string(),
                    })?;
            }
        }
        self.drain(out);
        self.begun = true;
        Ok(())
    }

    /// Ticks and forecasts due strictly before `until_ms` (and at it, at the horizon's end).
    fn advance(&mut self, until_ms: u64, out: &mut Vec<ReplayLine>) {
        let end_ms = self.horizon_end_ms().expect("begun");
        loop {
            let next = self.next_tick_ms.min(self.next_forecast_ms);
            if next > until_ms || (next == until_ms && until_ms < end_ms) || next >= end_ms {
                break;
            }
            self.now_ms = next;
            if next == self.next_tick_ms {
                self.manager.tick(&mut self.ledger, next, &mut self.events);
                self.next_tick_ms += self.setup.tick_ms.max(1);
                self.drain(out);
            }
            if next == self.next_forecast_ms {
                self.forecast_all(next, out);
                self.next_forecast_ms += self.setup.forecast_every_ms.max(1);
            }
        }
    }

    fn forecast_all(&mut self, now_ms: u64, out: &mut Vec<ReplayLine>) {
        self.manager.sample(&mut self.ledger, now_ms);
        let mut targets: Vec<(AccountId, crate::amount::DimId)> = Vec::new();
        for idx in 0..self.ledger.accounts.len() {
            let acc = &self.ledger.accounts[idx];
            if acc.closed {
                continue;
            }
            for slot in &acc.slots {
                if slot.limit.is_some() {
                    targets.push((AccountId(idx as u32), slot.dim));
                }
            }
        }
        for (account, dim) in targets {
            let Some(forecast) = self
                .manager
                .watch
                .forecast(&self.ledger, account, dim, now_ms)
            else {
                continue;
            };
            let path = self.ledger.account(account).path.to_string();
            out.push(ReplayLine::Forecast {
                at_ms: now_ms,
                account: path,
                dimension: self.ledger.dimensions().name(dim).to_string(),
                method: forecast.method.name(),
                consumed: forecast.consumed,
                limit: forecast.limit,
                projected_total: forecast.projected_total,
                time_to_exhaustion_s: forecast.time_to_exhaustion_s,
                interval_low: forecast.interval.low,
                interval_high: (forecast.interval.high != u64::MAX)
                    .then_some(forecast.interval.high),
                confidence: forecast.confidence,
            });
            if now_ms >= self.tally.scored_from_ms {
                self.tally.record_forecast(ForecastRecord {
                    account,
                    dim,
                    at_ms: now_ms,
                    projected_total: forecast.projected_total,
                    baseline_total: forecast.baseline_total,
                    exhausts_at_ms: forecast.exhausts_at_ms,
                    interval: (forecast.interval.low, forecast.interval.high),
                    confidence: forecast.confidence,
                });
            }
        }
    }

    /// Opens `path` and its missing ancestors; answers its id. A `named` account (one a record
    /// names) gets the setup's limits, unless they are spread by an equal allocation.
    fn ensure(
        &mut self,
        path: &AccountPath,
        at_ms: u64,
        out: &mut Vec<ReplayLine>,
        index: u64,
        named: bool,
    ) -> Result<AccountId, TraceError> {
        let rejected = |err: crate::LedgerError| TraceError::Rejected {
            index,
            message: err.to_string(),
        };
        if let Some(id) = self.ledger.lookup(path.as_str()) {
            if named && !self.setup.allocate_equal && self.named.insert(id) {
                // Opened as an ancestor first, named now: it gets its limits if they fit.
                let spec = AccountSpec {
                    limits: Some(self.setup.limits.clone()),
                    ..AccountSpec::default()
                };
                let command = Command::UpsertAccount {
                    path: path.clone(),
                    spec,
                };
                let _ = self
                    .manager
                    .apply(&mut self.ledger, command, at_ms, &mut self.events);
                self.drain(out);
            }
            return Ok(id);
        }
        if let Some(parent) = path.parent() {
            self.ensure(&parent, at_ms, out, index, false)?;
        }
        let top = path.parent().is_none();
        let with_limits = if self.setup.allocate_equal {
            top
        } else {
            named
        };
        let spec = AccountSpec {
            limits: with_limits.then(|| self.setup.limits.clone()),
            ..AccountSpec::default()
        };
        let command = Command::UpsertAccount {
            path: path.clone(),
            spec,
        };
        self.manager
            .apply(&mut self.ledger, command, at_ms, &mut self.events)
            .map_err(rejected)?;
        let id = self.ledger.lookup(path.as_str()).expect("just opened");
        if named {
            self.named.insert(id);
        }
        if self.setup.allocate_equal
            && self.begun
            && let Some(parent) = path.parent()
        {
            // An account the plan did not know: its siblings share anew, if the tree allows.
            let _ = self.allocate_equal(&parent, at_ms);
        }
        self.drain(out);
        Ok(id)
    }

    /// Spreads the parent's pool equally over its children, as they are known now.
    fn allocate_equal(
        &mut self,
        parent: &AccountPath,
        at_ms: u64,
    ) -> Result<(), crate::LedgerError> {
        let parent_id = self.ledger.lookup(parent.as_str()).expect("opened first");
        let children: Vec<ChildRequest> = self
            .ledger
            .account(parent_id)
            .children
            .keys()
            .map(|name| ChildRequest {
                name: name.to_string(),
                weight: None,
                priority: None,
                demand: None,
            })
            .collect();
        let request = AllocateRequest {
            strategy: Strategy::Equal,
            total: None,
            children,
            min_share: None,
            max_share: None,
            initial_share: None,
        };
        self.manager
            .apply(
                &mut self.ledger,
                Command::Allocate {
                    path: parent.clone(),
                    request,
                },
                at_ms,
                &mut self.events,
            )
            .map(|_| ())
    }
}

/// The accounts a trace names, each once, for an equal allocation planned in advance.
pub fn accounts_of(records: &[TraceRecord]) -> Vec<AccountPath> {
    let mut seen: BTreeMap<&str, &AccountPath> = BTreeMap::new();
    for record in records {
        seen.entry(record.account.as_str())
            .or_insert(&record.account);
    }
    seen.into_values().cloned().collect()
}

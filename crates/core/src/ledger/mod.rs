//! The ledger: the state, `apply` for commands, `replay` for events.
//!
//! Every command is decided against the state without changing it (`decide.rs`); what it decides
//! is a list of events, and the state changes only by folding those events (`evolve.rs`). Replay
//! of the journal runs the same fold, so the live state and the replayed one cannot drift apart.

mod accounts;
mod allocation;
mod check;
mod decide;
mod holds;
mod keys;
pub use accounts::{merge_config, pool_beyond_reserve};
pub use decide::reservation_name;
mod evolve;
mod manage;
mod rules;
mod rules_fold;
pub use rules::{RulesSnapshot, RulesSpec, parse_request_name, request_name};
mod snapshot;
mod view;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::account::{Account, AccountId};
use crate::amount::{Amounts, Dimensions};
use crate::command::{Answer, Command, ReserveAnswer, UsageAnswer};
use crate::error::LedgerError;
use crate::event::Event;

pub use snapshot::{LedgerSnapshot, LedgerSnapshotBeforeRules};
pub use view::{AccountStatus, DimFigures};

/// Bounds on what the ledger keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerLimits {
    pub accounts_max: usize,
    pub open_reservations_max: usize,
    /// Idempotency keys remembered; the oldest are forgotten first.
    pub idempotency_keys_max: usize,
    /// Settled, voided and expired reservations remembered for late settles and retries.
    pub closed_reservations_max: usize,
    /// Holds released by one `ExpireDue`; the rest wait for the next.
    pub expiries_per_command_max: usize,
    /// The largest amount one report, settlement or hold may carry in one dimension. Far below
    /// what the `u64` sums can hold, so that no accepted report can make a later one
    /// impossible: at the default it takes 18 million reports of the maximum on one account
    /// to reach the ceiling, where the figures stop growing instead of refusing.
    pub amount_max: u64,
}

/// The default of [`LedgerLimits::amount_max`]: 10^12 (a trillion tokens, a million dollars in
/// micros, 31 years in milliseconds, a terabyte).
pub const AMOUNT_MAX_DEFAULT: u64 = 1_000_000_000_000;

impl Default for LedgerLimits {
    fn default() -> Self {
        LedgerLimits {
            accounts_max: 1_000_000,
            open_reservations_max: 1_000_000,
            idempotency_keys_max: 1_000_000,
            closed_reservations_max: 1_000_000,
            expiries_per_command_max: 100_000,
            amount_max: AMOUNT_MAX_DEFAULT,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum HoldState {
    Open,
    Voided,
    Expired,
    Settled(UsageAnswer),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Hold {
    pub account: AccountId,
    pub amount: Amounts,
    pub expires_ms: u64,
    pub idempotency_key: Option<Arc<str>>,
    pub answer: ReserveAnswer,
    pub state: HoldState,
}

/// The first answer to a request with an idempotency key.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Remembered {
    Usage(UsageAnswer),
    Reservation(u64),
}

/// An error found while replaying: the journal does not fold into a valid state.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("replay of event {seq} failed: {message}")]
pub struct ReplayError {
    pub seq: u64,
    pub message: String,
}

/// The whole budget state. One thread owns it.
#[derive(Clone, Debug)]
pub struct Ledger {
    pub(crate) limits: LedgerLimits,
    /// The settings a new account starts with (the server's configured defaults).
    pub(crate) defaults: crate::account::AccountConfig,
    pub(crate) dims: Dimensions,
    pub(crate) accounts: Vec<Account>,
    pub(crate) by_path: FxHashMap<Arc<str>, AccountId>,
    pub(crate) roots: BTreeMap<Arc<str>, AccountId>,
    pub(crate) holds: FxHashMap<u64, Hold>,
    pub(crate) expiry: BTreeSet<(u64, u64)>,
    pub(crate) closed_holds: VecDeque<u64>,
    pub(crate) n_open_holds: usize,
    pub(crate) remembered: keys::Keys,
    pub(crate) last_seq: u64,
    /// Level changes the fold derived, waiting to be journaled (live) or checked (replay).
    pub(crate) derived: Vec<Event>,
    pub(crate) replay_pending: VecDeque<Event>,
    /// Accounts whose consumption moved since the watch last sampled (derived, not kept).
    pub(crate) touched: Vec<AccountId>,
    /// Open accounts that renew on a period, and open accounts under a forecast alert: what the
    /// clock's tick looks at, without scanning every account (derived from the accounts).
    pub(crate) renewing: BTreeSet<AccountId>,
    pub(crate) alerted: BTreeSet<AccountId>,
    /// Budget rules, runs, halts and increase requests.
    pub(crate) book: rules::Book,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger::new(LedgerLimits::default())
    }
}

impl Ledger {
    pub fn new(limits: LedgerLimits) -> Ledger {
        Ledger {
            limits,
            defaults: crate::account::AccountConfig::default(),
            dims: Dimensions::default(),
            accounts: Vec::new(),
            by_path: FxHashMap::default(),
            roots: BTreeMap::new(),
            holds: FxHashMap::default(),
            expiry: BTreeSet::new(),
            closed_holds: VecDeque::new(),
            n_open_holds: 0,
            remembered: keys::Keys::default(),
            last_seq: 0,
            derived: Vec::new(),
            replay_pending: VecDeque::new(),
            touched: Vec::new(),
            renewing: BTreeSet::new(),
            alerted: BTreeSet::new(),
            book: rules::Book::default(),
        }
    }

    /// Hands over the accounts whose consumption moved since the last call.
    pub fn take_touched(&mut self, out: &mut Vec<AccountId>) {
        for &account in &self.touched {
            self.accounts[account.0 as usize].touched = false;
        }
        out.append(&mut self.touched);
    }

    /// Marks every open account as touched (a watch starting over after a restart).
    pub fn touch_all(&mut self) {
        for (idx, acc) in self.accounts.iter_mut().enumerate() {
            if !acc.closed && !acc.touched {
                acc.touched = true;
                self.touched.push(AccountId(idx as u32));
            }
        }
    }

    /// Accounts under a forecast alert.
    pub fn alerted_accounts(&self) -> impl Iterator<Item = (AccountId, &Account)> + '_ {
        self.alerted.iter().map(|&id| (id, self.account(id)))
    }

    /// Puts `account` in the tick's indexes it belongs to, and only those.
    pub(crate) fn reindex(&mut self, account: AccountId) {
        let acc = &self.accounts[account.0 as usize];
        let (renews, alerted) = (
            !acc.closed && acc.config.period.is_some(),
            !acc.closed && acc.alert.is_some(),
        );
        for (set, member) in [(&mut self.renewing, renews), (&mut self.alerted, alerted)] {
            if member {
                set.insert(account);
            } else {
                set.remove(&account);
            }
        }
    }

    /// Sets the settings new accounts start with. Not journaled: each new account's event
    /// carries its whole config.
    pub fn set_defaults(&mut self, defaults: crate::account::AccountConfig) {
        self.defaults = defaults;
    }

    pub fn defaults(&self) -> &crate::account::AccountConfig {
        &self.defaults
    }

    /// The sequence number of the last event.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub fn dimensions(&self) -> &Dimensions {
        &self.dims
    }

    pub fn account(&self, account: AccountId) -> &Account {
        &self.accounts[account.0 as usize]
    }

    pub fn lookup(&self, path: &str) -> Option<AccountId> {
        self.by_path.get(path).copied()
    }

    /// Every open account's path and id, in no order.
    pub fn paths(&self) -> impl Iterator<Item = (&Arc<str>, AccountId)> + '_ {
        self.by_path.iter().map(|(path, id)| (path, *id))
    }

    /// The account `path` names: `hint` while that account is open (ids are never reused and
    /// an open account keeps its path), else looked up by the path.
    pub fn lookup_hinted(&self, path: &str, hint: Option<AccountId>) -> Option<AccountId> {
        match hint {
            Some(id)
                if self
                    .accounts
                    .get(id.0 as usize)
                    .is_some_and(|acc| !acc.closed) =>
            {
                Some(id)
            }
            _ => self.lookup(path),
        }
    }

    pub fn n_accounts(&self) -> usize {
        self.by_path.len()
    }

    pub fn n_open_reservations(&self) -> usize {
        self.n_open_holds
    }

    /// Decides `command` at `now_ms` and folds what it decided into the state. The events go to
    /// `events`, to be journaled; on error nothing changed and nothing was added.
    pub fn apply(
        &mut self,
        command: Command,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LedgerError> {
        let first_new = events.len();
        let answer = match command {
            Command::UpsertAccount { path, spec } => {
                self.upsert_account(&path, spec, now_ms, events)
            }
            Command::CloseAccount { path } => self.close_account(&path, now_ms, events),
            Command::Allocate { path, request } => self.allocate(&path, request, now_ms, events),
            Command::Usage(report) => self.report_usage(report, now_ms, events),
            Command::Reserve(request) => self.reserve(request, now_ms, events),
            Command::Settle(request) => self.settle(request, now_ms, events),
            Command::Void { reservation } => self.void(reservation, now_ms, events),
            Command::ExpireDue => Ok(self.expire_due(now_ms, events)),
            Command::Alert(alert) => self.alert(alert, now_ms, events),
            Command::Reallocate(moves) => Ok(self.reallocate(moves, now_ms, events)),
            Command::RenewPeriod {
                account,
                start_ms,
                end_ms,
            } => self.renew(account, start_ms, end_ms, now_ms, events),
            Command::ResetUsage { path } => self.reset_usage(&path, now_ms, events),
            Command::StartRun { path } => self.start_run(&path, now_ms, events),
            Command::ReachCap { account, cap } => self.reach_cap(account, cap, now_ms, events),
            Command::RequestIncrease {
                path,
                amount,
                reason,
                idempotency_key,
            } => self.request_increase(&path, amount, reason, idempotency_key, now_ms, events),
            Command::DecideIncrease {
                request,
                approve,
                note,
            } => self.decide_increase(request, approve, note, now_ms, events),
        };
        // Invariant: a refused command emitted nothing (deciding never half-applies).
        debug_assert!(answer.is_ok() || events.len() == first_new);
        answer
    }

    /// Appends `event` as the next fact and folds it in, with the level changes it causes.
    pub(crate) fn emit(&mut self, event: Event, events: &mut Vec<Event>) {
        self.last_seq += 1;
        let seq = self.last_seq;
        self.evolve(seq, &event);
        events.push(event);
        if !self.derived.is_empty() {
            for derived in self.derived.drain(..) {
                self.last_seq += 1;
                events.push(derived);
            }
        }
    }

    /// Folds one journaled event in. Level changes in the journal are checked against the ones
    /// the fold derives: a mismatch means the journal and the code disagree.
    pub fn replay(&mut self, seq: u64, event: Event) -> Result<(), ReplayError> {
        if seq != self.last_seq + 1 {
            return Err(ReplayError {
                seq,
                message: format!("expected event {}", self.last_seq + 1),
            });
        }
        // A refused event changes nothing, not even the sequence.
        if event.is_derived() {
            if self.replay_pending.front() != Some(&event) {
                return Err(ReplayError {
                    seq,
                    message: format!(
                        "journal has {event:?}, replay derived {:?}",
                        self.replay_pending.front()
                    ),
                });
            }
            self.replay_pending.pop_front();
            self.last_seq = seq;
            return Ok(());
        }
        if let Some(missing) = self.replay_pending.front() {
            return Err(ReplayError {
                seq,
                message: format!("replay derived {missing:?}, the journal lacks it"),
            });
        }
        self.check_replayable(seq, &event)?;
        self.last_seq = seq;
        self.evolve(seq, &event);
        self.replay_pending.extend(self.derived.drain(..));
        Ok(())
    }

    /// True when replay has no derived event still waiting for its journal entry.
    pub fn replay_settled(&self) -> bool {
        self.replay_pending.is_empty()
    }

    /// Takes the next sequence number for a record the ledger does not fold (another state
    /// machine's event sharing the journal), so the journal keeps one sequence. Live only,
    /// between commands.
    pub fn take_foreign_seq(&mut self) -> u64 {
        // Invariant: a foreign record never splits a command from the level changes it derived.
        assert!(self.derived.is_empty(), "foreign seq taken mid-command");
        self.last_seq += 1;
        self.last_seq
    }

    /// Gives back the seq just taken by [`Ledger::take_foreign_seq`] when its record is not
    /// written after all (the command it was to precede was refused and wrote nothing).
    pub fn give_back_foreign_seq(&mut self, seq: u64) {
        // Invariant: nothing took a seq since.
        assert_eq!(seq, self.last_seq, "a seq was taken after the foreign one");
        self.last_seq -= 1;
    }

    /// Replay: accounts for a record the ledger does not fold at `seq`. It must come next, and
    /// not between a command and the level changes that command derived.
    pub fn replay_foreign(&mut self, seq: u64) -> Result<(), ReplayError> {
        if seq != self.last_seq + 1 {
            return Err(ReplayError {
                seq,
                message: format!("expected event {}", self.last_seq + 1),
            });
        }
        if let Some(missing) = self.replay_pending.front() {
            return Err(ReplayError {
                seq,
                message: format!("replay derived {missing:?}, the journal lacks it"),
            });
        }
        self.last_seq = seq;
        Ok(())
    }
}

//! Snapshots: the state as one canonical value. Two ledgers with the same history give the same
//! snapshot, byte for byte once encoded, which is how replay is checked against the live state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::{Hold, HoldState, Ledger, LedgerLimits, Remembered};
use crate::account::{Account, AccountId};
use crate::amount::{Amounts, Dimensions};
use crate::command::{ReserveAnswer, UsageAnswer};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum HoldStateRecord {
    Open,
    Voided,
    Expired,
    Settled(UsageAnswer),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct HoldRecord {
    pub(crate) id: u64,
    pub(crate) account: AccountId,
    pub(crate) amount: Amounts,
    pub(crate) expires_ms: u64,
    pub(crate) idempotency_key: Option<Arc<str>>,
    pub(crate) answer: ReserveAnswer,
    pub(crate) state: HoldStateRecord,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum RememberedRecord {
    Usage(UsageAnswer),
    Reservation(u64),
}

/// The ledger's state, canonical: ordered by id, by time of insertion where that matters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerSnapshot {
    pub last_seq: u64,
    pub(crate) custom_dimensions: Vec<Arc<str>>,
    pub(crate) accounts: Vec<Account>,
    pub(crate) holds: Vec<HoldRecord>,
    pub(crate) closed_holds: Vec<u64>,
    pub(crate) remembered: Vec<(AccountId, Arc<str>, RememberedRecord)>,
    /// Last: a snapshot from before rules is this without it (`LedgerSnapshotBeforeRules`).
    pub(crate) rules: super::RulesSnapshot,
}

/// A snapshot written before budget rules existed: the same without the rules.
#[derive(Deserialize)]
pub struct LedgerSnapshotBeforeRules {
    last_seq: u64,
    custom_dimensions: Vec<Arc<str>>,
    accounts: Vec<Account>,
    holds: Vec<HoldRecord>,
    closed_holds: Vec<u64>,
    remembered: Vec<(AccountId, Arc<str>, RememberedRecord)>,
}

impl From<LedgerSnapshotBeforeRules> for LedgerSnapshot {
    fn from(old: LedgerSnapshotBeforeRules) -> LedgerSnapshot {
        LedgerSnapshot {
            last_seq: old.last_seq,
            custom_dimensions: old.custom_dimensions,
            accounts: old.accounts,
            holds: old.holds,
            closed_holds: old.closed_holds,
            remembered: old.remembered,
            rules: super::RulesSnapshot::default(),
        }
    }
}

impl Ledger {
    pub fn to_snapshot(&self) -> LedgerSnapshot {
        // Invariant: a snapshot is taken between commands, never with derived events pending.
        assert!(
            self.derived.is_empty() && self.replay_pending.is_empty(),
            "snapshot taken mid-event"
        );
        let mut holds: Vec<HoldRecord> = self
            .holds
            .iter()
            .map(|(id, hold)| HoldRecord {
                id: *id,
                account: hold.account,
                amount: hold.amount.clone(),
                expires_ms: hold.expires_ms,
                idempotency_key: hold.idempotency_key.clone(),
                answer: hold.answer.clone(),
                state: match &hold.state {
                    HoldState::Open => HoldStateRecord::Open,
                    HoldState::Voided => HoldStateRecord::Voided,
                    HoldState::Expired => HoldStateRecord::Expired,
                    HoldState::Settled(answer) => HoldStateRecord::Settled(answer.clone()),
                },
            })
            .collect();
        holds.sort_by_key(|hold| hold.id);
        let remembered = self
            .remembered
            .iter()
            .map(|(account, key, answer)| {
                let record = match answer {
                    Remembered::Usage(answer) => RememberedRecord::Usage(answer.clone()),
                    Remembered::Reservation(id) => RememberedRecord::Reservation(*id),
                };
                (account, key.clone(), record)
            })
            .collect();
        LedgerSnapshot {
            last_seq: self.last_seq,
            custom_dimensions: self.dims.custom_names().cloned().collect(),
            accounts: self.accounts.clone(),
            holds,
            closed_holds: self.closed_holds.iter().copied().collect(),
            remembered,
            rules: self.book.to_snapshot(),
        }
    }

    /// The ledger of a snapshot read from storage: checked first (`LedgerSnapshot::check`).
    pub fn try_from_snapshot(
        snapshot: LedgerSnapshot,
        limits: LedgerLimits,
    ) -> Result<Ledger, String> {
        snapshot.check()?;
        Ok(Ledger::from_snapshot(snapshot, limits))
    }

    pub fn from_snapshot(snapshot: LedgerSnapshot, limits: LedgerLimits) -> Ledger {
        let mut dims = Dimensions::default();
        for name in &snapshot.custom_dimensions {
            dims.add(name);
        }
        let mut by_path = FxHashMap::default();
        let mut roots = BTreeMap::new();
        for (idx, account) in snapshot.accounts.iter().enumerate() {
            if account.closed {
                continue;
            }
            let id = AccountId(idx as u32);
            by_path.insert(account.path.shared(), id);
            if account.parent.is_none() {
                roots.insert(Arc::from(account.path.name()), id);
            }
        }
        let mut holds = FxHashMap::default();
        let mut expiry = BTreeSet::new();
        let mut n_open_holds = 0;
        for record in snapshot.holds {
            let state = match record.state {
                HoldStateRecord::Open => {
                    expiry.insert((record.expires_ms, record.id));
                    n_open_holds += 1;
                    HoldState::Open
                }
                HoldStateRecord::Voided => HoldState::Voided,
                HoldStateRecord::Expired => HoldState::Expired,
                HoldStateRecord::Settled(answer) => HoldState::Settled(answer),
            };
            let hold = Hold {
                account: record.account,
                amount: record.amount,
                expires_ms: record.expires_ms,
                idempotency_key: record.idempotency_key,
                answer: record.answer,
                state,
            };
            holds.insert(record.id, hold);
        }
        let mut remembered = super::keys::Keys::default();
        for (account, key, record) in snapshot.remembered {
            let answer = match record {
                RememberedRecord::Usage(answer) => Remembered::Usage(answer),
                RememberedRecord::Reservation(id) => Remembered::Reservation(id),
            };
            remembered.insert(account, key, answer, usize::MAX);
        }
        let mut ledger = Ledger::new(limits);
        ledger.dims = dims;
        ledger.accounts = snapshot.accounts;
        ledger.by_path = by_path;
        ledger.roots = roots;
        ledger.holds = holds;
        ledger.expiry = expiry;
        ledger.closed_holds = snapshot.closed_holds.into();
        ledger.n_open_holds = n_open_holds;
        ledger.remembered = remembered;
        ledger.last_seq = snapshot.last_seq;
        ledger.book = super::rules::Book::from_snapshot(snapshot.rules);
        for idx in 0..ledger.accounts.len() {
            ledger.reindex(AccountId(idx as u32));
        }
        ledger
    }
}

//! What a journal or a snapshot must hold before the ledger folds it. The checksum of a batch
//! proves it was written whole, not that it makes sense: a bug, a foreign writer or a tool that
//! edited the file could leave references to accounts, holds or dimensions that do not exist.
//! Replay and restore refuse those with an error naming the event, instead of panicking.

use std::collections::HashSet;

use super::{HoldState, Ledger, LedgerSnapshot, ReplayError};
use crate::account::{Account, AccountId};
use crate::amount::{Amounts, DIMENSIONS_MAX, DimId, check_dimension_name};
use crate::command::Verdict;
use crate::event::{Event, ReallocationKind};

impl Amounts {
    /// Sorted by dimension, each once, each dimension one of the first `n_dims`.
    pub(crate) fn well_formed(&self, n_dims: usize) -> bool {
        let mut previous: Option<DimId> = None;
        self.iter().all(|(dim, _)| {
            let ordered = previous.is_none_or(|before| before < dim);
            previous = Some(dim);
            ordered && (dim.0 as usize) < n_dims
        })
    }
}

impl Ledger {
    /// References in a journaled event must point at what exists, in the state the fold
    /// expects, or the fold would panic.
    pub(crate) fn check_replayable(&self, seq: u64, event: &Event) -> Result<(), ReplayError> {
        let n_dims = self.dims.len();
        let open = |account: &AccountId| {
            self.accounts
                .get(account.0 as usize)
                .is_some_and(|acc| !acc.closed)
        };
        let exists = |account: &AccountId| (account.0 as usize) < self.accounts.len();
        let dim_ok = |dim: &DimId| (dim.0 as usize) < n_dims;
        let hold_in = |id: &u64, states: &[&str]| {
            self.holds.get(id).is_some_and(|hold| {
                let state = match hold.state {
                    HoldState::Open => "open",
                    HoldState::Voided => "void",
                    HoldState::Expired => "expired",
                    HoldState::Settled(_) => "settled",
                };
                states.contains(&state)
            })
        };
        let ok = match event {
            Event::DimensionAdded { name } => {
                check_dimension_name(name).is_ok()
                    && self.dims.lookup(name).is_none()
                    && n_dims < DIMENSIONS_MAX
            }
            Event::AccountOpened { path, limits, .. } => {
                !self.by_path.contains_key(path.as_str())
                    && self.accounts.len() < u32::MAX as usize
                    && limits.well_formed(n_dims)
                    && path
                        .parent()
                        .is_none_or(|parent| self.by_path.contains_key(parent.as_str()))
            }
            Event::AccountUpdated {
                account, limits, ..
            }
            | Event::PeriodRenewed {
                account, limits, ..
            } => exists(account) && limits.well_formed(n_dims),
            Event::AccountClosed { account, .. } => {
                open(account) && {
                    let acc = &self.accounts[account.0 as usize];
                    acc.children.is_empty() && acc.open_reservations == 0
                }
            }
            Event::UsageRecorded { account, usage, .. } => {
                open(account) && usage.well_formed(n_dims)
            }
            Event::ReservationOpened {
                account, amount, ..
            } => open(account) && amount.well_formed(n_dims) && !self.holds.contains_key(&seq),
            Event::ReservationSettled {
                reservation, usage, ..
            } => hold_in(reservation, &["open", "expired"]) && usage.well_formed(n_dims),
            Event::ReservationVoided { reservation, .. }
            | Event::ReservationExpired { reservation, .. } => hold_in(reservation, &["open"]),
            Event::AlertRaised {
                account, dimension, ..
            }
            | Event::AlertCleared {
                account, dimension, ..
            } => exists(account) && dim_ok(dimension),
            // A grant raises a limit and a reclaim lowers it.
            Event::Reallocated {
                account,
                dimension,
                from,
                to,
                kind,
                ..
            } => {
                exists(account)
                    && dim_ok(dimension)
                    && match kind {
                        ReallocationKind::Grant => to >= from,
                        ReallocationKind::Reclaim => to <= from,
                    }
            }
            Event::LevelChanged { .. } | Event::RunFlagged { .. } => true,
            Event::RulesSet { account, rules, .. } => {
                open(account)
                    && rules
                        .child_defaults
                        .as_ref()
                        .is_none_or(|defaults| defaults.well_formed(n_dims))
            }
            Event::UsageReset { account, .. }
            | Event::CapReached { account, .. }
            | Event::RunStarted { account, .. } => open(account),
            Event::IncreaseRequested {
                account, amount, ..
            } => open(account) && amount.well_formed(n_dims) && !amount.is_empty(),
            Event::IncreaseDecided {
                request, limits, ..
            } => {
                self.book.requests.get(request).is_some_and(|found| {
                    found.decision.is_none() && (limits.is_empty() || open(&found.account))
                }) && limits.well_formed(n_dims)
            }
        };
        if ok {
            Ok(())
        } else {
            Err(ReplayError {
                seq,
                message: format!("{event:?} names what does not exist or cannot change"),
            })
        }
    }
}

impl LedgerSnapshot {
    /// Checks every reference inside the snapshot: parents and children, dimensions, holds,
    /// remembered answers. Answers what is wrong first.
    pub fn check(&self) -> Result<(), String> {
        let n_dims = crate::amount::Dimensions::default().len() + self.custom_dimensions.len();
        if n_dims > DIMENSIONS_MAX {
            return Err(format!("{n_dims} dimensions, at most {DIMENSIONS_MAX}"));
        }
        let mut names = HashSet::new();
        for name in &self.custom_dimensions {
            if check_dimension_name(name).is_err()
                || crate::amount::Dimensions::default().lookup(name).is_some()
                || !names.insert(name.clone())
            {
                return Err(format!("custom dimension {name:?} is invalid or repeated"));
            }
        }
        let n_accounts = self.accounts.len();
        if n_accounts > u32::MAX as usize {
            return Err("too many accounts".into());
        }
        let mut open_paths = HashSet::new();
        for (idx, account) in self.accounts.iter().enumerate() {
            check_account(&self.accounts, idx, account, n_dims)?;
            if !account.closed && !open_paths.insert(account.path.as_str()) {
                return Err(format!("account {} is open twice", account.path));
            }
        }
        let verdict_ok = |verdict: &Verdict| {
            verdict.fired.is_none_or(|fired| {
                (fired.account.0 as usize) < n_accounts && (fired.dimension.0 as usize) < n_dims
            })
        };
        let mut hold_ids = HashSet::new();
        for hold in &self.holds {
            let answer_ok = match &hold.state {
                super::snapshot::HoldStateRecord::Settled(answer) => {
                    verdict_ok(&answer.verdict) && answer.remaining.well_formed(n_dims)
                }
                _ => true,
            };
            if (hold.account.0 as usize) >= n_accounts
                || !hold.amount.well_formed(n_dims)
                || hold.id > self.last_seq
                || !hold_ids.insert(hold.id)
                || !verdict_ok(&hold.answer.verdict)
                || !answer_ok
            {
                return Err(format!("hold rsv_{} is inconsistent", hold.id));
            }
        }
        for id in &self.closed_holds {
            let closed = self
                .holds
                .iter()
                .any(|hold| hold.id == *id && hold.state != super::snapshot::HoldStateRecord::Open);
            if !closed {
                return Err(format!("closed hold rsv_{id} is not a closed hold"));
            }
        }
        let mut keys = HashSet::new();
        for (account, key, record) in &self.remembered {
            let answer_ok = match record {
                super::snapshot::RememberedRecord::Usage(answer) => {
                    verdict_ok(&answer.verdict) && answer.remaining.well_formed(n_dims)
                }
                super::snapshot::RememberedRecord::Reservation(_) => true,
            };
            if (account.0 as usize) >= n_accounts || !answer_ok || !keys.insert((*account, key)) {
                return Err(format!("the remembered key {key:?} is inconsistent"));
            }
        }
        self.rules.check(n_accounts, n_dims, self.last_seq)
    }
}

impl super::RulesSnapshot {
    /// Every account, dimension and request id in range; requests decided as listed.
    fn check(&self, n_accounts: usize, n_dims: usize, last_seq: u64) -> Result<(), String> {
        let account_ok = |id: &AccountId| (id.0 as usize) < n_accounts;
        let rules_ok = self.rules.iter().all(|(id, rules)| {
            account_ok(id)
                && rules
                    .child_defaults
                    .as_ref()
                    .is_none_or(|defaults| defaults.well_formed(n_dims))
        });
        let runs_ok = self.runs.iter().all(|(id, run)| {
            account_ok(id) && run.recent.iter().all(|turn| turn.usage.well_formed(n_dims))
        });
        if !rules_ok || !runs_ok || !self.halts.iter().all(|(id, _)| account_ok(id)) {
            return Err("the rules name an account or dimension that does not exist".into());
        }
        for (id, request) in &self.requests {
            if *id > last_seq
                || !account_ok(&request.account)
                || !request.amount.well_formed(n_dims)
            {
                return Err(format!("increase request req_{id} is inconsistent"));
            }
        }
        let decided: HashSet<u64> = self
            .requests
            .iter()
            .filter(|(_, request)| request.decision.is_some())
            .map(|(id, _)| *id)
            .collect();
        let decided_ok = self.decided.len() == decided.len()
            && self.decided.iter().all(|id| decided.contains(id));
        if !decided_ok {
            return Err("a decided increase request is missing or pending".into());
        }
        Ok(())
    }
}

/// An account's references: its parent (opened before it, its path's parent), its children
/// (opened after it, naming it as their parent), its dimensions.
fn check_account(
    accounts: &[Account],
    idx: usize,
    account: &Account,
    n_dims: usize,
) -> Result<(), String> {
    let path = &account.path;
    let parent_ok = match (account.parent, path.parent()) {
        (None, None) => true,
        (Some(parent), Some(parent_path)) => {
            (parent.0 as usize) < idx && accounts[parent.0 as usize].path == parent_path
        }
        _ => false,
    };
    let children_ok = account.children.iter().all(|(name, child)| {
        accounts.get(child.0 as usize).is_some_and(|child_acc| {
            child.0 as usize > idx
                && child_acc.parent == Some(AccountId(idx as u32))
                && child_acc.path.name() == &**name
                && !child_acc.closed
        })
    });
    let mut previous: Option<DimId> = None;
    let slots_ok = account.slots.iter().all(|slot| {
        let ordered = previous.is_none_or(|before| before < slot.dim);
        previous = Some(slot.dim);
        ordered && (slot.dim.0 as usize) < n_dims
    });
    let dims_ok = account
        .level_dim
        .is_none_or(|dim| (dim.0 as usize) < n_dims)
        && account
            .alert
            .is_none_or(|alert| (alert.dim.0 as usize) < n_dims)
        && account
            .period
            .as_ref()
            .is_none_or(|period| period.base_limits.well_formed(n_dims));
    if parent_ok && children_ok && slots_ok && dims_ok {
        Ok(())
    } else {
        Err(format!("account {path} is inconsistent"))
    }
}

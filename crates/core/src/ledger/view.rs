//! Read views of the ledger, with names resolved, for the shell to render.

use std::sync::Arc;

use super::Ledger;
use crate::account::{AccountConfig, AccountId};
use crate::amount::Amounts;
use crate::command::Verdict;
use crate::level::fraction;
use crate::path::AccountPath;

/// One dimension of an account, named.
#[derive(Clone, Debug, PartialEq)]
pub struct DimFigures {
    pub name: Arc<str>,
    pub limit: Option<u64>,
    pub consumed: u64,
    pub reserved: u64,
    pub remaining: Option<u64>,
    pub pool: Option<u64>,
}

/// What `GET /v1/accounts/{path}` shows.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountStatus {
    pub path: AccountPath,
    pub config: AccountConfig,
    pub dims: Vec<DimFigures>,
    /// The account's own worst fraction over its limited dimensions.
    pub fraction: f64,
    pub verdict: Verdict,
    pub fired_path: Option<AccountPath>,
    pub children: Vec<Arc<str>>,
    pub last_activity_ms: Option<u64>,
    pub seq: u64,
    pub open_reservations: u32,
    pub work_units: u64,
}

impl Ledger {
    pub fn status(&self, account: AccountId) -> AccountStatus {
        let acc = self.account(account);
        let dims = acc
            .slots
            .iter()
            .map(|slot| DimFigures {
                name: self.dims.name(slot.dim).clone(),
                limit: slot.limit,
                consumed: slot.period_consumed(),
                reserved: slot.reserved,
                remaining: slot.remaining(),
                pool: slot.pool(),
            })
            .collect();
        let verdict = self.verdict(account);
        let fired_path = verdict
            .fired
            .map(|fired| self.account(fired.account).path.clone());
        AccountStatus {
            path: acc.path.clone(),
            config: acc.config.clone(),
            dims,
            fraction: acc
                .slots
                .iter()
                .filter_map(|slot| slot.limit.map(|limit| fraction(slot.used(), limit)))
                .fold(0.0, f64::max),
            verdict,
            fired_path,
            children: acc.children.keys().cloned().collect(),
            last_activity_ms: acc.last_activity_ms,
            seq: acc.seq,
            open_reservations: acc.open_reservations,
            work_units: acc.work_units,
        }
    }

    /// The open accounts at `prefix` and below it down to `depth` levels (all top-level trees
    /// without a prefix), ordered by path, at most `max` of them.
    pub fn list(&self, prefix: Option<&AccountPath>, depth: usize, max: usize) -> Vec<AccountId> {
        let mut found = Vec::new();
        let mut stack: Vec<(AccountId, usize)> = match prefix {
            Some(path) => self
                .lookup(path.as_str())
                .map(|id| (id, 0))
                .into_iter()
                .collect(),
            None => self.roots.values().map(|id| (*id, 1)).collect(),
        };
        let depth_max = if prefix.is_some() { depth } else { depth + 1 };
        while let Some((id, level)) = stack.pop() {
            if found.len() >= max {
                break;
            }
            found.push(id);
            if level < depth_max {
                stack.extend(
                    self.account(id)
                        .children
                        .values()
                        .map(|child| (*child, level + 1)),
                );
            }
        }
        found.sort_by(|a, b| self.account(*a).path.cmp(&self.account(*b).path));
        found
    }
}

impl Ledger {
    /// Per dimension limited on the path of `account` (it and its ancestors), the account with
    /// the least left (limit less consumed and held) and how much: `(dimension, account,
    /// remaining)`, by dimension. The least is what `UsageAnswer::remaining` says; this names
    /// where it is.
    pub fn tightest(&self, account: AccountId) -> Vec<(crate::amount::DimId, AccountId, u64)> {
        let mut found: Vec<(crate::amount::DimId, AccountId, u64)> = Vec::new();
        let mut next = Some(account);
        while let Some(id) = next {
            let acc = self.account(id);
            for slot in &acc.slots {
                let Some(left) = slot.remaining() else {
                    continue;
                };
                match found.iter_mut().find(|(dim, _, _)| *dim == slot.dim) {
                    Some(entry) => {
                        if left < entry.2 {
                            *entry = (slot.dim, id, left);
                        }
                    }
                    None => found.push((slot.dim, id, left)),
                }
            }
            next = acc.parent;
        }
        found.sort_unstable_by_key(|(dim, _, _)| *dim);
        found
    }

    /// The open holds taken on `account` itself (not below it), oldest first, at most `max`:
    /// `(id, amounts, expires_ms)`. Scans every hold: for a page about one account.
    pub fn open_holds(&self, account: AccountId, max: usize) -> Vec<(u64, Amounts, u64)> {
        let mut found: Vec<(u64, Amounts, u64)> = self
            .holds
            .iter()
            .filter(|(_, hold)| hold.account == account && hold.state == super::HoldState::Open)
            .map(|(id, hold)| (*id, hold.amount.clone(), hold.expires_ms))
            .collect();
        found.sort_unstable_by_key(|(id, _, _)| *id);
        found.truncate(max);
        found
    }

    /// The account a reservation (open or remembered) holds on.
    pub fn reservation_account(&self, reservation: u64) -> Option<AccountId> {
        self.holds.get(&reservation).map(|hold| hold.account)
    }
}

impl Ledger {
    /// What a hold on `account` may still take in `dim` before it or an ancestor reaches its
    /// stop threshold (the least over the path); None when nothing on the path limits `dim`.
    pub fn holdable_on_path(&self, account: AccountId, dim: crate::amount::DimId) -> Option<u64> {
        let mut least: Option<u64> = None;
        let mut next = Some(account);
        while let Some(id) = next {
            let acc = self.account(id);
            if let (Some(limit), Some(slot)) = (acc.limit(dim), acc.slot(dim)) {
                let room = acc
                    .config
                    .thresholds
                    .stop_line(limit)
                    .saturating_sub(slot.used());
                least = Some(least.map_or(room, |seen| seen.min(room)));
            }
            next = acc.parent;
        }
        least
    }
}

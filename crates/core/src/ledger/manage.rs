//! Deciding the manager's commands: forecast alerts, the optimizer's moves and the renewal of
//! budget periods. The manager (`crate::manage`) chooses when; the ledger checks and records.

use std::sync::Arc;

use super::Ledger;
use super::accounts::pool_beyond_reserve;
use crate::account::AccountId;
use crate::amount::Amounts;
use crate::command::Move;
use crate::command::{AlertCommand, Answer};
use crate::error::LedgerError;
use crate::event::{Event, ReallocationKind};
use crate::level::PPM;

/// The longest reason a move keeps.
const REASON_LEN_MAX: usize = 512;

impl Ledger {
    fn open_account(&self, account: AccountId) -> Result<&crate::account::Account, LedgerError> {
        match self.accounts.get(account.0 as usize) {
            Some(acc) if !acc.closed => Ok(acc),
            _ => Err(LedgerError::AccountNotFound {
                path: format!("#{}", account.0),
            }),
        }
    }

    /// Accounts that are open and have children, in id order.
    pub fn open_parents(&self) -> impl Iterator<Item = AccountId> + '_ {
        self.accounts
            .iter()
            .enumerate()
            .filter(|(_, acc)| !acc.closed && !acc.children.is_empty())
            .map(|(idx, _)| AccountId(idx as u32))
    }

    /// Open accounts whose budget period ended by `now_ms`, or that renew and have no period
    /// yet, in id order, at most `max`.
    pub fn periods_due(&self, now_ms: u64, max: usize) -> Vec<AccountId> {
        self.renewing
            .iter()
            .copied()
            .filter(|&id| {
                self.account(id)
                    .period
                    .as_ref()
                    .is_none_or(|period| period.end_ms <= now_ms)
            })
            .take(max)
            .collect()
    }

    pub(crate) fn alert(
        &mut self,
        command: AlertCommand,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LedgerError> {
        let acc = self.open_account(command.account)?;
        let current = acc.alert.map(|alert| alert.dim);
        let event = match command.raise {
            Some(_) if current == Some(command.dimension) => None,
            Some(figures) => Some(Event::AlertRaised {
                account: command.account,
                dimension: command.dimension,
                method: Arc::from(figures.method),
                projected_total: figures.projected_total,
                exhausts_at_ms: figures.exhausts_at_ms,
                confidence_ppm: figures.confidence_ppm.min(PPM as u32),
                at_ms: now_ms,
            }),
            None if current == Some(command.dimension) => Some(Event::AlertCleared {
                account: command.account,
                dimension: command.dimension,
                at_ms: now_ms,
            }),
            None => None,
        };
        let changed = event.is_some();
        if let Some(event) = event {
            self.emit(event, events);
        }
        Ok(Answer::Alerted { changed })
    }

    /// Applies the moves still valid against the state as it stands after the ones before.
    pub(crate) fn reallocate(
        &mut self,
        moves: Vec<Move>,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Answer {
        let mut applied = 0;
        let mut skipped = 0;
        for mv in moves {
            if !self.move_is_valid(&mv) {
                skipped += 1;
                continue;
            }
            let mut reason = mv.reason;
            if reason.len() > REASON_LEN_MAX {
                let mut cut = REASON_LEN_MAX;
                while !reason.is_char_boundary(cut) {
                    cut -= 1;
                }
                reason.truncate(cut);
            }
            self.emit(
                Event::Reallocated {
                    account: mv.account,
                    dimension: mv.dimension,
                    from: mv.from,
                    to: mv.to,
                    kind: mv.kind,
                    reason: Arc::from(reason),
                    at_ms: now_ms,
                },
                events,
            );
            applied += 1;
        }
        Answer::Reallocated { applied, skipped }
    }

    fn move_is_valid(&self, mv: &Move) -> bool {
        let Ok(acc) = self.open_account(mv.account) else {
            return false;
        };
        let Some(parent) = acc.parent else {
            return false;
        };
        let Some(slot) = acc.slot(mv.dimension) else {
            return false;
        };
        if slot.limit != Some(mv.from) {
            return false;
        }
        match mv.kind {
            ReallocationKind::Reclaim => {
                mv.to < mv.from && mv.to >= slot.used() && mv.to >= slot.children_limits
            }
            ReallocationKind::Grant => {
                let parent_acc = &self.accounts[parent.0 as usize];
                let Some(parent_slot) = parent_acc.slot(mv.dimension) else {
                    return false;
                };
                let Some(parent_limit) = parent_slot.limit else {
                    return false;
                };
                // Invariant: a grant never reaches into the parent's reserve.
                mv.to > mv.from
                    && mv.to - mv.from
                        <= pool_beyond_reserve(
                            parent_limit,
                            parent_slot.children_limits,
                            parent_acc.config.reserve_ppm,
                        )
            }
        }
    }

    pub(crate) fn renew(
        &mut self,
        account: AccountId,
        start_ms: u64,
        end_ms: u64,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LedgerError> {
        let acc = self.open_account(account)?;
        let Some(spec) = &acc.config.period else {
            return Err(LedgerError::Conflict {
                code: "no_period",
                message: format!("account {} has no budget period", acc.path),
            });
        };
        if start_ms >= end_ms {
            return Err(LedgerError::invalid(
                "invalid_field",
                "period",
                format!("a period must end after it starts ({start_ms} >= {end_ms})"),
            ));
        }
        if let Some(period) = &acc.period
            && period.end_ms > now_ms
        {
            return Err(LedgerError::Conflict {
                code: "period_running",
                message: format!("the period of {} runs until {}", acc.path, period.end_ms),
            });
        }
        let limits = match &acc.period {
            // The first period keeps the limits as set.
            None => acc.limits(),
            Some(period) => {
                let mut limits = Amounts::new();
                let parent = acc.parent.map(|parent| &self.accounts[parent.0 as usize]);
                for (dim, base) in period.base_limits.iter() {
                    let slot = acc.slot(dim).copied().unwrap_or_default();
                    let current = slot.limit.unwrap_or(base);
                    let unspent = current.saturating_sub(slot.period_consumed());
                    let cap = (u128::from(base) * u128::from(spec.rollover_max_ppm)
                        / u128::from(PPM)) as u64;
                    let mut next = base.saturating_add(unspent.min(cap));
                    if let Some(parent) = parent
                        && next > current
                    {
                        let room = parent.slot(dim).and_then(|parent_slot| {
                            parent_slot.limit.map(|parent_limit| {
                                pool_beyond_reserve(
                                    parent_limit,
                                    parent_slot.children_limits,
                                    parent.config.reserve_ppm,
                                )
                            })
                        });
                        next = next.min(current.saturating_add(room.unwrap_or(u64::MAX)));
                    }
                    limits.set(dim, next.max(slot.children_limits));
                }
                limits
            }
        };
        self.emit(
            Event::PeriodRenewed {
                account,
                start_ms,
                end_ms,
                limits,
                at_ms: now_ms,
            },
            events,
        );
        Ok(Answer::Renewed { account })
    }
}

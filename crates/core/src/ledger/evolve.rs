//! The fold: how each event changes the state. It never fails: events were checked when they were
//! decided (live) or before they are folded (replay).

use std::sync::Arc;

use super::{Ledger, Remembered};
use crate::account::{Account, AccountConfig, AccountId, Alert};
use crate::amount::{Amounts, DimId};
use crate::command::{Fired, UsageAnswer, Verdict};
use crate::event::{Event, ReallocationKind};
use crate::level::{Action, Level, action_for, fraction};
use crate::path::AccountPath;

impl Ledger {
    pub(crate) fn evolve(&mut self, seq: u64, event: &Event) {
        self.evolve_event(seq, event);
        // The tick's indexes follow the events that can move an account in or out of them.
        match event {
            Event::AccountUpdated { account, .. }
            | Event::AccountClosed { account, .. }
            | Event::AlertRaised { account, .. }
            | Event::AlertCleared { account, .. } => self.reindex(*account),
            Event::AccountOpened { .. } => {
                self.reindex(AccountId(self.accounts.len() as u32 - 1));
            }
            _ => {}
        }
    }

    fn evolve_event(&mut self, seq: u64, event: &Event) {
        match event {
            Event::DimensionAdded { name } => {
                self.dims.add(name);
            }
            Event::AccountOpened {
                path,
                config,
                limits,
                at_ms,
            } => self.fold_account_opened(seq, path, config, limits, *at_ms),
            Event::AccountUpdated {
                account,
                config,
                limits,
                at_ms,
            } => self.fold_account_updated(seq, *account, config, limits, *at_ms),
            Event::AccountClosed { account, .. } => self.close(*account, seq),
            Event::UsageRecorded {
                account,
                usage,
                work_units,
                operation,
                idempotency_key,
                at_ms,
            } => self.fold_usage(
                seq,
                *account,
                usage,
                *work_units,
                operation,
                idempotency_key,
                *at_ms,
            ),
            Event::ReservationOpened {
                account,
                amount,
                expires_ms,
                idempotency_key,
                at_ms,
            } => self.fold_hold_opened(seq, *account, amount, *expires_ms, idempotency_key, *at_ms),
            Event::ReservationSettled {
                reservation,
                usage,
                work_units,
                operation,
                at_ms,
            } => self.fold_hold_settled(seq, *reservation, usage, *work_units, operation, *at_ms),
            Event::ReservationVoided { reservation, at_ms } => {
                self.fold_hold_voided(seq, *reservation, *at_ms)
            }
            Event::ReservationExpired { reservation, at_ms } => {
                self.fold_hold_expired(seq, *reservation, *at_ms)
            }
            Event::AlertRaised {
                account,
                dimension,
                exhausts_at_ms,
                at_ms,
                ..
            } => {
                let alert = Alert {
                    dim: *dimension,
                    exhausts_at_ms: *exhausts_at_ms,
                    raised_ms: *at_ms,
                };
                self.fold_alert(seq, *account, Some(alert), *at_ms);
            }
            Event::AlertCleared { account, at_ms, .. } => {
                self.fold_alert(seq, *account, None, *at_ms)
            }
            Event::Reallocated {
                account,
                dimension,
                to,
                kind,
                at_ms,
                ..
            } => self.fold_reallocated(seq, *account, *dimension, *to, *kind, *at_ms),
            Event::PeriodRenewed {
                account,
                start_ms,
                end_ms,
                limits,
                at_ms,
            } => self.renew_period(*account, *start_ms, *end_ms, limits, seq, *at_ms),
            Event::LevelChanged { .. } | Event::RunFlagged { .. } => {}
            Event::RulesSet { .. }
            | Event::UsageReset { .. }
            | Event::CapReached { .. }
            | Event::RunStarted { .. }
            | Event::IncreaseRequested { .. }
            | Event::IncreaseDecided { .. } => self.fold_rules_event(seq, event),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn fold_usage(
        &mut self,
        seq: u64,
        account: AccountId,
        usage: &Amounts,
        work_units: u64,
        operation: &Option<Arc<str>>,
        idempotency_key: &Option<Arc<str>>,
        at_ms: u64,
    ) {
        self.charge(account, usage, seq, at_ms);
        let acc = &mut self.accounts[account.0 as usize];
        acc.work_units = acc.work_units.saturating_add(work_units);
        self.count_turn(account, operation, usage, at_ms);
        if let Some(key) = idempotency_key {
            let answer = self.usage_answer(account, seq);
            self.remember(account, key.clone(), Remembered::Usage(answer));
        }
    }

    fn fold_alert(&mut self, seq: u64, account: AccountId, alert: Option<Alert>, at_ms: u64) {
        let acc = &mut self.accounts[account.0 as usize];
        acc.alert = alert;
        acc.seq = seq;
        self.refresh(account, at_ms);
    }

    fn fold_reallocated(
        &mut self,
        seq: u64,
        account: AccountId,
        dimension: DimId,
        to: u64,
        kind: ReallocationKind,
        at_ms: u64,
    ) {
        if kind == ReallocationKind::Reclaim {
            self.accounts[account.0 as usize].last_reclaim_ms = Some(at_ms);
        }
        let mut limits = Amounts::new();
        limits.set(dimension, to);
        // A raised limit lifts what was only below in the old: the forecast decides anew.
        self.set_limits(account, &limits, seq, at_ms);
    }

    fn fold_account_opened(
        &mut self,
        seq: u64,
        path: &AccountPath,
        config: &AccountConfig,
        limits: &Amounts,
        at_ms: u64,
    ) {
        let id = AccountId(self.accounts.len() as u32);
        let parent = path
            .parent()
            .and_then(|parent| self.lookup(parent.as_str()));
        let mut account = Account::new(path.clone(), parent, config.clone());
        account.seq = seq;
        account.last_activity_ms = Some(at_ms);
        account.opened_ms = at_ms;
        account.level_since_ms = at_ms;
        self.accounts.push(account);
        let name: Arc<str> = Arc::from(path.name());
        match parent {
            Some(parent) => {
                self.accounts[parent.0 as usize].children.insert(name, id);
            }
            None => {
                self.roots.insert(name, id);
            }
        }
        self.by_path.insert(path.shared(), id);
        self.set_limits(id, limits, seq, at_ms);
    }

    fn fold_account_updated(
        &mut self,
        seq: u64,
        account: AccountId,
        config: &AccountConfig,
        limits: &Amounts,
        at_ms: u64,
    ) {
        let acc = &mut self.accounts[account.0 as usize];
        acc.config = config.clone();
        match (&config.period, acc.period.as_mut()) {
            (None, _) => acc.period = None,
            (Some(spec), Some(period)) => {
                period.spec = spec.clone();
                for (dim, limit) in limits.iter() {
                    period.base_limits.set(dim, limit);
                }
            }
            // The first period starts with its `PeriodRenewed`.
            (Some(_), None) => {}
        }
        self.set_limits(account, limits, seq, at_ms);
    }

    /// Restarts the consumption window of `account` and of every descendant that does not renew
    /// on its own, then sets the account's limits for the new period.
    fn renew_period(
        &mut self,
        account: AccountId,
        start_ms: u64,
        end_ms: u64,
        limits: &Amounts,
        seq: u64,
        at_ms: u64,
    ) {
        self.restart_window(account, seq, at_ms);
        let acc = &mut self.accounts[account.0 as usize];
        match (acc.period.as_mut(), &acc.config.period) {
            (Some(period), _) => {
                period.start_ms = start_ms;
                period.end_ms = end_ms;
            }
            (None, Some(spec)) => {
                let base_limits = acc.limits();
                acc.period = Some(Box::new(crate::account::PeriodState {
                    spec: spec.clone(),
                    start_ms,
                    end_ms,
                    base_limits,
                }));
            }
            (None, None) => {}
        }
        self.set_limits(account, limits, seq, at_ms);
    }

    /// Restarts the consumption window of `account` and of every descendant that does not renew
    /// on its own (the descendants' levels refreshed; the account's is the caller's).
    pub(super) fn restart_window(&mut self, account: AccountId, seq: u64, at_ms: u64) {
        let mut stack = vec![account];
        while let Some(id) = stack.pop() {
            let acc = &mut self.accounts[id.0 as usize];
            if id != account && acc.period.is_some() {
                continue;
            }
            for slot in &mut acc.slots {
                slot.period_base = slot.consumed;
            }
            acc.seq = seq;
            stack.extend(acc.children.values().copied());
            if id != account {
                self.refresh(id, at_ms);
            }
        }
    }

    pub(super) fn set_limits(
        &mut self,
        account: AccountId,
        limits: &Amounts,
        seq: u64,
        at_ms: u64,
    ) {
        let parent = self.accounts[account.0 as usize].parent;
        for (dim, limit) in limits.iter() {
            let slot = self.accounts[account.0 as usize].slot_mut(dim);
            let old = slot.limit.unwrap_or(0);
            slot.limit = Some(limit);
            if let Some(parent) = parent {
                let parent_slot = self.accounts[parent.0 as usize].slot_mut(dim);
                parent_slot.children_limits = parent_slot
                    .children_limits
                    .saturating_sub(old)
                    .saturating_add(limit);
            }
        }
        self.accounts[account.0 as usize].seq = seq;
        self.refresh(account, at_ms);
        if let Some(parent) = parent {
            self.accounts[parent.0 as usize].seq = seq;
        }
    }

    fn close(&mut self, account: AccountId, seq: u64) {
        let acc = &mut self.accounts[account.0 as usize];
        acc.closed = true;
        acc.seq = seq;
        let path = acc.path.clone();
        let slots = acc.slots.clone();
        self.by_path.remove(path.as_str());
        match acc.parent {
            Some(parent) => {
                let parent_acc = &mut self.accounts[parent.0 as usize];
                parent_acc.children.remove(path.name());
                parent_acc.seq = seq;
                for slot in slots {
                    if let Some(limit) = slot.limit {
                        let parent_slot = parent_acc.slot_mut(slot.dim);
                        parent_slot.children_limits =
                            parent_slot.children_limits.saturating_sub(limit);
                    }
                }
            }
            None => {
                self.roots.remove(path.name());
            }
        }
    }

    /// Adds `usage` to the consumption of the account and every ancestor.
    pub(super) fn charge(&mut self, account: AccountId, usage: &Amounts, seq: u64, at_ms: u64) {
        let mut next = Some(account);
        while let Some(id) = next {
            let acc = &mut self.accounts[id.0 as usize];
            for (dim, value) in usage.iter() {
                let slot = acc.slot_mut(dim);
                slot.consumed = slot.consumed.saturating_add(value);
            }
            acc.seq = seq;
            acc.last_activity_ms = Some(at_ms);
            if !acc.touched {
                acc.touched = true;
                self.touched.push(id);
            }
            next = acc.parent;
            self.refresh(id, at_ms);
        }
    }

    pub(super) fn remember(&mut self, account: AccountId, key: Arc<str>, answer: Remembered) {
        self.remembered
            .insert(account, key, answer, self.limits.idempotency_keys_max);
    }

    /// Moves the account's own level; a move becomes a derived `LevelChanged` event.
    pub(super) fn refresh(&mut self, account: AccountId, at_ms: u64) {
        let floor = self.halt_floor(account);
        let acc = &mut self.accounts[account.0 as usize];
        let from = acc.level;
        if acc.refresh_level(floor) {
            acc.level_time_ms[from as usize] = acc.level_time_ms[from as usize]
                .saturating_add(at_ms.saturating_sub(acc.level_since_ms));
            acc.level_since_ms = at_ms;
            self.derived.push(Event::LevelChanged {
                account,
                from,
                to: acc.level,
                dimension: acc.level_dim,
                at_ms,
            });
        }
    }

    /// The enforcement on `account`: the worst level over it and its ancestors. A level its
    /// account's rules only warn at (shadow mode) counts as a warning; an account that pauses
    /// at stop says pause.
    pub fn verdict(&self, account: AccountId) -> Verdict {
        // (account, id, level as enforced, fraction)
        let mut worst: Option<(&Account, AccountId, Level, f64)> = None;
        let mut next = Some(account);
        while let Some(id) = next {
            let acc = &self.accounts[id.0 as usize];
            if acc.level > Level::Green {
                let fired_fraction = acc
                    .level_dim
                    .and_then(|dim| acc.slot(dim))
                    .and_then(|slot| slot.limit.map(|limit| fraction(slot.used(), limit)))
                    .unwrap_or(0.0);
                let enforced = if self.warn_only_at(id, acc.level) {
                    Level::Yellow
                } else {
                    acc.level
                };
                let worse = match worst {
                    None => true,
                    Some((_, _, best, best_fraction)) => {
                        enforced > best || (enforced == best && fired_fraction > best_fraction)
                    }
                };
                if worse {
                    worst = Some((acc, id, enforced, fired_fraction));
                }
            }
            next = acc.parent;
        }
        match worst {
            None => Verdict {
                level: Level::Green,
                action: action_for(Level::Green, 0),
                fired: None,
            },
            Some((acc, id, enforced, fired_fraction)) => Verdict {
                level: acc.level,
                action: if enforced < acc.level {
                    Action::WarnOnly { would: acc.level }
                } else if acc.level == Level::Black && self.pauses_at_stop(id) {
                    Action::Pause
                } else {
                    action_for(acc.level, acc.config.throttle_rate_ppm)
                },
                fired: acc.level_dim.map(|dimension| Fired {
                    account: id,
                    dimension,
                    fraction: fired_fraction,
                }),
            },
        }
    }

    /// Per dimension limited anywhere on the path, the least that is left.
    pub fn remaining_on_path(&self, account: AccountId) -> Amounts {
        let mut remaining = Amounts::new();
        let mut next = Some(account);
        while let Some(id) = next {
            let acc = &self.accounts[id.0 as usize];
            for slot in &acc.slots {
                if let Some(left) = slot.remaining() {
                    let least = remaining.get(slot.dim).map_or(left, |seen| seen.min(left));
                    remaining.set(slot.dim, least);
                }
            }
            next = acc.parent;
        }
        remaining
    }

    pub(crate) fn usage_answer(&self, account: AccountId, seq: u64) -> UsageAnswer {
        UsageAnswer {
            seq,
            duplicate: false,
            verdict: self.verdict(account),
            remaining: self.remaining_on_path(account),
            expired: false,
        }
    }
}

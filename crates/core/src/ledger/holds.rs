//! The fold of reservations (holds): opened, settled, voided, expired, and the bounded memory
//! of closed ones. Like the rest of the fold it never fails: the events were checked first.

use std::sync::Arc;

use super::{Hold, HoldState, Ledger, Remembered};
use crate::account::AccountId;
use crate::amount::Amounts;
use crate::command::ReserveAnswer;

impl Ledger {
    pub(super) fn fold_hold_opened(
        &mut self,
        seq: u64,
        account: AccountId,
        amount: &Amounts,
        expires_ms: u64,
        idempotency_key: &Option<Arc<str>>,
        at_ms: u64,
    ) {
        self.hold(account, amount, seq, at_ms);
        self.accounts[account.0 as usize].open_reservations += 1;
        self.n_open_holds += 1;
        self.expiry.insert((expires_ms, seq));
        let answer = ReserveAnswer {
            reservation: seq,
            expires_ms,
            verdict: self.verdict(account),
            duplicate: false,
        };
        let hold = Hold {
            account,
            amount: amount.clone(),
            expires_ms,
            idempotency_key: idempotency_key.clone(),
            answer,
            state: HoldState::Open,
        };
        self.holds.insert(seq, hold);
        if let Some(key) = idempotency_key {
            self.remember(account, key.clone(), Remembered::Reservation(seq));
        }
    }

    pub(super) fn fold_hold_settled(
        &mut self,
        seq: u64,
        reservation: u64,
        usage: &Amounts,
        work_units: u64,
        operation: &Option<std::sync::Arc<str>>,
        at_ms: u64,
    ) {
        let (account, was_expired) = self.release(reservation, seq, at_ms);
        self.charge(account, usage, seq, at_ms);
        let acc = &mut self.accounts[account.0 as usize];
        acc.work_units = acc.work_units.saturating_add(work_units);
        self.count_turn(account, operation, usage, at_ms);
        let mut answer = self.usage_answer(account, seq);
        answer.expired = was_expired;
        self.close_hold(reservation, HoldState::Settled(answer));
    }

    pub(super) fn fold_hold_voided(&mut self, seq: u64, reservation: u64, at_ms: u64) {
        self.release(reservation, seq, at_ms);
        self.close_hold(reservation, HoldState::Voided);
    }

    pub(super) fn fold_hold_expired(&mut self, seq: u64, reservation: u64, at_ms: u64) {
        self.release(reservation, seq, at_ms);
        let hold = self
            .holds
            .get_mut(&reservation)
            .expect("checked before the fold");
        // An expired hold can still be settled: it stays findable until forgotten.
        hold.state = HoldState::Expired;
        self.closed_holds.push_back(reservation);
        self.forget_old_holds();
    }

    /// Adds a hold of `amount` to the account and every ancestor.
    fn hold(&mut self, account: AccountId, amount: &Amounts, seq: u64, at_ms: u64) {
        let mut next = Some(account);
        while let Some(id) = next {
            let acc = &mut self.accounts[id.0 as usize];
            for (dim, value) in amount.iter() {
                let slot = acc.slot_mut(dim);
                slot.reserved = slot.reserved.saturating_add(value);
            }
            acc.seq = seq;
            acc.last_activity_ms = Some(at_ms);
            next = acc.parent;
            self.refresh(id, at_ms);
        }
    }

    /// Takes an open hold off the path. Answers its account and whether it had expired.
    fn release(&mut self, reservation: u64, seq: u64, at_ms: u64) -> (AccountId, bool) {
        let hold = &self.holds[&reservation];
        let account = hold.account;
        let expired = hold.state == HoldState::Expired || at_ms >= hold.expires_ms;
        if hold.state != HoldState::Open {
            return (account, expired);
        }
        let amount = hold.amount.clone();
        self.expiry.remove(&(hold.expires_ms, reservation));
        self.n_open_holds -= 1;
        self.accounts[account.0 as usize].open_reservations -= 1;
        let mut next = Some(account);
        while let Some(id) = next {
            let acc = &mut self.accounts[id.0 as usize];
            for (dim, value) in amount.iter() {
                let slot = acc.slot_mut(dim);
                slot.reserved = slot.reserved.saturating_sub(value);
            }
            acc.seq = seq;
            next = acc.parent;
            self.refresh(id, at_ms);
        }
        (account, expired)
    }

    fn close_hold(&mut self, reservation: u64, state: HoldState) {
        let hold = self
            .holds
            .get_mut(&reservation)
            .expect("checked before the fold");
        let was_expired = hold.state == HoldState::Expired;
        hold.state = state;
        // An expired hold is already in the closed queue.
        if !was_expired {
            self.closed_holds.push_back(reservation);
        }
        self.forget_old_holds();
    }

    /// Forgets the oldest closed holds beyond the bound. A forgotten hold's idempotency key stays
    /// remembered until the keys' own bound drops it: the remembered answers and their order
    /// change together, in `remember` only (dropping the answer here alone left its key in the
    /// order, and `to_snapshot` panicked on it). A retry with that key finds no hold and opens a
    /// new one (`decide.rs`).
    fn forget_old_holds(&mut self) {
        while self.closed_holds.len() > self.limits.closed_reservations_max {
            let Some(old) = self.closed_holds.pop_front() else {
                break;
            };
            self.holds.remove(&old);
        }
    }
}

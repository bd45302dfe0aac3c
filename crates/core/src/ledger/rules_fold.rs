//! Folding the budget rules' events (`rules.rs` decides them): rules set, resets, caps reached,
//! new runs and increase requests; and counting a report against its run's caps, which may
//! derive a `RunFlagged` event.

use std::sync::Arc;

use super::Ledger;
use crate::account::AccountId;
use crate::amount::Amounts;
use crate::event::Event;
use crate::rules::*;

impl Ledger {
    /// Folds one of the rules' events.
    pub(super) fn fold_rules_event(&mut self, seq: u64, event: &Event) {
        match event {
            Event::RulesSet {
                account,
                rules,
                at_ms,
            } => self.fold_rules_set(seq, *account, rules, *at_ms),
            Event::UsageReset { account, at_ms } => self.fold_usage_reset(seq, *account, *at_ms),
            Event::CapReached {
                account,
                cap,
                stops,
                detail,
                at_ms,
            } => {
                let halt = Halt {
                    cap: *cap,
                    stops: *stops,
                    detail: detail.clone(),
                    at_ms: *at_ms,
                };
                self.fold_cap_reached(seq, *account, halt);
            }
            Event::RunStarted { account, at_ms } => self.fold_run_started(seq, *account, *at_ms),
            Event::IncreaseRequested {
                account,
                amount,
                reason,
                idempotency_key,
                at_ms,
            } => self.fold_increase_requested(
                seq,
                IncreaseRequest {
                    account: *account,
                    amount: amount.clone(),
                    reason: reason.clone(),
                    idempotency_key: idempotency_key.clone(),
                    at_ms: *at_ms,
                    decision: None,
                },
            ),
            Event::IncreaseDecided {
                request,
                approved,
                limits,
                note,
                at_ms,
            } => self.fold_increase_decided(
                seq,
                *request,
                Decision {
                    approved: *approved,
                    note: note.clone(),
                    at_ms: *at_ms,
                },
                limits,
            ),
            _ => unreachable!("not a rules event: {event:?}"),
        }
    }

    fn fold_rules_set(&mut self, seq: u64, account: AccountId, rules: &Rules, at_ms: u64) {
        if rules.is_empty() {
            self.book.rules.remove(&account);
            self.book.runs.remove(&account);
        } else {
            self.book.rules.insert(account, rules.clone());
            match rules.run {
                Some(_) => {
                    self.book.runs.entry(account).or_insert_with(|| RunState {
                        started_ms: at_ms,
                        ..RunState::default()
                    });
                }
                None => {
                    self.book.runs.remove(&account);
                }
            }
        }
        // A halt the new rules no longer call for is lifted.
        let lifted = self
            .book
            .halts
            .get(&account)
            .is_some_and(|halt| match halt.cap {
                Cap::Expired => rules.expires_ms.is_none_or(|expires| expires > at_ms),
                Cap::Turns | Cap::WallTime | Cap::Loop => rules.run.is_none(),
            });
        if lifted {
            self.book.halts.remove(&account);
        }
        self.accounts[account.0 as usize].seq = seq;
        self.refresh(account, at_ms);
    }

    fn fold_usage_reset(&mut self, seq: u64, account: AccountId, at_ms: u64) {
        self.restart_window(account, seq, at_ms);
        self.refresh(account, at_ms);
    }

    fn fold_run_started(&mut self, seq: u64, account: AccountId, at_ms: u64) {
        self.book.runs.insert(
            account,
            RunState {
                started_ms: at_ms,
                ..RunState::default()
            },
        );
        if self
            .book
            .halts
            .get(&account)
            .is_some_and(|halt| halt.cap != Cap::Expired)
        {
            self.book.halts.remove(&account);
        }
        self.accounts[account.0 as usize].seq = seq;
        self.refresh(account, at_ms);
    }

    fn fold_cap_reached(&mut self, seq: u64, account: AccountId, halt: Halt) {
        let at_ms = halt.at_ms;
        self.book.halts.insert(account, halt);
        self.accounts[account.0 as usize].seq = seq;
        self.refresh(account, at_ms);
    }

    fn fold_increase_requested(&mut self, seq: u64, request: IncreaseRequest) {
        self.book.requests.insert(seq, request);
        self.book.n_pending += 1;
    }

    fn fold_increase_decided(
        &mut self,
        seq: u64,
        request: u64,
        decision: Decision,
        limits: &Amounts,
    ) {
        let at_ms = decision.at_ms;
        let found = self
            .book
            .requests
            .get_mut(&request)
            .expect("checked before the fold");
        let account = found.account;
        found.decision = Some(decision);
        self.book.n_pending -= 1;
        self.book.decided.push_back(request);
        while self.book.decided.len() > DECIDED_REQUESTS_KEPT {
            let oldest = self.book.decided.pop_front().expect("not empty");
            self.book.requests.remove(&oldest);
        }
        if !limits.is_empty() {
            self.set_limits(account, limits, seq, at_ms);
        }
    }

    /// Counts a report or settlement on `account` against its run caps; a cap it reaches halts
    /// the account at once, with a derived `RunFlagged` event (journaled after the report).
    #[inline]
    pub(super) fn count_turn(
        &mut self,
        account: AccountId,
        operation: &Option<Arc<str>>,
        usage: &Amounts,
        at_ms: u64,
    ) {
        if !self.book.runs.is_empty() {
            self.count_turn_of_run(account, operation, usage, at_ms);
        }
    }

    #[inline(never)]
    fn count_turn_of_run(
        &mut self,
        account: AccountId,
        operation: &Option<Arc<str>>,
        usage: &Amounts,
        at_ms: u64,
    ) {
        let Some(caps) = self.book.rules.get(&account).and_then(|rules| rules.run) else {
            return;
        };
        let Some(run) = self.book.runs.get_mut(&account) else {
            return;
        };
        run.turns = run.turns.saturating_add(1);
        let mut reached = None;
        // At or past the cap (a cap lowered below the run's turns stops it at its next turn).
        if let Some(max) = caps.max_turns
            && run.turns >= max
        {
            reached = Some((
                Cap::Turns,
                true,
                format!("the run made {max} turns, its cap"),
            ));
        }
        if let Some(rule) = caps.loops {
            let turn = Turn {
                operation: operation.clone(),
                usage: usage.clone(),
                at_ms,
            };
            let since = at_ms.saturating_sub(rule.window_ms);
            let similar = run
                .recent
                .iter()
                .filter(|seen| seen.at_ms >= since && seen.near(&turn))
                .count()
                + 1;
            run.recent.push_back(turn);
            while run.recent.len() >= rule.repeats as usize {
                run.recent.pop_front();
            }
            if similar >= rule.repeats as usize && reached.is_none() {
                let operation = operation.as_deref().unwrap_or("(none)");
                // The loop's reports are forgotten: the next alert needs a new loop.
                run.recent.clear();
                reached = Some((
                    Cap::Loop,
                    rule.stop,
                    format!(
                        "{similar} near-identical reports (operation {operation}) within {} s",
                        rule.window_ms / 1000
                    ),
                ));
            }
        }
        let Some((cap, stops, detail)) = reached else {
            return;
        };
        if self
            .book
            .halts
            .get(&account)
            .is_some_and(|halt| halt.stops || !stops)
        {
            return;
        }
        let detail: Arc<str> = Arc::from(detail);
        self.book.halts.insert(
            account,
            Halt {
                cap,
                stops,
                detail: detail.clone(),
                at_ms,
            },
        );
        self.derived.push(Event::RunFlagged {
            account,
            cap,
            stops,
            detail,
            at_ms,
        });
        self.refresh(account, at_ms);
    }
}

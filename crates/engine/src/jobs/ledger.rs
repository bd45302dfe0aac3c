//! Jobs on the ledger: usage, holds, operators' commands and account reads. Each command goes
//! through foresight (which keeps the forecasts of closed accounts) and its events join the
//! batch as records.

use std::sync::Arc;

use purser_core::{
    AccountPath, Answer, Command, LedgerError, ReserveRequest, SettleRequest, UsageReport,
};

use crate::audit;
use crate::error::EngineError;
use crate::record::{Note, Record};
use crate::scope::Scope;
use crate::state::EngineState;
use crate::stats::EngineStats;
use crate::view::account::{
    self, AccountView, HoldOutcome, ManagedView, RefusalView, UsageView, allocation, denial,
    reservation, usage,
};

/// Accounts one listing answers at most.
pub const LIST_MAX: usize = 10_000;

impl EngineState {
    /// Applies a ledger command at `now_ms`; its events join the batch.
    pub(crate) fn apply_ledger(
        &mut self,
        command: Command,
        now_ms: u64,
    ) -> Result<Answer, LedgerError> {
        let answer = self
            .foresight
            .apply(&mut self.ledger, command, now_ms, &mut self.events);
        self.records
            .extend(self.events.drain(..).map(Record::Ledger));
        answer
    }

    /// A usage report; `name_tightest` names where on the path each dimension has least left
    /// (single reports: a batch's items go without, for speed).
    pub(super) fn usage(
        &mut self,
        report: UsageReport,
        scope: &Scope,
        now_ms: u64,
        name_tightest: bool,
    ) -> Result<UsageView, EngineError> {
        check_scope(scope, &report.account)?;
        let (path, hint) = (report.account.clone(), report.account_id);
        match self.apply_ledger(Command::Usage(report), now_ms)? {
            Answer::Usage(answer) => {
                EngineStats::count(&self.stats.usage_reports);
                if answer.duplicate {
                    EngineStats::count(&self.stats.duplicates);
                }
                let account = name_tightest
                    .then(|| self.ledger.lookup_hinted(path.as_str(), hint))
                    .flatten();
                Ok(usage(&self.ledger, &answer, account))
            }
            other => unreachable!("usage answered {other:?}"),
        }
    }

    pub(super) fn reserve(
        &mut self,
        request: ReserveRequest,
        scope: &Scope,
        now_ms: u64,
    ) -> Result<HoldOutcome, EngineError> {
        check_scope(scope, &request.account)?;
        let path = request.account.clone();
        match self.apply_ledger(Command::Reserve(request), now_ms)? {
            Answer::Reserved(answer) => {
                if answer.duplicate {
                    EngineStats::count(&self.stats.duplicates);
                }
                let account = self.ledger.lookup(path.as_str());
                Ok(HoldOutcome::Reserved(reservation(
                    &self.ledger,
                    &answer,
                    account,
                )))
            }
            Answer::Denied(refused) => {
                EngineStats::count(&self.stats.denials_budget);
                let view = denial(&self.ledger, &refused, now_ms);
                // A refused hold goes to the audit log (not the journal: it changed nothing).
                self.audit.push(audit::denial(
                    self.ledger.last_seq(),
                    now_ms,
                    view.account.clone(),
                    view.dimension.clone(),
                    view.requested,
                    view.available,
                ));
                Ok(HoldOutcome::Denied(view))
            }
            Answer::Refused(refusal) => {
                EngineStats::count(&self.stats.denials_budget);
                let view = RefusalView {
                    account: self.ledger.account(refusal.account).path.to_string(),
                    cap: refusal.cap,
                    detail: refusal.detail,
                    paused: refusal.paused,
                };
                Ok(HoldOutcome::Refused(view))
            }
            other => unreachable!("a hold answered {other:?}"),
        }
    }

    pub(super) fn settle(
        &mut self,
        request: SettleRequest,
        scope: &Scope,
        now_ms: u64,
    ) -> Result<UsageView, EngineError> {
        self.check_reservation_scope(request.reservation, scope)?;
        let account = self.ledger.reservation_account(request.reservation);
        match self.apply_ledger(Command::Settle(request), now_ms)? {
            Answer::Usage(answer) => Ok(usage(&self.ledger, &answer, account)),
            other => unreachable!("a settlement answered {other:?}"),
        }
    }

    pub(super) fn void(
        &mut self,
        reservation: u64,
        scope: &Scope,
        now_ms: u64,
    ) -> Result<u64, EngineError> {
        self.check_reservation_scope(reservation, scope)?;
        match self.apply_ledger(Command::Void { reservation }, now_ms)? {
            Answer::Voided { reservation } => Ok(reservation),
            other => unreachable!("a void answered {other:?}"),
        }
    }

    /// A reservation the caller's scope does not cover is refused; an unknown one is left to
    /// the ledger, which answers it is not found.
    fn check_reservation_scope(&self, reservation: u64, scope: &Scope) -> Result<(), EngineError> {
        match self.ledger.reservation_account(reservation) {
            Some(account) if !scope.covers(self.ledger.account(account).path.as_str()) => {
                Err(EngineError::OutOfScope {
                    what: format!("reservation rsv_{reservation}"),
                })
            }
            _ => Ok(()),
        }
    }

    /// An operator's command: a note with the actor and the settings that moved takes the seq
    /// before the command's events, so that the audit log can say who did what.
    pub(super) fn manage(
        &mut self,
        mut command: Command,
        actor: Arc<str>,
        now_ms: u64,
    ) -> Result<ManagedView, EngineError> {
        // A period changed with its usage reset starts the new unit's window now.
        if let Command::UpsertAccount { spec, .. } = &mut command
            && spec.keep_usage == Some(false)
            && let Some(period) = &spec.period
        {
            spec.period_bounds = crate::periods::period_bounds(period, now_ms).ok();
        }
        let targets: Vec<AccountPath> = match &command {
            Command::UpsertAccount { path, .. }
            | Command::ResetUsage { path }
            | Command::StartRun { path } => vec![path.clone()],
            Command::Allocate { path, request } => request
                .children
                .iter()
                .filter_map(|child| path.child(&child.name).ok())
                .collect(),
            _ => Vec::new(),
        };
        let before: Vec<_> = targets.iter().map(|path| self.settings(path)).collect();
        let note_seq = self.ledger.take_foreign_seq();
        let note_idx = self.records.len();
        self.records.push(Record::Note(Note {
            actor,
            changes: Vec::new(),
        }));
        let upserted = match &command {
            Command::UpsertAccount { path, .. } => Some(path.clone()),
            _ => None,
        };
        let answer = self.apply_ledger(command, now_ms);
        // An account given a period starts its first one now, in the same batch: usage reported
        // before the next tick then counts in it (the first renewal restarts the window, so it
        // would forget what came before).
        if answer.is_ok()
            && let Some(id) = upserted.and_then(|path| self.ledger.lookup(path.as_str()))
        {
            let acc = self.ledger.account(id);
            if acc.config.period.is_some() && acc.period.is_none() {
                self.renew_period(id, now_ms);
            }
        }
        if answer.is_err() || self.records.len() == note_idx + 1 {
            // Refused, or nothing to change: nothing is journaled, the note neither.
            self.records.pop();
            self.ledger.give_back_foreign_seq(note_seq);
        } else {
            let changes = targets
                .iter()
                .zip(&before)
                .flat_map(|(path, before)| audit::diff(path.as_str(), before, &self.settings(path)))
                .collect();
            if let Record::Note(note) = &mut self.records[note_idx] {
                note.changes = changes;
            }
        }
        match answer? {
            Answer::Account { account: id, .. } => Ok(ManagedView::Account(Box::new(
                account::account(&self.ledger, id),
            ))),
            Answer::Requested { request } => {
                let found = self
                    .ledger
                    .increase_request(request)
                    .expect("a request just made or decided is kept");
                Ok(ManagedView::Request(Box::new(crate::view::rules::request(
                    &self.ledger,
                    request,
                    found,
                ))))
            }
            Answer::Closed { account } => Ok(ManagedView::Closed {
                path: self.ledger.account(account).path.to_string(),
            }),
            Answer::Allocated {
                parent,
                allocations,
            } => Ok(ManagedView::Allocated(allocation(
                &self.ledger,
                parent,
                &allocations,
            ))),
            other => unreachable!("an operator's command answered {other:?}"),
        }
    }

    fn settings(&self, path: &AccountPath) -> audit::Settings {
        audit::settings(&self.ledger, self.ledger.lookup(path.as_str()))
    }

    pub(super) fn account(&self, path: &AccountPath) -> Result<AccountView, EngineError> {
        let id = self.lookup(path)?;
        Ok(account::account(&self.ledger, id))
    }

    pub(super) fn holds(
        &self,
        path: &AccountPath,
        max: usize,
    ) -> Result<Vec<account::HoldView>, EngineError> {
        let id = self.lookup(path)?;
        Ok(self
            .ledger
            .open_holds(id, max)
            .into_iter()
            .map(|(id, amounts, expires_ms)| account::HoldView {
                id,
                amounts: account::amounts(&self.ledger, &amounts),
                expires_ms,
            })
            .collect())
    }

    /// The account named by `prefix` (or every top-level one) and its descendants down to
    /// `depth` levels, those the scope covers, in path order.
    pub(super) fn accounts(
        &self,
        prefix: Option<&AccountPath>,
        depth: usize,
        scope: &Scope,
    ) -> Result<Vec<AccountView>, EngineError> {
        if let Some(prefix) = prefix {
            self.lookup(prefix)?;
        }
        let ids = self.ledger.list(prefix, depth, LIST_MAX);
        Ok(ids
            .into_iter()
            .filter(|id| scope.covers(self.ledger.account(*id).path.as_str()))
            .map(|id| account::account(&self.ledger, id))
            .collect())
    }

    pub(crate) fn lookup(&self, path: &AccountPath) -> Result<purser_core::AccountId, EngineError> {
        self.ledger.lookup(path.as_str()).ok_or_else(|| {
            EngineError::Ledger(LedgerError::AccountNotFound {
                path: path.to_string(),
            })
        })
    }
}

fn check_scope(scope: &Scope, account: &AccountPath) -> Result<(), EngineError> {
    if scope.covers(account.as_str()) {
        Ok(())
    } else {
        Err(EngineError::OutOfScope {
            what: format!("account {account}"),
        })
    }
}

//! Budget rules in the ledger (`crate::rules`): deciding and folding them, and their effect on
//! levels, verdicts and holds. Every map is empty for a ledger without rules, so the hot path
//! pays one emptiness check.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::Ledger;
use crate::account::AccountId;
use crate::amount::{Amounts, NamedAmounts};
use crate::command::{Answer, Refusal};
use crate::error::LedgerError;
use crate::event::Event;
use crate::level::Level;
use crate::path::AccountPath;
pub use crate::rules::RulesSpec;
use crate::rules::*;

/// The rules of every account, the runs they cap, the halts in force and the requests for more.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Book {
    pub(crate) rules: FxHashMap<AccountId, Rules>,
    pub(crate) runs: FxHashMap<AccountId, RunState>,
    pub(crate) halts: FxHashMap<AccountId, Halt>,
    pub(crate) requests: BTreeMap<u64, IncreaseRequest>,
    pub(crate) decided: VecDeque<u64>,
    pub(crate) n_pending: usize,
}

/// The book as a canonical value, ordered by id: the last part of a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RulesSnapshot {
    pub(crate) rules: Vec<(AccountId, Rules)>,
    pub(crate) runs: Vec<(AccountId, RunState)>,
    pub(crate) halts: Vec<(AccountId, Halt)>,
    pub(crate) requests: Vec<(u64, IncreaseRequest)>,
    pub(crate) decided: Vec<u64>,
}

fn sorted<T: Clone>(map: &FxHashMap<AccountId, T>) -> Vec<(AccountId, T)> {
    let mut out: Vec<_> = map.iter().map(|(id, value)| (*id, value.clone())).collect();
    out.sort_by_key(|(id, _)| *id);
    out
}

impl Book {
    pub(crate) fn to_snapshot(&self) -> RulesSnapshot {
        RulesSnapshot {
            rules: sorted(&self.rules),
            runs: sorted(&self.runs),
            halts: sorted(&self.halts),
            requests: self
                .requests
                .iter()
                .map(|(id, request)| (*id, request.clone()))
                .collect(),
            decided: self.decided.iter().copied().collect(),
        }
    }

    pub(crate) fn from_snapshot(snapshot: RulesSnapshot) -> Book {
        let requests: BTreeMap<u64, IncreaseRequest> = snapshot.requests.into_iter().collect();
        Book {
            n_pending: requests.values().filter(|r| r.decision.is_none()).count(),
            rules: snapshot.rules.into_iter().collect(),
            runs: snapshot.runs.into_iter().collect(),
            halts: snapshot.halts.into_iter().collect(),
            requests,
            decided: snapshot.decided.into(),
        }
    }
}

/// Rules checked, their new dimensions not yet interned.
pub(super) struct PreparedRules {
    spec: RulesSpec,
    child_defaults: Option<super::decide::Prepared>,
}

impl Ledger {
    /// The rules of `account`, if any.
    pub fn rules(&self, account: AccountId) -> Option<&Rules> {
        self.book.rules.get(&account)
    }

    /// The cap in force on `account`, if any.
    pub fn halt(&self, account: AccountId) -> Option<&Halt> {
        self.book.halts.get(&account)
    }

    pub fn run(&self, account: AccountId) -> Option<&RunState> {
        self.book.runs.get(&account)
    }

    /// Increase requests, newest first, pending only or all that are remembered.
    pub fn increase_requests(
        &self,
        pending_only: bool,
    ) -> impl Iterator<Item = (u64, &IncreaseRequest)> + '_ {
        self.book
            .requests
            .iter()
            .rev()
            .filter(move |(_, request)| !pending_only || request.decision.is_none())
            .map(|(id, request)| (*id, request))
    }

    pub fn increase_request(&self, id: u64) -> Option<&IncreaseRequest> {
        self.book.requests.get(&id)
    }

    /// True when `account`'s rules only warn at `level`.
    pub(crate) fn warn_only_at(&self, account: AccountId, level: Level) -> bool {
        !self.book.rules.is_empty()
            && self
                .book
                .rules
                .get(&account)
                .is_some_and(|rules| rules.warn_only.covers(level))
    }

    pub(crate) fn pauses_at_stop(&self, account: AccountId) -> bool {
        !self.book.rules.is_empty()
            && self
                .book
                .rules
                .get(&account)
                .is_some_and(|rules| rules.pause_at_stop)
    }

    /// The least level a halt holds `account` at.
    #[inline]
    pub(crate) fn halt_floor(&self, account: AccountId) -> Level {
        if self.book.halts.is_empty() {
            return Level::Green;
        }
        self.book
            .halts
            .get(&account)
            .map_or(Level::Green, Halt::floor)
    }

    /// The halt nearest `account` on its path (a stopping one first), if any.
    pub fn halt_on_path(&self, account: AccountId) -> Option<(AccountId, &Halt)> {
        if self.book.halts.is_empty() {
            return None;
        }
        let on_path = || {
            self.path_ids(account)
                .filter_map(|id| self.book.halts.get(&id).map(|halt| (id, halt)))
        };
        on_path()
            .find(|(_, halt)| halt.stops)
            .or_else(|| on_path().next())
    }

    /// A hold refused by a stopping halt on the path (not by the figures), if any.
    pub(crate) fn halted_on_path(&self, account: AccountId) -> Option<Answer> {
        if self.book.halts.is_empty() {
            return None;
        }
        self.path_ids(account).find_map(|id| {
            let halt = self.book.halts.get(&id)?;
            (halt.stops && !self.warn_only_at(id, Level::Black)).then(|| {
                Answer::Refused(Refusal {
                    account: id,
                    cap: halt.cap,
                    detail: halt.detail.to_string(),
                    paused: self.pauses_at_stop(id),
                })
            })
        })
    }

    /// Checks rules as given, interning nothing yet.
    pub(super) fn check_rules(&self, spec: RulesSpec) -> Result<PreparedRules, LedgerError> {
        let child_defaults = match &spec.child_defaults {
            Some(named) => {
                self.check_amounts(
                    named.iter().map(|(name, value)| (name.as_str(), *value)),
                    "rules.child_defaults",
                )?;
                Some(self.prepare(named, "rules.child_defaults")?)
            }
            None => None,
        };
        if let Some(run) = &spec.run {
            if run.max_turns == Some(0) || run.max_wall_ms == Some(0) {
                return Err(LedgerError::invalid(
                    "invalid_field",
                    "rules.run",
                    "run caps must be above 0",
                ));
            }
            if let Some(loops) = run.loops
                && (loops.repeats < 2 || loops.repeats > LOOP_REPEATS_MAX || loops.window_ms == 0)
            {
                return Err(LedgerError::invalid(
                    "invalid_field",
                    "rules.run.loop",
                    format!(
                        "loop detection needs 2 to {LOOP_REPEATS_MAX} repeats in a window above 0"
                    ),
                ));
            }
        }
        Ok(PreparedRules {
            spec,
            child_defaults,
        })
    }

    /// Interns checked rules' child defaults (new dimensions become events).
    pub(super) fn intern_rules(
        &mut self,
        prepared: PreparedRules,
        events: &mut Vec<Event>,
    ) -> Rules {
        let child_defaults = prepared
            .child_defaults
            .map(|defaults| self.intern(defaults, events));
        let spec = prepared.spec;
        Rules {
            warn_only: spec.warn_only,
            child_defaults,
            expires_ms: spec.expires_ms,
            pause_at_stop: spec.pause_at_stop,
            run: spec.run,
        }
    }

    /// The limits a new child of `parent` gets in the dimensions it does not name.
    pub(super) fn child_defaults(&self, parent: Option<AccountId>) -> Option<&Amounts> {
        self.book.rules.get(&parent?)?.child_defaults.as_ref()
    }

    pub(super) fn reset_usage(
        &mut self,
        path: &AccountPath,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LedgerError> {
        let account = self.resolve(path)?;
        Ok(self.on_account(
            Event::UsageReset {
                account,
                at_ms: now_ms,
            },
            events,
        ))
    }

    pub(super) fn start_run(
        &mut self,
        path: &AccountPath,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LedgerError> {
        let account = self.resolve(path)?;
        if self.book.rules.get(&account).and_then(|r| r.run).is_none() {
            return Err(LedgerError::Conflict {
                code: "no_run_caps",
                message: format!("account {path} has no run caps"),
            });
        }
        Ok(self.on_account(
            Event::RunStarted {
                account,
                at_ms: now_ms,
            },
            events,
        ))
    }

    /// Emits `event`, about one account, and answers that account.
    fn on_account(&mut self, event: Event, events: &mut Vec<Event>) -> Answer {
        let (Event::UsageReset { account, .. } | Event::RunStarted { account, .. }) = event else {
            unreachable!("an event about one account")
        };
        self.emit(event, events);
        Answer::Account {
            account,
            created: false,
        }
    }

    /// Accounts whose run ran past its wall time or whose one-time budget expired by `now_ms`
    /// and are not yet halted for it, in id order, at most `max`.
    pub fn caps_due(&self, now_ms: u64, max: usize) -> Vec<(AccountId, Cap)> {
        let mut due: Vec<(AccountId, Cap)> = self
            .book
            .rules
            .keys()
            .filter_map(|&id| Some((id, self.cap_due(id, now_ms)?)))
            .collect();
        due.sort_unstable();
        due.truncate(max);
        due
    }

    /// The cap the clock should halt `account` for at `now_ms`, if any.
    fn cap_due(&self, account: AccountId, now_ms: u64) -> Option<Cap> {
        let rules = self.book.rules.get(&account)?;
        if self.accounts[account.0 as usize].closed {
            return None;
        }
        let halt = self.book.halts.get(&account);
        if rules.expires_ms.is_some_and(|at| at <= now_ms)
            && halt.is_none_or(|halt| halt.cap != Cap::Expired)
        {
            return Some(Cap::Expired);
        }
        // A loop that only alerted does not keep the wall time from stopping the run.
        let wall = rules.run?.max_wall_ms?;
        let run = self.book.runs.get(&account)?;
        (run.started_ms.saturating_add(wall) <= now_ms && halt.is_none_or(|halt| !halt.stops))
            .then_some(Cap::WallTime)
    }

    /// Halts `account` for a cap the clock found due (still due when decided).
    pub(super) fn reach_cap(
        &mut self,
        account: AccountId,
        cap: Cap,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LedgerError> {
        if self.cap_due(account, now_ms) != Some(cap) {
            return Ok(Answer::Alerted { changed: false });
        }
        let rules = &self.book.rules[&account];
        let detail = match cap {
            Cap::Expired => format!(
                "the one-time budget expired at {} ms",
                rules.expires_ms.unwrap_or(0)
            ),
            _ => format!(
                "the run passed its wall time of {} s",
                rules.run.and_then(|run| run.max_wall_ms).unwrap_or(0) / 1000
            ),
        };
        self.emit(
            Event::CapReached {
                account,
                cap,
                stops: true,
                detail: Arc::from(detail),
                at_ms: now_ms,
            },
            events,
        );
        Ok(Answer::Alerted { changed: true })
    }

    pub(super) fn request_increase(
        &mut self,
        path: &AccountPath,
        amount: NamedAmounts,
        reason: String,
        idempotency_key: Option<String>,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LedgerError> {
        let account = self.resolve(path)?;
        Self::check_text(
            idempotency_key.as_deref(),
            "idempotency_key",
            crate::command::IDEMPOTENCY_KEY_LEN_MAX,
        )?;
        // A retry finds its request (decided since or not) among those remembered.
        if let Some(key) = idempotency_key.as_deref()
            && let Some((&request, _)) = self.book.requests.iter().find(|(_, found)| {
                found.account == account && found.idempotency_key.as_deref() == Some(key)
            })
        {
            return Ok(Answer::Requested { request });
        }
        Self::check_text(Some(&reason), "reason", REQUEST_TEXT_LEN_MAX)?;
        if amount.is_empty() {
            return Err(LedgerError::invalid(
                "invalid_field",
                "amount",
                "amount must name at least one dimension",
            ));
        }
        self.check_amounts(
            amount.iter().map(|(name, value)| (name.as_str(), *value)),
            "amount",
        )?;
        if self.book.n_pending >= PENDING_REQUESTS_MAX {
            return Err(LedgerError::LimitReached {
                field: "amount".into(),
                message: format!("{PENDING_REQUESTS_MAX} increase requests are pending"),
            });
        }
        let acc = &self.accounts[account.0 as usize];
        let mut pairs = Vec::with_capacity(amount.len());
        for (name, value) in &amount {
            let limited = self
                .dims
                .lookup(name)
                .filter(|dim| acc.limit(*dim).is_some());
            let Some(dim) = limited else {
                return Err(LedgerError::Conflict {
                    code: "not_limited",
                    message: format!("account {path} has no limit in {name} to raise"),
                });
            };
            if *value == 0 {
                return Err(LedgerError::invalid(
                    "invalid_amount",
                    format!("amount.{name}"),
                    "an increase must be above 0",
                ));
            }
            pairs.push((dim, *value));
        }
        self.emit(
            Event::IncreaseRequested {
                account,
                amount: Amounts::from_pairs(pairs),
                reason: Arc::from(reason),
                idempotency_key: idempotency_key.as_deref().map(Arc::from),
                at_ms: now_ms,
            },
            events,
        );
        Ok(Answer::Requested {
            request: self.last_seq,
        })
    }

    pub(super) fn decide_increase(
        &mut self,
        request: u64,
        approve: bool,
        note: String,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LedgerError> {
        Self::check_text(
            (!note.is_empty()).then_some(note.as_str()),
            "note",
            REQUEST_TEXT_LEN_MAX,
        )?;
        let Some(found) = self.book.requests.get(&request) else {
            return Err(LedgerError::RequestNotFound {
                id: request_name(request),
            });
        };
        if let Some(decision) = &found.decision {
            // The same decision again (a retry) answers the request as it stands.
            if decision.approved == approve {
                return Ok(Answer::Requested { request });
            }
            let verb = if decision.approved {
                "approved"
            } else {
                "rejected"
            };
            return Err(LedgerError::Conflict {
                code: "request_decided",
                message: format!(
                    "increase request {} was already {verb}",
                    request_name(request)
                ),
            });
        }
        let account = found.account;
        if self.accounts[account.0 as usize].closed {
            return Err(LedgerError::Conflict {
                code: "account_closed",
                message: format!("the account of {} was closed", request_name(request)),
            });
        }
        let mut limits = Amounts::new();
        if approve {
            let acc = &self.accounts[account.0 as usize];
            let raised: Vec<_> = found
                .amount
                .iter()
                .map(|(dim, more)| (dim, acc.limit(dim).unwrap_or(0).saturating_add(more)))
                .collect();
            // Invariant: an approved increase comes out of the parent's pool like any raise.
            self.check_limits(Some(account), acc.parent, &raised, "amount")?;
            limits = Amounts::from_pairs(raised);
        }
        self.emit(
            Event::IncreaseDecided {
                request,
                approved: approve,
                limits,
                note: Arc::from(note),
                at_ms: now_ms,
            },
            events,
        );
        Ok(Answer::Requested { request })
    }
}

pub fn request_name(id: u64) -> String {
    format!("req_{id}")
}

/// Parses `req_N` (or `N`).
pub fn parse_request_name(text: &str) -> Option<u64> {
    text.strip_prefix("req_").unwrap_or(text).parse().ok()
}

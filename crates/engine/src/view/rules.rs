//! Views of budget rules, runs, halts and increase requests.

use purser_core::rules::{Cap, Halt, IncreaseRequest, Rules, RunCaps, RunState};
use purser_core::{AccountId, Ledger, Level};

use super::{AmountsByName, amounts};

/// An account's rules, dimensions named.
#[derive(Clone, Debug, PartialEq)]
pub struct RulesView {
    /// The levels that only warn, in ladder order.
    pub warn_only: Vec<Level>,
    pub child_defaults: Option<AmountsByName>,
    pub expires_ms: Option<u64>,
    pub pause_at_stop: bool,
    pub run: Option<RunCaps>,
}

/// A cap in force.
#[derive(Clone, Debug, PartialEq)]
pub struct HaltView {
    pub cap: Cap,
    pub stops: bool,
    pub detail: String,
    pub at_ms: u64,
}

/// The current run of an account with run caps.
#[derive(Clone, Debug, PartialEq)]
pub struct RunView {
    pub started_ms: u64,
    pub turns: u64,
}

/// An increase request and, once decided, its decision.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestView {
    pub id: u64,
    pub account: String,
    pub amount: AmountsByName,
    pub reason: String,
    pub at_ms: u64,
    /// `pending`, `approved` or `rejected`.
    pub state: &'static str,
    pub note: Option<String>,
    pub decided_ms: Option<u64>,
    /// After an approval, the account's limits now.
    pub limits: Option<AmountsByName>,
}

pub fn rules(ledger: &Ledger, rules: &Rules) -> RulesView {
    RulesView {
        warn_only: rules.warn_only.levels().collect(),
        child_defaults: rules
            .child_defaults
            .as_ref()
            .map(|defaults| amounts(ledger, defaults)),
        expires_ms: rules.expires_ms,
        pause_at_stop: rules.pause_at_stop,
        run: rules.run,
    }
}

pub fn halt(halt: &Halt) -> HaltView {
    HaltView {
        cap: halt.cap,
        stops: halt.stops,
        detail: halt.detail.to_string(),
        at_ms: halt.at_ms,
    }
}

pub fn run(run: &RunState) -> RunView {
    RunView {
        started_ms: run.started_ms,
        turns: run.turns,
    }
}

/// The rules, halt and run of `account`, as its view shows them.
pub fn of_account(
    ledger: &Ledger,
    account: AccountId,
) -> (Option<RulesView>, Option<HaltView>, Option<RunView>) {
    (
        ledger.rules(account).map(|found| rules(ledger, found)),
        ledger.halt(account).map(halt),
        ledger.run(account).map(run),
    )
}

pub fn request(ledger: &Ledger, id: u64, request: &IncreaseRequest) -> RequestView {
    let decision = request.decision.as_ref();
    let account = ledger.account(request.account);
    let approved = decision.is_some_and(|decision| decision.approved);
    RequestView {
        id,
        account: account.path.to_string(),
        amount: amounts(ledger, &request.amount),
        reason: request.reason.to_string(),
        at_ms: request.at_ms,
        state: match decision {
            None => "pending",
            Some(decision) if decision.approved => "approved",
            Some(_) => "rejected",
        },
        note: decision
            .filter(|decision| !decision.note.is_empty())
            .map(|decision| decision.note.to_string()),
        decided_ms: decision.map(|decision| decision.at_ms),
        limits: approved.then(|| {
            request
                .amount
                .iter()
                .filter_map(|(dim, _)| {
                    account
                        .limit(dim)
                        .map(|limit| (ledger.dimensions().name(dim).to_string(), limit))
                })
                .collect()
        }),
    }
}

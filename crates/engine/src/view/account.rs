//! Views of accounts, usage, holds and allocations.

use std::collections::BTreeMap;

use purser_core::{
    AccountId, Action, Amounts, Ledger, Level, ReserveAnswer, Thresholds, UsageAnswer, Verdict,
};

use super::AmountsByName;
pub use super::amounts;

/// Which account and dimension set a level.
#[derive(Clone, Debug, PartialEq)]
pub struct FiredView {
    pub account: String,
    pub dimension: String,
    pub fraction: f64,
}

/// The enforcement an answer carries: the level, the action and what fired it.
#[derive(Clone, Debug, PartialEq)]
pub struct VerdictView {
    pub level: Level,
    pub action: Action,
    pub fired: Option<FiredView>,
    /// Why, where the figures alone do not say: a run cap, a loop, an expired budget, a pause
    /// or shadow mode.
    pub reason: Option<String>,
}

/// An account's status, the same everywhere an account is shown.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountView {
    pub path: String,
    pub kind: Option<String>,
    pub limits: AmountsByName,
    pub consumed: AmountsByName,
    pub reserved: AmountsByName,
    pub remaining: AmountsByName,
    pub pool: AmountsByName,
    pub fraction: f64,
    pub verdict: VerdictView,
    pub children: Vec<String>,
    pub last_activity_ms: Option<u64>,
    pub seq: u64,
    pub weight: f64,
    pub priority: i32,
    pub labels: BTreeMap<String, String>,
    pub thresholds: Thresholds,
    pub throttle_rate_ppm: u32,
    pub reserve_ppm: u32,
    pub open_reservations: u32,
    pub work_units: u64,
    pub rules: Option<super::rules::RulesView>,
    pub halt: Option<super::rules::HaltView>,
    pub run: Option<super::rules::RunView>,
    /// The current budget period: its unit and when it renews (`u64::MAX`: a lifetime).
    pub period: Option<(&'static str, u64)>,
}

/// A hold open on an account.
#[derive(Clone, Debug, PartialEq)]
pub struct HoldView {
    pub id: u64,
    pub amounts: AmountsByName,
    pub expires_ms: u64,
}

/// Per dimension limited on an account's path, the account with the least left and how much.
#[derive(Clone, Debug, PartialEq)]
pub struct TightestView {
    pub dimension: String,
    pub account: String,
    pub remaining: u64,
}

/// The answer to a usage report or a settlement.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageView {
    pub seq: u64,
    pub duplicate: bool,
    pub verdict: VerdictView,
    pub remaining: AmountsByName,
    /// Where on the path each remaining figure is least.
    pub tightest: Vec<TightestView>,
    /// A settlement of a hold that had expired.
    pub expired: bool,
}

/// A hold granted.
#[derive(Clone, Debug, PartialEq)]
pub struct ReservationView {
    pub id: u64,
    pub expires_ms: u64,
    pub verdict: VerdictView,
    pub duplicate: bool,
    /// After the hold: where on the path each dimension has least left.
    pub tightest: Vec<TightestView>,
}

/// A hold refused: it would take `account` to its stop threshold in `dimension`. An outcome,
/// not an error: the server answers it as one.
#[derive(Clone, Debug, PartialEq)]
pub struct DenialView {
    pub account: String,
    pub dimension: String,
    pub requested: u64,
    pub available: u64,
    /// The refusing account's limit in the dimension, and what it spent this period.
    pub limit: Option<u64>,
    pub spent: u64,
    /// Where the account renews: its period (`hour`, `day`, `week`, `month`), when the current
    /// one renews, and how long until then.
    pub period: Option<&'static str>,
    pub resets_ms: Option<u64>,
    pub retry_after_ms: Option<u64>,
    /// The refusing account pauses at stop: the agent should idle until the budget is raised.
    pub paused: bool,
}

/// What a hold request came to.
#[derive(Clone, Debug, PartialEq)]
pub enum HoldOutcome {
    Reserved(ReservationView),
    Denied(DenialView),
    /// Refused by a cap in force (a run cap, a loop, an expired one-time budget).
    Refused(RefusalView),
}

/// A hold refused by a cap in force on `account`, not by its figures.
#[derive(Clone, Debug, PartialEq)]
pub struct RefusalView {
    pub account: String,
    pub cap: purser_core::rules::Cap,
    pub detail: String,
    /// The account pauses at stop: idle until a new run starts or the rules change.
    pub paused: bool,
}

/// What an operator's command on accounts came to.
#[derive(Clone, Debug, PartialEq)]
pub enum ManagedView {
    Account(Box<AccountView>),
    /// An increase request made or decided.
    Request(Box<super::rules::RequestView>),
    Closed {
        path: String,
    },
    Allocated(AllocationView),
}

/// The limits an allocation set, and the parent's pool after it.
#[derive(Clone, Debug, PartialEq)]
pub struct AllocationView {
    pub allocations: Vec<(String, AmountsByName)>,
    pub pool: AmountsByName,
}

/// The verdict on `account` (where known, for the reason of a halt on its path).
pub fn verdict(ledger: &Ledger, verdict: &Verdict, account: Option<AccountId>) -> VerdictView {
    let fired = verdict.fired.map(|fired| FiredView {
        account: ledger.account(fired.account).path.to_string(),
        dimension: ledger.dimensions().name(fired.dimension).to_string(),
        fraction: fired.fraction,
    });
    let halt = account.and_then(|account| ledger.halt_on_path(account));
    let halted = halt.map(|(at, halt)| {
        let what = if halt.stops { "stopped" } else { "flagged" };
        format!(
            "{} {what} ({}): {}",
            ledger.account(at).path,
            halt.cap.name(),
            halt.detail
        )
    });
    let reason = match verdict.action {
        Action::WarnOnly { would } => Some(format!(
            "shadow mode: at {} the agent would be told to {}; this account's rules only warn",
            would.as_str(),
            purser_core::action_for(would, 0).kind()
        )),
        Action::Pause => Some(match halted {
            Some(halted) => {
                format!("paused until the budget is raised or a new run starts; {halted}")
            }
            None => "paused at the stop threshold until the budget is raised".to_string(),
        }),
        _ => halted,
    };
    VerdictView {
        level: verdict.level,
        action: verdict.action,
        fired,
        reason,
    }
}

/// Where on `account`'s path each limited dimension has least left.
pub fn tightest(ledger: &Ledger, account: Option<AccountId>) -> Vec<TightestView> {
    account.map_or_else(Vec::new, |account| {
        ledger
            .tightest(account)
            .into_iter()
            .map(|(dim, at, remaining)| TightestView {
                dimension: ledger.dimensions().name(dim).to_string(),
                account: ledger.account(at).path.to_string(),
                remaining,
            })
            .collect()
    })
}

/// A usage answer on `account` (its path's tightest figures named, where it is known).
pub fn usage(ledger: &Ledger, answer: &UsageAnswer, account: Option<AccountId>) -> UsageView {
    UsageView {
        seq: answer.seq,
        duplicate: answer.duplicate,
        verdict: verdict(ledger, &answer.verdict, account),
        remaining: amounts(ledger, &answer.remaining),
        tightest: tightest(ledger, account),
        expired: answer.expired,
    }
}

pub fn reservation(
    ledger: &Ledger,
    answer: &ReserveAnswer,
    account: Option<AccountId>,
) -> ReservationView {
    ReservationView {
        id: answer.reservation,
        expires_ms: answer.expires_ms,
        verdict: verdict(ledger, &answer.verdict, account),
        duplicate: answer.duplicate,
        tightest: tightest(ledger, account),
    }
}

/// A refused hold at `now_ms`, with the refusing account's figures and its next renewal.
pub fn denial(ledger: &Ledger, denial: &purser_core::Denial, now_ms: u64) -> DenialView {
    let acc = ledger.account(denial.account);
    let slot = acc.slot(denial.dimension);
    let resets_ms = acc.period.as_ref().map(|period| period.end_ms);
    DenialView {
        account: acc.path.to_string(),
        dimension: ledger.dimensions().name(denial.dimension).to_string(),
        requested: denial.requested,
        available: denial.available,
        limit: slot.and_then(|slot| slot.limit),
        spent: slot.map_or(0, |slot| slot.period_consumed()),
        period: acc.period.as_ref().map(|period| period.spec.every.name()),
        resets_ms,
        retry_after_ms: resets_ms.map(|end_ms| end_ms.saturating_sub(now_ms)),
        paused: ledger
            .rules(denial.account)
            .is_some_and(|rules| rules.pause_at_stop),
    }
}

pub fn account(ledger: &Ledger, id: AccountId) -> AccountView {
    let status = ledger.status(id);
    let mut view = AccountView {
        path: status.path.to_string(),
        kind: status.config.kind.as_deref().map(str::to_string),
        limits: AmountsByName::new(),
        consumed: AmountsByName::new(),
        reserved: AmountsByName::new(),
        remaining: AmountsByName::new(),
        pool: AmountsByName::new(),
        fraction: status.fraction,
        verdict: verdict(ledger, &status.verdict, Some(id)),
        children: status
            .children
            .iter()
            .map(|name| name.to_string())
            .collect(),
        last_activity_ms: status.last_activity_ms,
        seq: status.seq,
        weight: status.config.weight,
        priority: status.config.priority,
        labels: status.config.labels.clone(),
        thresholds: status.config.thresholds,
        throttle_rate_ppm: status.config.throttle_rate_ppm,
        reserve_ppm: status.config.reserve_ppm,
        open_reservations: status.open_reservations,
        work_units: status.work_units,
        rules: None,
        halt: None,
        run: None,
        period: ledger
            .account(id)
            .period
            .as_ref()
            .map(|period| (period.spec.every.name(), period.end_ms)),
    };
    (view.rules, view.halt, view.run) = super::rules::of_account(ledger, id);
    for dim in &status.dims {
        let name = dim.name.to_string();
        view.consumed.insert(name.clone(), dim.consumed);
        view.reserved.insert(name.clone(), dim.reserved);
        if let (Some(limit), Some(remaining), Some(pool)) = (dim.limit, dim.remaining, dim.pool) {
            view.limits.insert(name.clone(), limit);
            view.remaining.insert(name.clone(), remaining);
            view.pool.insert(name, pool);
        }
    }
    view
}

pub fn allocation(
    ledger: &Ledger,
    parent: AccountId,
    allocations: &[(AccountId, Amounts)],
) -> AllocationView {
    AllocationView {
        allocations: allocations
            .iter()
            .map(|(id, limits)| {
                (
                    ledger.account(*id).path.to_string(),
                    amounts(ledger, limits),
                )
            })
            .collect(),
        pool: account(ledger, parent).pool,
    }
}

//! Commands in, answers out: what the shell hands the ledger and what it gets back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::account::AccountId;
use crate::allocate::Strategy;
use crate::amount::{Amounts, DimId, NamedAmounts, Spend};
use crate::level::{Action, Level};
use crate::path::AccountPath;

/// The longest idempotency key.
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 256;
/// The longest operation name.
pub const OPERATION_LEN_MAX: usize = 64;
/// The default and the longest hold.
pub const TTL_MS_DEFAULT: u64 = 60_000;
pub const TTL_MS_MAX: u64 = 3_600_000;
/// The most children one allocation names.
pub const ALLOCATION_CHILDREN_MAX: usize = 10_000;

/// A partial update of an account: what is `None` stays as it is (or takes the default).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccountSpec {
    /// The limits to set; dimensions not named keep their limit.
    pub limits: Option<NamedAmounts>,
    pub weight: Option<f64>,
    pub priority: Option<i32>,
    pub kind: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub warn: Option<f64>,
    pub throttle: Option<f64>,
    pub degrade: Option<f64>,
    pub stop: Option<f64>,
    pub throttle_rate: Option<f64>,
    pub reserve: Option<f64>,
    /// Renew the limits on a calendar period.
    pub period: Option<crate::account::PeriodSpec>,
    pub deadline_ms: Option<u64>,
    /// Replaces the account's rules (an empty value removes them).
    pub rules: Option<Box<crate::rules::RulesSpec>>,
    /// Required when an existing period changes its unit: whether what was spent in the current
    /// window keeps counting (`true`: the window runs on to its end) or is reset now.
    pub keep_usage: Option<bool>,
    /// Filled by the shell when `keep_usage` is false: the bounds of the new unit's window that
    /// contains now, which starts at once (else the reset waits for the old window's end).
    pub period_bounds: Option<(u64, u64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChildRequest {
    pub name: String,
    pub weight: Option<f64>,
    pub priority: Option<i32>,
    pub demand: Option<NamedAmounts>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AllocateRequest {
    pub strategy: Strategy,
    /// Defaults to the pool less the reserve, counting the named children's limits as free.
    pub total: Option<NamedAmounts>,
    pub children: Vec<ChildRequest>,
    pub min_share: Option<f64>,
    pub max_share: Option<f64>,
    pub initial_share: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UsageReport {
    pub account: AccountPath,
    /// What `account` resolved to where the request was read (the engine's directory), so the
    /// writer need not hash the path. Trusted only while that account is open: ids are never
    /// reused and an open account keeps its path, so an open id still names `account`.
    pub account_id: Option<AccountId>,
    pub usage: Spend,
    pub operation: Option<String>,
    pub work_units: u64,
    pub idempotency_key: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReserveRequest {
    pub account: AccountPath,
    pub amount: NamedAmounts,
    pub ttl_ms: Option<u64>,
    pub idempotency_key: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SettleRequest {
    pub reservation: u64,
    pub usage: NamedAmounts,
    pub operation: Option<String>,
    pub work_units: u64,
}

/// What changes the ledger.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    UpsertAccount {
        path: AccountPath,
        spec: AccountSpec,
    },
    CloseAccount {
        path: AccountPath,
    },
    Allocate {
        path: AccountPath,
        request: AllocateRequest,
    },
    Usage(UsageReport),
    Reserve(ReserveRequest),
    Settle(SettleRequest),
    Void {
        reservation: u64,
    },
    /// Releases every hold whose time has come. The server's clock sends it.
    ExpireDue,
    /// Raises or clears a forecast alert (the manager decides when).
    Alert(AlertCommand),
    /// Applies the optimizer's moves; a move no longer valid is skipped.
    Reallocate(Vec<Move>),
    /// Starts the next budget period of a renewing account; the shell computes its bounds.
    RenewPeriod {
        account: AccountId,
        start_ms: u64,
        end_ms: u64,
    },
    /// An operator restarts the account's budget window (audited).
    ResetUsage {
        path: AccountPath,
    },
    /// Starts a new run of an account with run caps.
    StartRun {
        path: AccountPath,
    },
    /// Halts an account whose run passed its wall time or whose one-time budget expired (the
    /// clock sends it; skipped when no longer due).
    ReachCap {
        account: AccountId,
        cap: crate::rules::Cap,
    },
    /// Asks for more budget for an account.
    RequestIncrease {
        path: AccountPath,
        amount: NamedAmounts,
        reason: String,
        /// A retry with the same key on the same account answers the first request.
        idempotency_key: Option<String>,
    },
    /// Approves (raising the limits from the parent's pool) or rejects a request.
    DecideIncrease {
        request: u64,
        approve: bool,
        note: String,
    },
}

/// A forecast alert to raise (`raise` set) or clear.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertCommand {
    pub account: AccountId,
    pub dimension: DimId,
    pub raise: Option<AlertFigures>,
}

/// The forecast behind an alert.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertFigures {
    pub method: &'static str,
    pub projected_total: u64,
    pub exhausts_at_ms: u64,
    pub confidence_ppm: u32,
}

/// Which account and dimension set a level, and how full it was.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fired {
    pub account: AccountId,
    pub dimension: DimId,
    pub fraction: f64,
}

/// The enforcement an account is under: its own level and its ancestors', the worst.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub level: Level,
    pub action: Action,
    pub fired: Option<Fired>,
}

/// The answer to a usage report or a settlement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageAnswer {
    pub seq: u64,
    pub duplicate: bool,
    pub verdict: Verdict,
    /// Per dimension limited on the path, what may still be spent: the least over the account
    /// and its ancestors.
    pub remaining: Amounts,
    /// Only for settlements of a hold that had expired.
    pub expired: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReserveAnswer {
    pub reservation: u64,
    pub expires_ms: u64,
    pub verdict: Verdict,
    pub duplicate: bool,
}

/// A hold refused: it would take `account` to its stop threshold in `dimension`.
#[derive(Clone, Debug, PartialEq)]
pub struct Denial {
    pub account: AccountId,
    pub dimension: DimId,
    pub requested: u64,
    pub available: u64,
}

/// A hold refused by a cap in force on `account` (a run cap, a loop or an expired budget), not
/// by the figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub account: AccountId,
    pub cap: crate::rules::Cap,
    pub detail: String,
    /// The account pauses at stop: the agent should idle, not fail.
    pub paused: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Account {
        account: AccountId,
        created: bool,
    },
    Closed {
        account: AccountId,
    },
    Allocated {
        parent: AccountId,
        allocations: Vec<(AccountId, Amounts)>,
    },
    Usage(UsageAnswer),
    Reserved(ReserveAnswer),
    Denied(Denial),
    Voided {
        reservation: u64,
    },
    Expired {
        count: usize,
    },
    /// Whether the alert command changed anything.
    Alerted {
        changed: bool,
    },
    Reallocated {
        applied: usize,
        skipped: usize,
    },
    Renewed {
        account: AccountId,
    },
    Refused(Refusal),
    /// An increase request made or decided.
    Requested {
        request: u64,
    },
}

/// One decided move of a limit.
#[derive(Clone, Debug, PartialEq)]
pub struct Move {
    pub account: AccountId,
    pub dimension: DimId,
    pub from: u64,
    pub to: u64,
    pub kind: crate::event::ReallocationKind,
    pub reason: String,
}

//! Budget rules beyond limits and thresholds: shadow mode, defaults for new children, one-time
//! budgets, pausing at stop, run caps with loop detection, and requests for more.
//!
//! An account's rules live beside its settings (the ledger keeps them by account, journaled as
//! `Event::RulesSet`), so that accounts without rules cost nothing on the hot path and journals
//! and snapshots written before rules existed still decode.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::amount::{Amounts, NamedAmounts};
use crate::level::Level;

/// The most near-identical reports loop detection compares.
pub const LOOP_REPEATS_MAX: u32 = 1_000;
/// The longest reason or note an increase request keeps.
pub const REQUEST_TEXT_LEN_MAX: usize = 512;
/// Pending increase requests the ledger keeps at once.
pub const PENDING_REQUESTS_MAX: usize = 10_000;
/// Decided increase requests remembered (the oldest are forgotten first; the audit log keeps
/// them all).
pub const DECIDED_REQUESTS_KEPT: usize = 10_000;
/// Two reports are near-identical when they name the same operation and every amount is within
/// this share of the other's.
pub const LOOP_SIMILARITY_PPM: u64 = 50_000;

/// What an account enforces besides its ladder.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    /// Levels that only warn: the level, its alerts and its audit entries as usual, but the
    /// agent is told `warn` and no hold is denied for it (shadow mode).
    pub warn_only: WarnOnly,
    /// Limits each new child is given in the dimensions it does not name.
    pub child_defaults: Option<Amounts>,
    /// A one-time budget: at this time the account stops (or pauses) for good.
    pub expires_ms: Option<u64>,
    /// At stop, pause (idle until the budget is raised) instead of failing.
    pub pause_at_stop: bool,
    pub run: Option<RunCaps>,
}

impl Rules {
    pub fn is_empty(&self) -> bool {
        *self == Rules::default()
    }
}

/// A set of levels: bit `level as usize`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarnOnly(pub u8);

impl WarnOnly {
    /// The levels an account-wide shadow mode covers: every one that would slow or stop.
    pub const ACCOUNT: WarnOnly =
        WarnOnly((1 << Level::Orange as u8) | (1 << Level::Red as u8) | (1 << Level::Black as u8));

    pub fn covers(self, level: Level) -> bool {
        self.0 & (1 << level as u8) != 0
    }

    pub fn with(self, level: Level) -> WarnOnly {
        WarnOnly(self.0 | (1 << level as u8))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The levels covered, in ladder order.
    pub fn levels(self) -> impl Iterator<Item = Level> {
        Level::ALL
            .into_iter()
            .filter(move |level| self.covers(*level))
    }
}

/// Limits on one unattended run of an agent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCaps {
    /// Reports and settlements (turns) one run may make.
    pub max_turns: Option<u64>,
    /// How long one run may last from its start.
    pub max_wall_ms: Option<u64>,
    pub loops: Option<LoopRule>,
}

/// Loop detection: `repeats` near-identical reports within `window_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoopRule {
    pub repeats: u32,
    pub window_ms: u64,
    /// Stop the run (else only raise the alert).
    pub stop: bool,
}

/// Why a run was halted or flagged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Cap {
    Turns,
    WallTime,
    Loop,
    /// A one-time budget passed its expiry.
    Expired,
}

impl Cap {
    pub fn name(self) -> &'static str {
        match self {
            Cap::Turns => "turns",
            Cap::WallTime => "wall_time",
            Cap::Loop => "loop",
            Cap::Expired => "expired",
        }
    }
}

/// A cap in force on an account: a stop (or, for a loop that only alerts, a warning) until a new
/// run starts or the rules change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    pub cap: Cap,
    pub stops: bool,
    pub detail: Arc<str>,
    pub at_ms: u64,
}

impl Halt {
    /// The least level the halt holds the account at.
    pub fn floor(&self) -> Level {
        if self.stops {
            Level::Black
        } else {
            Level::Yellow
        }
    }
}

/// One report of a run, as loop detection compares it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    pub operation: Option<Arc<str>>,
    pub usage: Amounts,
    pub at_ms: u64,
}

impl Turn {
    /// Same operation, same dimensions, every amount within [`LOOP_SIMILARITY_PPM`].
    pub fn near(&self, other: &Turn) -> bool {
        if self.operation != other.operation || self.usage.len() != other.usage.len() {
            return false;
        }
        self.usage.iter().all(|(dim, value)| {
            other.usage.get(dim).is_some_and(|theirs| {
                let (low, high) = (value.min(theirs), value.max(theirs));
                u128::from(high - low) * 1_000_000
                    <= u128::from(high) * u128::from(LOOP_SIMILARITY_PPM)
            })
        })
    }
}

/// The current run of an account with run caps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub started_ms: u64,
    pub turns: u64,
    /// The latest turns, at most the loop rule's `repeats`, oldest first.
    pub recent: std::collections::VecDeque<Turn>,
}

/// An agent's or operator's request for more budget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncreaseRequest {
    pub account: crate::account::AccountId,
    pub amount: Amounts,
    pub reason: Arc<str>,
    pub idempotency_key: Option<Arc<str>>,
    pub at_ms: u64,
    pub decision: Option<Decision>,
}

/// An operator's answer to an increase request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub approved: bool,
    pub note: Arc<str>,
    pub at_ms: u64,
}

/// Rules as an operator sets them: child defaults still named.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RulesSpec {
    pub warn_only: WarnOnly,
    pub child_defaults: Option<NamedAmounts>,
    pub expires_ms: Option<u64>,
    pub pause_at_stop: bool,
    pub run: Option<RunCaps>,
}

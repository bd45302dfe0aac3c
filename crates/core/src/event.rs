//! Events: the facts the journal keeps. The ledger is a fold over them.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::account::{AccountConfig, AccountId};
use crate::amount::{Amounts, DimId};
use crate::level::Level;
use crate::path::AccountPath;
use crate::rules::{Cap, Rules};

/// One fact. Each has a sequence number: its place in the journal, counted from 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// A custom dimension got the next id.
    DimensionAdded {
        name: Arc<str>,
    },
    /// An account got the next id.
    AccountOpened {
        path: AccountPath,
        /// Boxed: every event is as large as its largest kind (encoded the same).
        config: Box<AccountConfig>,
        limits: Amounts,
        at_ms: u64,
    },
    /// An account's settings were replaced and the given limits set.
    AccountUpdated {
        account: AccountId,
        config: Box<AccountConfig>,
        limits: Amounts,
        at_ms: u64,
    },
    /// A leaf account was closed; its limit went back to its parent's pool.
    AccountClosed {
        account: AccountId,
        at_ms: u64,
    },
    UsageRecorded {
        account: AccountId,
        usage: Amounts,
        work_units: u64,
        operation: Option<Arc<str>>,
        idempotency_key: Option<Arc<str>>,
        at_ms: u64,
    },
    /// A hold; its id is this event's sequence number.
    ReservationOpened {
        account: AccountId,
        amount: Amounts,
        expires_ms: u64,
        idempotency_key: Option<Arc<str>>,
        at_ms: u64,
    },
    /// The hold was released and the actual usage charged.
    ReservationSettled {
        reservation: u64,
        usage: Amounts,
        work_units: u64,
        operation: Option<Arc<str>>,
        at_ms: u64,
    },
    ReservationVoided {
        reservation: u64,
        at_ms: u64,
    },
    ReservationExpired {
        reservation: u64,
        at_ms: u64,
    },
    /// A forecast saw the account reaching its stop threshold in `dimension` within the lead
    /// time, with confidence: the account stays at least at `warn` until the alert is cleared.
    AlertRaised {
        account: AccountId,
        dimension: DimId,
        /// The forecast behind the alert, kept for the audit log.
        method: Arc<str>,
        projected_total: u64,
        /// When the stop threshold is forecast to be reached.
        exhausts_at_ms: u64,
        confidence_ppm: u32,
        at_ms: u64,
    },
    /// The forecast no longer sees the exhaustion coming (or the account was raised).
    AlertCleared {
        account: AccountId,
        dimension: DimId,
        at_ms: u64,
    },
    /// The optimizer moved part of a limit between a child and its parent's pool.
    Reallocated {
        account: AccountId,
        dimension: DimId,
        from: u64,
        to: u64,
        kind: ReallocationKind,
        /// Why, with the figures behind it, for people.
        reason: Arc<str>,
        at_ms: u64,
    },
    /// A budget period ended: the account's (and its subtree's) consumption window restarts,
    /// with the new limits (rollover included).
    PeriodRenewed {
        account: AccountId,
        start_ms: u64,
        end_ms: u64,
        limits: Amounts,
        at_ms: u64,
    },
    /// An account's own level moved. Derived from the events before it: replay checks it.
    LevelChanged {
        account: AccountId,
        from: Level,
        to: Level,
        dimension: Option<DimId>,
        at_ms: u64,
    },
    /// The account's rules were replaced (`crate::rules`); empty rules remove them.
    RulesSet {
        account: AccountId,
        rules: Box<Rules>,
        at_ms: u64,
    },
    /// An operator restarted the account's budget window: what it (and its subtree, where it
    /// does not renew on its own) spent so far no longer counts against its limits.
    UsageReset {
        account: AccountId,
        at_ms: u64,
    },
    /// The clock found a run past its wall time, or a one-time budget expired: the account is
    /// halted at stop.
    CapReached {
        account: AccountId,
        cap: Cap,
        stops: bool,
        detail: Arc<str>,
        at_ms: u64,
    },
    /// A report reached the run's turn cap or completed a loop. Derived from the report before
    /// it, like `LevelChanged`: replay checks it.
    RunFlagged {
        account: AccountId,
        cap: Cap,
        stops: bool,
        detail: Arc<str>,
        at_ms: u64,
    },
    /// A new run began: turns and wall time count from here, and a run cap's halt is lifted.
    RunStarted {
        account: AccountId,
        at_ms: u64,
    },
    /// A request for more budget; its id is this event's sequence number.
    IncreaseRequested {
        account: AccountId,
        amount: Amounts,
        reason: Arc<str>,
        /// A retry with the same key on the same account finds this request.
        idempotency_key: Option<Arc<str>>,
        at_ms: u64,
    },
    /// An operator decided a request; an approval sets `limits` (the old plus the request),
    /// taken from the parent's pool.
    IncreaseDecided {
        request: u64,
        approved: bool,
        limits: Amounts,
        note: Arc<str>,
        at_ms: u64,
    },
}

impl Event {
    /// Events the fold derives from the one before (journaled after it, checked on replay).
    pub fn is_derived(&self) -> bool {
        matches!(self, Event::LevelChanged { .. } | Event::RunFlagged { .. })
    }

    pub fn at_ms(&self) -> Option<u64> {
        match self {
            Event::DimensionAdded { .. } => None,
            Event::AccountOpened { at_ms, .. }
            | Event::AccountUpdated { at_ms, .. }
            | Event::AccountClosed { at_ms, .. }
            | Event::UsageRecorded { at_ms, .. }
            | Event::ReservationOpened { at_ms, .. }
            | Event::ReservationSettled { at_ms, .. }
            | Event::ReservationVoided { at_ms, .. }
            | Event::ReservationExpired { at_ms, .. }
            | Event::AlertRaised { at_ms, .. }
            | Event::AlertCleared { at_ms, .. }
            | Event::Reallocated { at_ms, .. }
            | Event::PeriodRenewed { at_ms, .. }
            | Event::LevelChanged { at_ms, .. }
            | Event::RulesSet { at_ms, .. }
            | Event::UsageReset { at_ms, .. }
            | Event::CapReached { at_ms, .. }
            | Event::RunFlagged { at_ms, .. }
            | Event::RunStarted { at_ms, .. }
            | Event::IncreaseRequested { at_ms, .. }
            | Event::IncreaseDecided { at_ms, .. } => Some(*at_ms),
        }
    }
}

/// Which way the optimizer moved budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReallocationKind {
    /// From an idle child back to its parent's pool.
    Reclaim,
    /// From the parent's pool to a child forecast to run out.
    Grant,
}

impl ReallocationKind {
    pub fn name(self) -> &'static str {
        match self {
            ReallocationKind::Reclaim => "reclaim",
            ReallocationKind::Grant => "grant",
        }
    }
}

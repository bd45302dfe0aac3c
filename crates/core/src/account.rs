//! Accounts: nodes of the budget tree, with per-dimension figures.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::amount::DimId;
use crate::level::{Level, Thresholds};
use crate::path::AccountPath;

/// An account, interned: an index into the ledger's arena. Ids are never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountId(pub u32);

/// What an operator sets on an account, apart from its limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountConfig {
    pub weight: f64,
    pub priority: i32,
    pub kind: Option<Arc<str>>,
    pub labels: BTreeMap<String, String>,
    pub thresholds: Thresholds,
    pub throttle_rate_ppm: u32,
    /// The part of this account's limit kept back from its children.
    pub reserve_ppm: u32,
    /// Renews the limits on a calendar period.
    pub period: Option<PeriodSpec>,
    /// A deadline for the account's run: the forecast horizon when there is no period.
    pub deadline_ms: Option<u64>,
    /// How the optimizer treats this account's children; `None`: the server's policy.
    pub optimizer: Option<OptimizerPolicy>,
}

impl Default for AccountConfig {
    fn default() -> Self {
        AccountConfig {
            weight: 1.0,
            priority: 0,
            kind: None,
            labels: BTreeMap::new(),
            thresholds: Thresholds::default(),
            throttle_rate_ppm: 500_000,
            reserve_ppm: 100_000,
            period: None,
            deadline_ms: None,
            optimizer: None,
        }
    }
}

/// How a parent's children are rebalanced. Every figure is configurable per parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptimizerPolicy {
    /// A child is idle below this share of its limit used...
    pub idle_used_max_ppm: u32,
    /// ...and with no activity for this long.
    pub idle_after_ms: u64,
    /// The share of an idle child's remaining limit given back to the pool.
    pub reclaim_share_ppm: u32,
    /// A child above this share used, forecast past its limit, may receive a grant.
    pub grant_above_ppm: u32,
    /// The fairness floor: no reclaim takes a child below this share of an equal split.
    pub min_share_ppm: u32,
    /// The monopoly cap: no grant takes a child above this share of the parent's limit.
    pub max_share_ppm: Option<u32>,
    /// A grant needs a forecast at least this confident (the share of its backtested
    /// predictions that landed within 10 %), or one whose 80% interval lies wholly above the
    /// limit...
    pub grant_confidence_ppm: u32,
    /// ...resting on at least this many backtested predictions.
    pub grant_backtests_min: u32,
    /// One pass grants at most this share of what a parent's pool holds beyond its reserve.
    pub grant_pass_share_ppm: u32,
    /// One grant adds at most this share of the child's limit.
    pub grant_growth_max_ppm: u32,
}

impl Default for OptimizerPolicy {
    fn default() -> Self {
        OptimizerPolicy {
            idle_used_max_ppm: 250_000,
            idle_after_ms: 60_000,
            reclaim_share_ppm: 500_000,
            grant_above_ppm: 800_000,
            min_share_ppm: 50_000,
            max_share_ppm: None,
            grant_confidence_ppm: 850_000,
            grant_backtests_min: 5,
            grant_pass_share_ppm: 500_000,
            grant_growth_max_ppm: 1_000_000,
        }
    }
}

/// The figures of one account in one dimension.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub dim: DimId,
    /// `None`: this dimension is counted here but not limited.
    pub limit: Option<u64>,
    /// Spent here and below.
    pub consumed: u64,
    /// Held by open reservations here and below.
    pub reserved: u64,
    /// The sum of the children's limits in this dimension.
    pub children_limits: u64,
    /// `consumed` when the current budget period began (0 without periods): what was spent
    /// before stays in `consumed` but no longer counts against the limit.
    pub period_base: u64,
}

impl Slot {
    /// Spent here and below in the current period.
    pub fn period_consumed(&self) -> u64 {
        self.consumed.saturating_sub(self.period_base)
    }

    /// Spent in the period plus held: what counts against the limit.
    pub fn used(&self) -> u64 {
        self.period_consumed().saturating_add(self.reserved)
    }

    /// What is left of the limit; never below zero.
    pub fn remaining(&self) -> Option<u64> {
        self.limit.map(|limit| limit.saturating_sub(self.used()))
    }

    /// The limit beyond the children's limits.
    pub fn pool(&self) -> Option<u64> {
        self.limit
            .map(|limit| limit.saturating_sub(self.children_limits))
    }
}

/// Dimensions an account keeps inline: budgets limit one to three.
pub const SLOTS_INLINE: usize = 2;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub path: AccountPath,
    pub parent: Option<AccountId>,
    /// Open children by name, in name order.
    pub children: BTreeMap<Arc<str>, AccountId>,
    pub config: AccountConfig,
    /// Sorted by dimension; the first [`SLOTS_INLINE`] inline, beside the account's other hot
    /// figures (one cache miss less per account a report charges).
    pub slots: SmallVec<[Slot; SLOTS_INLINE]>,
    /// The level of this account's own figures (not its ancestors'), with hysteresis.
    pub level: Level,
    /// The dimension that set `level`; `None` at green.
    pub level_dim: Option<DimId>,
    pub last_activity_ms: Option<u64>,
    /// The sequence number of the last event that changed this account.
    pub seq: u64,
    pub open_reservations: u32,
    pub work_units: u64,
    pub closed: bool,
    /// When the account was opened.
    pub opened_ms: u64,
    /// A forecast alert in force: the level stays at least yellow while it holds.
    pub alert: Option<Alert>,
    /// Since when the account has been at its current level.
    pub level_since_ms: u64,
    /// Time spent at each level before the current one, indexed by `Level as usize`.
    pub level_time_ms: [u64; 5],
    /// When the optimizer last reclaimed part of this account's limit.
    pub last_reclaim_ms: Option<u64>,
    /// The budget period in force, if the account renews.
    pub period: Option<Box<PeriodState>>,
    /// Consumption moved since the watch last sampled (derived, never kept).
    #[serde(skip)]
    pub touched: bool,
}

/// A forecast alert on an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub dim: DimId,
    pub exhausts_at_ms: u64,
    pub raised_ms: u64,
}

/// How often a budget period renews.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeriodUnit {
    Hour,
    Day,
    Week,
    Month,
    /// Quarters of a fiscal year that starts on the first of `fiscal_start_month` (1-12).
    Quarter {
        fiscal_start_month: u8,
    },
    /// One window from the first period on: never renews (a manual reset restarts it).
    Lifetime,
}

impl PeriodUnit {
    pub fn name(self) -> &'static str {
        match self {
            PeriodUnit::Hour => "hour",
            PeriodUnit::Day => "day",
            PeriodUnit::Week => "week",
            PeriodUnit::Month => "month",
            PeriodUnit::Quarter { .. } => "quarter",
            PeriodUnit::Lifetime => "lifetime",
        }
    }

    /// A unit by name; a quarter starts its fiscal year in January unless set otherwise.
    pub fn parse(name: &str) -> Option<PeriodUnit> {
        match name {
            "hour" => Some(PeriodUnit::Hour),
            "day" => Some(PeriodUnit::Day),
            "week" => Some(PeriodUnit::Week),
            "month" => Some(PeriodUnit::Month),
            "quarter" => Some(PeriodUnit::Quarter {
                fiscal_start_month: 1,
            }),
            "lifetime" => Some(PeriodUnit::Lifetime),
            _ => None,
        }
    }
}

/// A renewing budget: the calendar unit, the time zone it is aligned in (resolved by the shell,
/// which computes the period bounds), and how much unspent limit rolls over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodSpec {
    pub every: PeriodUnit,
    pub timezone: Arc<str>,
    /// Unspent limit carried into the next period, at most this share of the base limit.
    pub rollover_max_ppm: u32,
}

/// The current period of a renewing account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeriodState {
    pub spec: PeriodSpec,
    pub start_ms: u64,
    pub end_ms: u64,
    /// The limits set by operators, before any rollover.
    pub base_limits: crate::amount::Amounts,
}

impl Account {
    pub fn new(path: AccountPath, parent: Option<AccountId>, config: AccountConfig) -> Account {
        Account {
            path,
            parent,
            children: BTreeMap::new(),
            config,
            slots: SmallVec::new(),
            level: Level::Green,
            level_dim: None,
            last_activity_ms: None,
            seq: 0,
            open_reservations: 0,
            work_units: 0,
            closed: false,
            opened_ms: 0,
            alert: None,
            level_since_ms: 0,
            level_time_ms: [0; 5],
            last_reclaim_ms: None,
            period: None,
            touched: false,
        }
    }

    pub fn slot(&self, dim: DimId) -> Option<&Slot> {
        self.slots
            .binary_search_by_key(&dim, |slot| slot.dim)
            .ok()
            .map(|idx| &self.slots[idx])
    }

    /// The slot of `dim`, made if missing.
    pub fn slot_mut(&mut self, dim: DimId) -> &mut Slot {
        let idx = match self.slots.binary_search_by_key(&dim, |slot| slot.dim) {
            Ok(idx) => idx,
            Err(idx) => {
                self.slots.insert(
                    idx,
                    Slot {
                        dim,
                        ..Slot::default()
                    },
                );
                idx
            }
        };
        &mut self.slots[idx]
    }

    pub fn limit(&self, dim: DimId) -> Option<u64> {
        self.slot(dim).and_then(|slot| slot.limit)
    }

    /// The limits set, in dimension order.
    pub fn limits(&self) -> crate::amount::Amounts {
        crate::amount::Amounts::from_pairs(
            self.slots
                .iter()
                .filter_map(|slot| slot.limit.map(|limit| (slot.dim, limit)))
                .collect::<Vec<_>>(),
        )
    }

    /// The worst fraction over the limited dimensions, with its dimension.
    pub fn worst_fraction(&self) -> Option<(DimId, f64)> {
        self.slots
            .iter()
            .filter_map(|slot| {
                slot.limit
                    .map(|limit| (slot.dim, crate::level::fraction(slot.used(), limit)))
            })
            .fold(None, |best, (dim, fraction)| match best {
                Some((_, best_fraction)) if best_fraction >= fraction => best,
                _ => Some((dim, fraction)),
            })
    }

    /// Moves `level` by the figures, with hysteresis, to at least `floor` (a halt's). Answers
    /// whether it changed.
    pub fn refresh_level(&mut self, floor: Level) -> bool {
        let thresholds = self.config.thresholds;
        let mut next = Level::Green;
        let mut next_dim = None;
        let mut next_fraction = -1.0;
        for slot in &self.slots {
            let Some(limit) = slot.limit else { continue };
            let level = thresholds.next_level(self.level, slot.used(), limit);
            let fraction = crate::level::fraction(slot.used(), limit);
            if level > next || (level == next && level > Level::Green && fraction > next_fraction) {
                next = level;
                next_dim = Some(slot.dim);
                next_fraction = fraction;
            }
        }
        // A forecast alert keeps the account at warn or above.
        if let Some(alert) = self.alert
            && next < Level::Yellow
        {
            next = Level::Yellow;
            next_dim = Some(alert.dim);
        }
        if floor > next {
            next = floor;
        }
        let changed = next != self.level;
        self.level = next;
        self.level_dim = next_dim;
        changed
    }
}

//! Accounts on the wire: `PUT /v1/accounts/{path}`, `:allocate`, and the status of an account.

use std::collections::BTreeMap;

use purser_core::{AccountSpec, AllocateRequest, ChildRequest, Strategy};
use purser_engine::view::account::{AccountView, AllocationView, ManagedView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ActionOut, AmountMap, AmountsIn, FiredOut, UniqueMap, WireError, named, rfc3339, verdict_out,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdsIn {
    pub warn: Option<f64>,
    pub throttle: Option<f64>,
    pub degrade: Option<f64>,
    pub stop: Option<f64>,
}

/// `PUT /v1/accounts/{path}`: every field optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountIn {
    #[schema(value_type = Option<super::schemas::AmountsIn>)]
    pub limits: Option<AmountsIn>,
    pub weight: Option<f64>,
    pub priority: Option<i32>,
    pub kind: Option<String>,
    #[schema(value_type = Option<super::schemas::Labels>)]
    pub labels: Option<UniqueMap<String>>,
    pub thresholds: Option<ThresholdsIn>,
    pub throttle_rate: Option<f64>,
    pub reserve: Option<f64>,
    /// Renew the limits on a calendar period.
    pub period: Option<PeriodIn>,
    /// The end of the account's run (RFC 3339): the forecast horizon when it has no period.
    pub deadline: Option<String>,
    /// Shadow mode, defaults for new children, a one-time expiry, pause at stop, run caps.
    pub rules: Option<super::rules::RulesIn>,
    /// Required when `period.every` (or its time zone) changes: `true` keeps what the current
    /// window spent until it ends, `false` resets it now.
    pub keep_usage: Option<bool>,
}

/// A budget period: `{"every": "month", "timezone": "Europe/Berlin", "rollover_max": 0.10}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PeriodIn {
    /// `hour`, `day`, `week` (from Monday), `month`, `quarter` or `lifetime` (never renews).
    pub every: String,
    /// For `quarter`: the month (1-12) the fiscal year starts in (default 1).
    pub fiscal_start_month: Option<u8>,
    /// An IANA time zone (default `UTC`).
    pub timezone: Option<String>,
    /// The unspent part of the limit carried into the next period, at most this share of the
    /// limit (default 0).
    pub rollover_max: Option<f64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChildIn {
    pub name: String,
    pub weight: Option<f64>,
    pub priority: Option<i32>,
    /// For `fair_share`: what this child needs, per dimension.
    #[schema(value_type = Option<super::schemas::AmountsIn>)]
    pub demand: Option<AmountsIn>,
}

/// `POST /v1/accounts/{path}:allocate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocateIn {
    /// One of `equal proportional priority pool fair_share`.
    pub strategy: String,
    #[schema(value_type = Option<super::schemas::AmountsIn>)]
    pub total: Option<AmountsIn>,
    pub children: Vec<ChildIn>,
    pub min_share: Option<f64>,
    pub max_share: Option<f64>,
    /// For `pool`: the fraction of an equal share each child starts with (default 0.25).
    pub initial_share: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ThresholdsOut {
    pub warn: f64,
    pub throttle: f64,
    pub degrade: f64,
    pub stop: f64,
}

/// An account's status, the same shape everywhere an account is shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountOut {
    pub path: String,
    pub kind: Option<String>,
    #[schema(value_type = super::schemas::Amounts)]
    pub limits: AmountMap,
    #[schema(value_type = super::schemas::Amounts)]
    pub consumed: AmountMap,
    #[schema(value_type = super::schemas::Amounts)]
    pub reserved: AmountMap,
    #[schema(value_type = super::schemas::Amounts)]
    pub remaining: AmountMap,
    #[schema(value_type = super::schemas::Amounts)]
    pub pool: AmountMap,
    pub fraction: f64,
    /// One of `green yellow orange red black`.
    pub level: String,
    pub action: ActionOut,
    pub fired: Option<FiredOut>,
    pub children: Vec<String>,
    pub last_activity_at: Option<String>,
    pub seq: u64,
    pub weight: f64,
    pub priority: i32,
    #[schema(value_type = super::schemas::Labels)]
    pub labels: BTreeMap<String, String>,
    pub thresholds: ThresholdsOut,
    pub throttle_rate: f64,
    pub reserve: f64,
    pub open_reservations: u32,
    pub work_units: u64,
    /// The current budget period: its unit and when it renews (no `renews_at` for a lifetime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<PeriodOut>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<super::rules::RulesOut>,
    /// A cap in force: a run cap, a loop or an expired one-time budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halt: Option<super::rules::HaltOut>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PeriodOut {
    pub every: String,
    pub renews_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountsOut {
    pub accounts: Vec<AccountOut>,
}

/// `GET /v1/me`: the calling token and its accounts' status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MeOut {
    /// The token's `name` (`anonymous` without tokens).
    pub name: String,
    /// `admin`, `operator` or `agent`.
    pub role: String,
    /// The account path prefix it may touch; empty for every account.
    pub scope: String,
    /// Its scope's account and that account's children; every top-level account without a scope.
    pub accounts: Vec<AccountOut>,
}

/// The answer to closing an account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClosedOut {
    pub path: String,
    pub closed: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AllocationOut {
    pub path: String,
    #[schema(value_type = super::schemas::Amounts)]
    pub limits: AmountMap,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AllocateOut {
    pub allocations: Vec<AllocationOut>,
    #[schema(value_type = super::schemas::Amounts)]
    pub pool: AmountMap,
}

impl AccountIn {
    pub fn into_spec(self) -> Result<AccountSpec, WireError> {
        let period = self.period.map(PeriodIn::into_spec).transpose()?;
        let deadline_ms = self
            .deadline
            .as_deref()
            .map(|text| super::rules::time_ms(text, "deadline"))
            .transpose()?;
        let thresholds = self.thresholds.unwrap_or(ThresholdsIn {
            warn: None,
            throttle: None,
            degrade: None,
            stop: None,
        });
        Ok(AccountSpec {
            limits: self.limits.map(named),
            weight: self.weight,
            priority: self.priority,
            kind: self.kind,
            labels: self.labels.map(|labels| labels.0),
            warn: thresholds.warn,
            throttle: thresholds.throttle,
            degrade: thresholds.degrade,
            stop: thresholds.stop,
            throttle_rate: self.throttle_rate,
            reserve: self.reserve,
            period,
            deadline_ms,
            rules: self
                .rules
                .map(|rules| rules.into_spec().map(Box::new))
                .transpose()?,
            keep_usage: self.keep_usage,
            period_bounds: None,
        })
    }
}

impl PeriodIn {
    pub fn into_spec(self) -> Result<purser_core::account::PeriodSpec, WireError> {
        let every = purser_core::account::PeriodUnit::parse(&self.every).ok_or_else(|| {
            WireError::invalid(
                "invalid_field",
                "period.every",
                format!(
                    "period.every must be hour, day, week, month, quarter or lifetime, not {:?}",
                    self.every
                ),
            )
        })?;
        let every = match (every, self.fiscal_start_month) {
            (purser_core::account::PeriodUnit::Quarter { .. }, Some(month)) => {
                purser_engine::periods::check_fiscal_month(month).map_err(|message| {
                    WireError::invalid("invalid_field", "period.fiscal_start_month", message)
                })?;
                purser_core::account::PeriodUnit::Quarter {
                    fiscal_start_month: month,
                }
            }
            (_, Some(_)) => {
                return Err(WireError::invalid(
                    "invalid_field",
                    "period.fiscal_start_month",
                    "period.fiscal_start_month is for every = quarter",
                ));
            }
            (every, None) => every,
        };
        let timezone = self.timezone.unwrap_or_else(|| "UTC".to_string());
        purser_engine::periods::check_timezone(&timezone)
            .map_err(|message| WireError::invalid("invalid_field", "period.timezone", message))?;
        let rollover_max = self.rollover_max.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&rollover_max) {
            return Err(WireError::invalid(
                "invalid_field",
                "period.rollover_max",
                format!("period.rollover_max must be between 0 and 1, not {rollover_max}"),
            ));
        }
        Ok(purser_core::account::PeriodSpec {
            every,
            timezone: timezone.into(),
            rollover_max_ppm: (rollover_max * 1e6).round() as u32,
        })
    }
}

impl AllocateIn {
    pub fn into_request(self) -> Result<AllocateRequest, WireError> {
        let strategy = Strategy::parse(&self.strategy).ok_or_else(|| {
            WireError::invalid(
                "invalid_field",
                "strategy",
                format!(
                    "strategy {:?} is not one of equal proportional priority pool fair_share",
                    self.strategy
                ),
            )
        })?;
        Ok(AllocateRequest {
            strategy,
            total: self.total.map(named),
            children: self
                .children
                .into_iter()
                .map(|child| ChildRequest {
                    name: child.name,
                    weight: child.weight,
                    priority: child.priority,
                    demand: child.demand.map(named),
                })
                .collect(),
            min_share: self.min_share,
            max_share: self.max_share,
            initial_share: self.initial_share,
        })
    }
}

fn ppm(value: u32) -> f64 {
    f64::from(value) / 1_000_000.0
}

impl From<AccountView> for AccountOut {
    fn from(view: AccountView) -> AccountOut {
        let (level, action, fired) = verdict_out(view.verdict);
        let thresholds = view.thresholds;
        AccountOut {
            path: view.path,
            kind: view.kind,
            limits: view.limits,
            consumed: view.consumed,
            reserved: view.reserved,
            remaining: view.remaining,
            pool: view.pool,
            fraction: view.fraction,
            level,
            action,
            fired,
            children: view.children,
            last_activity_at: view.last_activity_ms.map(rfc3339),
            seq: view.seq,
            weight: view.weight,
            priority: view.priority,
            labels: view.labels,
            thresholds: ThresholdsOut {
                warn: ppm(thresholds.warn_ppm),
                throttle: ppm(thresholds.throttle_ppm),
                degrade: ppm(thresholds.degrade_ppm),
                stop: ppm(thresholds.stop_ppm),
            },
            throttle_rate: ppm(view.throttle_rate_ppm),
            reserve: ppm(view.reserve_ppm),
            open_reservations: view.open_reservations,
            work_units: view.work_units,
            period: view.period.map(|(every, end_ms)| PeriodOut {
                every: every.to_string(),
                renews_at: (end_ms != u64::MAX).then(|| rfc3339(end_ms)),
            }),
            rules: view
                .rules
                .map(|rules| super::rules::RulesOut::of(rules, view.run)),
            halt: view.halt.map(Into::into),
        }
    }
}

impl From<AllocationView> for AllocateOut {
    fn from(view: AllocationView) -> AllocateOut {
        AllocateOut {
            allocations: view
                .allocations
                .into_iter()
                .map(|(path, limits)| AllocationOut { path, limits })
                .collect(),
            pool: view.pool,
        }
    }
}

/// The answer to an operator's command: an account, a closing or an allocation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ManagedOut {
    Account(Box<AccountOut>),
    Closed(ClosedOut),
    Allocated(AllocateOut),
    Request(super::rules::RequestOut),
}

impl From<ManagedView> for ManagedOut {
    fn from(view: ManagedView) -> ManagedOut {
        match view {
            ManagedView::Account(account) => ManagedOut::Account(Box::new((*account).into())),
            ManagedView::Closed { path } => ManagedOut::Closed(ClosedOut { path, closed: true }),
            ManagedView::Allocated(allocation) => ManagedOut::Allocated(allocation.into()),
            ManagedView::Request(request) => ManagedOut::Request((*request).into()),
        }
    }
}

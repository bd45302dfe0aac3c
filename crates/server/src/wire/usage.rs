//! Usage and holds on the wire: `POST /v1/usage`, `:batch`, `/v1/reservations` and their
//! answers.

use purser_core::{ReserveRequest, SettleRequest, UsageReport};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use purser_engine::view::account::{ReservationView, TightestView, UsageView};

use super::{
    ActionOut, AmountMap, AmountsIn, ErrorBody, FiredOut, WireError, account_path, named, rfc3339,
    verdict_out,
};

/// `POST /v1/usage`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageIn {
    pub account: String,
    #[schema(value_type = super::schemas::SpendIn)]
    pub usage: AmountsIn,
    pub operation: Option<String>,
    pub work_units: Option<u64>,
    pub idempotency_key: Option<String>,
    /// RFC 3339; checked, not yet used by the ledger (it counts usage when it is reported).
    pub occurred_at: Option<String>,
}

/// `POST /v1/usage:batch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageBatchIn<'a> {
    #[serde(borrow)]
    #[schema(value_type = Vec<UsageIn>)]
    pub reports: Vec<&'a serde_json::value::RawValue>,
}

/// `POST /v1/reservations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveIn {
    pub account: String,
    #[schema(value_type = super::schemas::SpendIn)]
    pub amount: AmountsIn,
    pub ttl_ms: Option<u64>,
    pub idempotency_key: Option<String>,
}

/// `POST /v1/reservations/{id}:settle`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleIn {
    #[serde(default)]
    #[schema(value_type = super::schemas::SpendIn)]
    pub usage: AmountsIn,
    pub operation: Option<String>,
    pub work_units: Option<u64>,
}

/// Per dimension limited on the account's path: the account with the least left before its
/// limit, and how much (the least is `remaining`'s figure).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TightestOut {
    pub dimension: String,
    pub account: String,
    pub remaining: u64,
}

impl From<TightestView> for TightestOut {
    fn from(view: TightestView) -> TightestOut {
        TightestOut {
            dimension: view.dimension,
            account: view.account,
            remaining: view.remaining,
        }
    }
}

/// The answer to a usage report or a settlement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageOut {
    pub seq: u64,
    pub duplicate: bool,
    pub level: String,
    pub action: ActionOut,
    pub fired: Option<FiredOut>,
    #[schema(value_type = super::schemas::Amounts)]
    pub remaining: AmountMap,
    /// Where on the path each dimension has least left (single reports, holds and
    /// settlements; not the items of a batch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tightest: Vec<TightestOut>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expired: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReservationOut {
    pub id: String,
    pub expires_at: String,
    pub level: String,
    pub action: ActionOut,
    pub fired: Option<FiredOut>,
    pub duplicate: bool,
    /// After the hold: where on the path each dimension has least left.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tightest: Vec<TightestOut>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VoidOut {
    pub id: String,
    pub state: String,
}

/// One item of a batch answer: a usage answer or an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum BatchItemOut {
    Usage(UsageOut),
    Error(ErrorBody),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageBatchOut {
    pub results: Vec<BatchItemOut>,
}

impl UsageIn {
    pub fn into_report(self) -> Result<UsageReport, WireError> {
        if let Some(at) = &self.occurred_at {
            humantime::parse_rfc3339_weak(at).map_err(|err| {
                WireError::invalid(
                    "invalid_field",
                    "occurred_at",
                    format!("occurred_at must be an RFC 3339 time: {err}"),
                )
            })?;
        }
        Ok(UsageReport {
            account_id: None,
            account: account_path(&self.account, "account")?,
            usage: named(self.usage).into(),
            operation: self.operation,
            work_units: self.work_units.unwrap_or(0),
            idempotency_key: self.idempotency_key,
        })
    }
}

impl ReserveIn {
    pub fn into_request(self) -> Result<ReserveRequest, WireError> {
        Ok(ReserveRequest {
            account: account_path(&self.account, "account")?,
            amount: named(self.amount),
            ttl_ms: self.ttl_ms,
            idempotency_key: self.idempotency_key,
        })
    }
}

impl SettleIn {
    pub fn into_request(self, reservation: u64) -> SettleRequest {
        SettleRequest {
            reservation,
            usage: named(self.usage),
            operation: self.operation,
            work_units: self.work_units.unwrap_or(0),
        }
    }
}

impl From<UsageView> for UsageOut {
    fn from(view: UsageView) -> UsageOut {
        let (level, action, fired) = verdict_out(view.verdict);
        UsageOut {
            seq: view.seq,
            duplicate: view.duplicate,
            level,
            action,
            fired,
            remaining: view.remaining,
            tightest: view.tightest.into_iter().map(TightestOut::from).collect(),
            expired: view.expired,
        }
    }
}

impl From<ReservationView> for ReservationOut {
    fn from(view: ReservationView) -> ReservationOut {
        let (level, action, fired) = verdict_out(view.verdict);
        ReservationOut {
            id: reservation_name(view.id),
            expires_at: rfc3339(view.expires_ms),
            level,
            action,
            fired,
            duplicate: view.duplicate,
            tightest: view.tightest.into_iter().map(TightestOut::from).collect(),
        }
    }
}

impl VoidOut {
    pub fn of(reservation: u64) -> VoidOut {
        VoidOut {
            id: reservation_name(reservation),
            state: "void".to_string(),
        }
    }
}

/// `rsv_N`, a reservation's id on the wire.
pub fn reservation_name(id: u64) -> String {
    format!("rsv_{id}")
}

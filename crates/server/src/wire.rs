//! Wire types: what the API reads and writes, and their conversion to and from the core's types.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use purser_core::{
    AccountPath, AccountSpec, AllocateRequest, ChildRequest, NamedAmounts, ReserveRequest,
    SettleRequest, Strategy, UsageReport,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

/// Amounts: dimension name to a non-negative integer.
pub type AmountMap = BTreeMap<String, u64>;

/// A JSON object read into a map that refuses a key given twice (serde's maps keep the last,
/// and a typo must not pass silently).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UniqueMap<V>(pub BTreeMap<String, V>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<V> {
            type Value = UniqueMap<V>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<Self::Value, A::Error> {
                let mut map = BTreeMap::new();
                while let Some(key) = access.next_key::<String>()? {
                    if map.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
                    }
                    let value = access.next_value()?;
                    map.insert(key, value);
                }
                Ok(UniqueMap(map))
            }
        }
        deserializer.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// Amounts as a request carries them.
pub type AmountsIn = UniqueMap<u64>;

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
    #[schema(value_type = Option<crate::schemas::AmountsIn>)]
    pub limits: Option<AmountsIn>,
    pub weight: Option<f64>,
    pub priority: Option<i32>,
    pub kind: Option<String>,
    #[schema(value_type = Option<crate::schemas::Labels>)]
    pub labels: Option<UniqueMap<String>>,
    pub thresholds: Option<ThresholdsIn>,
    pub throttle_rate: Option<f64>,
    pub reserve: Option<f64>,
    /// Renew the limits on a calendar period.
    pub period: Option<PeriodIn>,
    /// The end of the account's run (RFC 3339): the forecast horizon when it has no period.
    pub deadline: Option<String>,
}

/// A budget period: `{"every": "month", "timezone": "Europe/Berlin", "rollover_max": 0.10}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PeriodIn {
    /// `hour`, `day`, `week` (from Monday) or `month`.
    pub every: String,
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
    #[schema(value_type = Option<crate::schemas::AmountsIn>)]
    pub demand: Option<AmountsIn>,
}

/// `POST /v1/accounts/{path}:allocate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocateIn {
    /// One of `equal proportional priority pool fair_share`.
    pub strategy: String,
    #[schema(value_type = Option<crate::schemas::AmountsIn>)]
    pub total: Option<AmountsIn>,
    pub children: Vec<ChildIn>,
    pub min_share: Option<f64>,
    pub max_share: Option<f64>,
    /// For `pool`: the fraction of an equal share each child starts with (default 0.25).
    pub initial_share: Option<f64>,
}

/// `POST /v1/usage`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageIn {
    pub account: String,
    #[schema(value_type = crate::schemas::SpendIn)]
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
    #[schema(value_type = crate::schemas::SpendIn)]
    pub amount: AmountsIn,
    pub ttl_ms: Option<u64>,
    pub idempotency_key: Option<String>,
}

/// `POST /v1/reservations/{id}:settle`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleIn {
    #[serde(default)]
    #[schema(value_type = crate::schemas::SpendIn)]
    pub usage: AmountsIn,
    pub operation: Option<String>,
    pub work_units: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ActionOut {
    /// One of `continue warn throttle degrade stop`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct FiredOut {
    pub account: String,
    pub dimension: String,
    pub fraction: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ThresholdsOut {
    pub warn: f64,
    pub throttle: f64,
    pub degrade: f64,
    pub stop: f64,
}

/// An account's status, the same shape everywhere an account is shown.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AccountOut {
    pub path: String,
    pub kind: Option<String>,
    #[schema(value_type = crate::schemas::Amounts)]
    pub limits: AmountMap,
    #[schema(value_type = crate::schemas::Amounts)]
    pub consumed: AmountMap,
    #[schema(value_type = crate::schemas::Amounts)]
    pub reserved: AmountMap,
    #[schema(value_type = crate::schemas::Amounts)]
    pub remaining: AmountMap,
    #[schema(value_type = crate::schemas::Amounts)]
    pub pool: AmountMap,
    pub fraction: f64,
    /// One of `green yellow orange red black`.
    pub level: &'static str,
    pub action: ActionOut,
    pub fired: Option<FiredOut>,
    pub children: Vec<String>,
    pub last_activity_at: Option<String>,
    pub seq: u64,
    pub weight: f64,
    pub priority: i32,
    #[schema(value_type = crate::schemas::Labels)]
    pub labels: BTreeMap<String, String>,
    pub thresholds: ThresholdsOut,
    pub throttle_rate: f64,
    pub reserve: f64,
    pub open_reservations: u32,
    pub work_units: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AccountsOut {
    pub accounts: Vec<AccountOut>,
}

/// The answer to closing an account.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ClosedOut {
    pub path: String,
    pub closed: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AllocationOut {
    pub path: String,
    #[schema(value_type = crate::schemas::Amounts)]
    pub limits: AmountMap,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AllocateOut {
    pub allocations: Vec<AllocationOut>,
    #[schema(value_type = crate::schemas::Amounts)]
    pub pool: AmountMap,
}

/// The answer to a usage report or a settlement.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct UsageOut {
    pub seq: u64,
    pub duplicate: bool,
    pub level: &'static str,
    pub action: ActionOut,
    pub fired: Option<FiredOut>,
    #[schema(value_type = crate::schemas::Amounts)]
    pub remaining: AmountMap,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub expired: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ReservationOut {
    pub id: String,
    pub expires_at: String,
    pub level: &'static str,
    pub action: ActionOut,
    pub fired: Option<FiredOut>,
    pub duplicate: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct VoidOut {
    pub id: String,
    pub state: &'static str,
}

/// One item of a batch answer: a usage answer or an error.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BatchItemOut {
    Usage(UsageOut),
    Error(crate::error::ErrorBody),
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct UsageBatchOut {
    pub results: Vec<BatchItemOut>,
}

/// Parses a JSON body, naming the field at fault.
pub fn parse<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, ApiError> {
    // Derived structs would also accept an array, field by field; the API takes objects only.
    if body.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(
            400,
            "invalid_json",
            "the body must be a JSON object",
        ));
    }
    parse_whole(body)
}

/// Deserializes `body`, which must hold one JSON value and nothing after it but whitespace.
pub fn parse_whole<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut *deserializer)
        .map_err(|err| json_error(err.path().to_string(), err.inner()))?;
    deserializer.end().map_err(|_| {
        ApiError::new(
            400,
            "invalid_json",
            "the body holds more than one JSON value: bytes follow the object",
        )
    })?;
    Ok(value)
}

/// Maps a serde error at `path` to the API's error: amounts get `invalid_amount`.
pub fn json_error(path: String, inner: &serde_json::Error) -> ApiError {
    let message = inner.to_string();
    let message = match message.find(" at line ") {
        Some(cut) => message[..cut].to_string(),
        None => message,
    };
    let field = if path == "." || path == "?" {
        // A missing field is named in the message only: `missing field `account``.
        match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(missing) => missing.to_string(),
            None => String::new(),
        }
    } else {
        path
    };
    if let Some(key) = message
        .strip_prefix("duplicate key `")
        .and_then(|rest| rest.split('`').next())
    {
        let field = if field.is_empty() {
            key.to_string()
        } else {
            format!("{field}.{key}")
        };
        return ApiError::invalid("duplicate_field", &field, format!("{field} is given twice"));
    }
    if let Some(name) = message
        .strip_prefix("duplicate field `")
        .and_then(|rest| rest.split('`').next())
    {
        let field = if field.is_empty() || field == name {
            name.to_string()
        } else {
            format!("{field}.{name}")
        };
        return ApiError::invalid("duplicate_field", &field, format!("{field} is given twice"));
    }
    let in_amounts = ["usage.", "amount.", "limits.", "total.", ".demand."]
        .iter()
        .any(|part| field.starts_with(part) || field.contains(part));
    let code = if message.starts_with("unknown field") {
        "unknown_field"
    } else if in_amounts {
        "invalid_amount"
    } else if inner.is_syntax() || inner.is_eof() {
        "invalid_json"
    } else {
        "invalid_field"
    };
    let message = if in_amounts && code == "invalid_amount" {
        format!("{field} must be a non-negative integer ({message})")
    } else if field.is_empty() {
        message
    } else {
        format!("{field}: {message}")
    };
    let error = ApiError::new(400, code, message);
    if field.is_empty() {
        error
    } else {
        error.with_field(field)
    }
}

pub fn named(map: AmountsIn) -> NamedAmounts {
    map.0.into_iter().collect()
}

pub fn account_path(text: &str, field: &str) -> Result<AccountPath, ApiError> {
    AccountPath::parse(text).map_err(|message| ApiError::invalid("invalid_path", field, message))
}

impl AccountIn {
    pub fn into_spec(self) -> Result<AccountSpec, ApiError> {
        let period = self.period.map(PeriodIn::into_spec).transpose()?;
        let deadline_ms = self
            .deadline
            .as_deref()
            .map(|text| {
                text.parse::<jiff::Timestamp>()
                    .ok()
                    .and_then(|at| u64::try_from(at.as_millisecond()).ok())
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "invalid_field",
                            "deadline",
                            format!("deadline must be an RFC 3339 time, not {text:?}"),
                        )
                    })
            })
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
        })
    }
}

impl AllocateIn {
    pub fn into_request(self) -> Result<AllocateRequest, ApiError> {
        let strategy = Strategy::parse(&self.strategy).ok_or_else(|| {
            ApiError::invalid(
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

impl UsageIn {
    pub fn into_report(self) -> Result<UsageReport, ApiError> {
        if let Some(at) = &self.occurred_at {
            humantime::parse_rfc3339_weak(at).map_err(|err| {
                ApiError::invalid(
                    "invalid_field",
                    "occurred_at",
                    format!("occurred_at must be an RFC 3339 time: {err}"),
                )
            })?;
        }
        Ok(UsageReport {
            account: account_path(&self.account, "account")?,
            usage: named(self.usage),
            operation: self.operation,
            work_units: self.work_units.unwrap_or(0),
            idempotency_key: self.idempotency_key,
        })
    }
}

impl ReserveIn {
    pub fn into_request(self) -> Result<ReserveRequest, ApiError> {
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

/// `rsv_123` to 123.
pub fn reservation_id(text: &str) -> Result<u64, ApiError> {
    text.strip_prefix("rsv_")
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| {
            ApiError::new(
                404,
                "reservation_not_found",
                format!("reservation {text} not found"),
            )
        })
}

/// Milliseconds since the epoch as RFC 3339 in UTC with milliseconds.
pub fn rfc3339(at_ms: u64) -> String {
    // RFC 3339 ends with the year 9999; a later time (only a damaged journal holds one) is
    // shown as its last millisecond.
    const LAST_MS: u64 = 253_402_300_799_999;
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(at_ms.min(LAST_MS)))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_error(body: &str, code: &str, field: Option<&str>) {
        let err = parse::<UsageIn>(body.as_bytes()).unwrap_err();
        assert_eq!(err.detail.code, code, "{body}: {err:?}");
        assert_eq!(err.detail.field.as_deref(), field, "{body}");
        assert_eq!(err.status, 400);
    }

    #[test]
    fn bad_usage_bodies_name_the_field() {
        check_error(
            r#"{"account":"a","usage":{"tokens":-5}}"#,
            "invalid_amount",
            Some("usage.tokens"),
        );
        check_error(
            r#"{"account":"a","usage":{"tokens":1.5}}"#,
            "invalid_amount",
            Some("usage.tokens"),
        );
        check_error(
            r#"{"account":"a","usage":{"tokens":18446744073709551616}}"#,
            "invalid_amount",
            Some("usage.tokens"),
        );
        check_error(
            r#"{"account":"a","usage":{"tokens":"5"}}"#,
            "invalid_amount",
            Some("usage.tokens"),
        );
        check_error(
            r#"{"account":"a","usage":{},"tokenz":1}"#,
            "unknown_field",
            Some("tokenz"),
        );
        check_error(r#"{"account":"a""#, "invalid_json", None);
        check_error(r#"{"usage":{}}"#, "invalid_field", Some("account"));
        check_error(r#"["acme", {"tokens": 5}]"#, "invalid_json", None);
    }

    #[test]
    fn times_and_ids() {
        assert_eq!(rfc3339(1_795_084_215_123), "2026-11-19T10:30:15.123Z");
        // Found by fuzzing the journal: a time past the year 9999 panicked in formatting.
        assert_eq!(rfc3339(u64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(reservation_id("rsv_42").unwrap(), 42);
        assert_eq!(reservation_id("rsv_x").unwrap_err().status, 404);
    }
}

impl PeriodIn {
    pub fn into_spec(self) -> Result<purser_core::account::PeriodSpec, ApiError> {
        let every = purser_core::account::PeriodUnit::parse(&self.every).ok_or_else(|| {
            ApiError::invalid(
                "invalid_field",
                "period.every",
                format!(
                    "period.every must be hour, day, week or month, not {:?}",
                    self.every
                ),
            )
        })?;
        let timezone = self.timezone.unwrap_or_else(|| "UTC".to_string());
        crate::periods::check_timezone(&timezone)
            .map_err(|message| ApiError::invalid("invalid_field", "period.timezone", message))?;
        let rollover_max = self.rollover_max.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&rollover_max) {
            return Err(ApiError::invalid(
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

/// An 80% prediction interval; `high` is absent while nothing bounds it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntervalOut {
    pub low: u64,
    pub high: Option<u64>,
}

/// `GET /v1/accounts/{path}:forecast?dimension=tokens`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastOut {
    pub dimension: String,
    /// `average_rate`, `linear`, `holt` or `historical`: the one the backtest chose.
    pub method: &'static str,
    pub consumed: u64,
    pub limit: Option<u64>,
    pub projected_total: u64,
    pub overage: u64,
    pub horizon_end: String,
    pub time_to_exhaustion_s: Option<u64>,
    pub exhausts_at: Option<String>,
    pub interval: IntervalOut,
    /// The share of the method's recent backtested predictions that landed within 10%.
    pub confidence: f64,
    /// How many backtested predictions the confidence and the interval rest on.
    pub n_backtests: u32,
    /// The plain average-rate extrapolation, for comparison.
    pub baseline_total: u64,
}

/// One move of the optimizer.
#[derive(Debug, Serialize, ToSchema)]
pub struct MoveOut {
    pub account: String,
    pub dimension: String,
    /// `reclaim` (to the parent's pool) or `grant` (from it).
    pub kind: &'static str,
    pub from: u64,
    pub to: u64,
    pub reason: String,
}

/// `POST /v1/optimizer:run?dry_run=true`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OptimizerOut {
    pub dry_run: bool,
    pub moves: Vec<MoveOut>,
}

/// `GET /v1/audit`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditOut {
    #[schema(value_type = Vec<crate::audit::AuditEntry>)]
    pub events: Vec<std::sync::Arc<crate::audit::AuditEntry>>,
}

//! Wire types: what the API reads and writes, and their conversion to the core's commands and
//! from the engine's views. Every request type refuses unknown fields, duplicate keys and bytes
//! after the object (a typo must not pass silently). This module depends on no other module of
//! the server.

pub mod accounts;
pub mod dags;
pub mod error;
pub mod fleet;
pub mod manage;
pub mod rules;
pub mod schemas;
pub mod tasks;
pub mod usage;

use std::collections::BTreeMap;

use purser_core::{AccountPath, NamedAmounts};
use purser_engine::view::account::{FiredView, VerdictView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use error::{ErrorBody, ErrorDetail, Refusal, WireError};

/// Amounts: dimension name to a non-negative integer.
pub type AmountMap = BTreeMap<String, u64>;

/// Milliseconds since the epoch as RFC 3339 in UTC, as every time on the wire.
pub use purser_engine::time::rfc3339;

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

/// Parses a JSON body, naming the field at fault.
pub fn parse<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, WireError> {
    // Derived structs would also accept an array, field by field; the API takes objects only.
    if body.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return Err(WireError::malformed(
            "invalid_json",
            "the body must be a JSON object",
        ));
    }
    parse_whole(body)
}

/// Deserializes `body`, which must hold one JSON value and nothing after it but whitespace.
pub fn parse_whole<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, WireError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut *deserializer)
        .map_err(|err| json_error(err.path().to_string(), err.inner()))?;
    deserializer.end().map_err(|_| {
        WireError::malformed(
            "invalid_json",
            "the body holds more than one JSON value: bytes follow the object",
        )
    })?;
    Ok(value)
}

/// Maps a serde error at `path` to the API's error: amounts get `invalid_amount`.
pub fn json_error(path: String, inner: &serde_json::Error) -> WireError {
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
        return WireError::invalid("duplicate_field", &field, format!("{field} is given twice"));
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
        return WireError::invalid("duplicate_field", &field, format!("{field} is given twice"));
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
    let error = WireError::malformed(code, message);
    if field.is_empty() {
        error
    } else {
        error.with_field(field)
    }
}

pub fn named(map: AmountsIn) -> NamedAmounts {
    map.0.into_iter().collect()
}

pub fn account_path(text: &str, field: &str) -> Result<AccountPath, WireError> {
    AccountPath::parse(text).map_err(|message| WireError::invalid("invalid_path", field, message))
}

/// `rsv_123` to 123.
pub fn reservation_id(text: &str) -> Result<u64, WireError> {
    text.strip_prefix("rsv_")
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| {
            WireError::not_found(
                "reservation_not_found",
                format!("reservation {text} not found"),
            )
        })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActionOut {
    /// One of `continue warn throttle degrade stop pause`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Shadow mode: the action the level would have had (`throttle degrade stop`) where the
    /// account's rules only warn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would: Option<String>,
    /// Why, where the figures alone do not say: a run cap, a loop, an expired budget, a pause
    /// or shadow mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FiredOut {
    pub account: String,
    pub dimension: String,
    pub fraction: f64,
}

impl From<&purser_core::Action> for ActionOut {
    fn from(action: &purser_core::Action) -> ActionOut {
        ActionOut {
            kind: action.kind().to_string(),
            rate: match action {
                purser_core::Action::Throttle { rate } => Some(*rate),
                _ => None,
            },
            would: match action {
                purser_core::Action::WarnOnly { would } => {
                    Some(purser_core::action_for(*would, 0).kind().to_string())
                }
                _ => None,
            },
            reason: None,
        }
    }
}

impl From<FiredView> for FiredOut {
    fn from(fired: FiredView) -> FiredOut {
        FiredOut {
            account: fired.account,
            dimension: fired.dimension,
            fraction: fired.fraction,
        }
    }
}

/// The level, action and what fired them, as every answer shows them.
pub fn verdict_out(verdict: VerdictView) -> (String, ActionOut, Option<FiredOut>) {
    (
        verdict.level.as_str().to_string(),
        ActionOut {
            reason: verdict.reason,
            ..ActionOut::from(&verdict.action)
        },
        verdict.fired.map(FiredOut::from),
    )
}

#[cfg(test)]
mod tests {
    use super::usage::UsageIn;
    use super::*;

    fn check_error(body: &str, code: &str, field: Option<&str>) {
        let err = parse::<UsageIn>(body.as_bytes()).unwrap_err();
        assert_eq!(err.detail.code, code, "{body}: {err:?}");
        assert_eq!(err.detail.field.as_deref(), field, "{body}");
        assert_eq!(err.refusal, Refusal::Invalid);
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
    fn ids() {
        assert_eq!(reservation_id("rsv_42").unwrap(), 42);
        assert_eq!(
            reservation_id("rsv_x").unwrap_err().refusal,
            Refusal::NotFound
        );
    }
}

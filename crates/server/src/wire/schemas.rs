//! Schemas of the OpenAPI document that the Rust types alone cannot say: amounts (dimension
//! names to non-negative integers within their bounds) and labels. Schema only: the types
//! that carry the data are in `wire`.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::{RefOr, Schema};

/// The pattern of a dimension's name.
pub const DIMENSION_PATTERN: &str = "^[a-z][a-z0-9_]{0,31}$";

fn schema(value: serde_json::Value) -> RefOr<Schema> {
    RefOr::T(serde_json::from_value(value).expect("a valid schema"))
}

/// Amounts in an answer: any `u64`.
pub struct Amounts;

impl utoipa::PartialSchema for Amounts {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "object",
            "description": "Dimension name to a non-negative integer: {\"tokens\": 450, \"cost_micros\": 11000}",
            "propertyNames": {"type": "string", "pattern": DIMENSION_PATTERN},
            "additionalProperties": {"type": "integer", "format": "uint64", "minimum": 0, "maximum": u64::MAX},
        }))
    }
}

impl utoipa::ToSchema for Amounts {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Amounts")
    }
}

/// Amounts in a request: at most 32 dimensions, each at most `amount_max` (the document served
/// by a server states its configured maximum).
pub struct AmountsIn;

impl utoipa::PartialSchema for AmountsIn {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "object",
            "description": "Dimension name to a non-negative integer, at most amount_max each (usage, holds); limits may be larger",
            "maxProperties": purser_core::amount::AMOUNT_DIMENSIONS_MAX,
            "propertyNames": {"type": "string", "pattern": DIMENSION_PATTERN},
            "additionalProperties": {"type": "integer", "format": "uint64", "minimum": 0, "maximum": u64::MAX},
        }))
    }
}

impl utoipa::ToSchema for AmountsIn {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AmountsIn")
    }
}

/// Usage and holds in a request: each amount at most `amount_max`.
pub struct SpendIn;

impl utoipa::PartialSchema for SpendIn {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "object",
            "description": "Dimension name to a non-negative integer, each at most the server's amount_max",
            "maxProperties": purser_core::amount::AMOUNT_DIMENSIONS_MAX,
            "propertyNames": {"type": "string", "pattern": DIMENSION_PATTERN},
            "additionalProperties": {
                "type": "integer", "format": "uint64", "minimum": 0,
                "maximum": purser_core::ledger::AMOUNT_MAX_DEFAULT,
            },
        }))
    }
}

impl utoipa::ToSchema for SpendIn {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SpendIn")
    }
}

/// Labels: names to text.
pub struct Labels;

impl utoipa::PartialSchema for Labels {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "object",
            "description": "Label names (1 to 128 bytes) to values (at most 256 bytes), at most 64",
            "maxProperties": 64,
            "propertyNames": {"type": "string", "minLength": 1, "maxLength": 128},
            "additionalProperties": {"type": "string", "maxLength": 256},
        }))
    }
}

impl utoipa::ToSchema for Labels {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Labels")
    }
}

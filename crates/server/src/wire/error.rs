//! The error shape of the API (`{"error": {"code", "message", "field", ...}}`), and what the
//! decoding of a request can refuse: invalid input (400) or an id that names nothing (404).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Budget errors: the account and dimension that refused, and the figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimension: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<u64>,
    /// Budget errors: the refusing account's limit in the dimension and what it spent this
    /// period; where it renews, when (`resets_at`) and how long to wait (`retry_after_s`).
    /// Waiting helps only then: `budget_exhausted` is not transient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spent: Option<u64>,
    /// `hour`, `day`, `week` or `month`: the refusing account's budget period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<f64>,
    /// Scheduler errors (limit ranges, quotas): the tenant and pool that refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
}

impl ErrorDetail {
    pub fn new(code: &str, message: impl Into<String>) -> ErrorDetail {
        ErrorDetail {
            code: code.into(),
            message: message.into(),
            ..ErrorDetail::default()
        }
    }
}

/// Why a request could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Input that is not valid (400).
    Invalid,
    /// An id that names nothing (404): `rsv_x` is no reservation.
    NotFound,
}

/// A request refused while it was decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct WireError {
    pub refusal: Refusal,
    /// Boxed: errors travel in `Result`s on the hot path, which should stay small.
    pub detail: Box<ErrorDetail>,
}

impl WireError {
    /// Invalid input at `field`.
    pub fn invalid(code: &str, field: &str, message: impl Into<String>) -> WireError {
        WireError::malformed(code, message).with_field(field)
    }

    /// Invalid input that no one field is at fault for.
    pub fn malformed(code: &str, message: impl Into<String>) -> WireError {
        WireError {
            refusal: Refusal::Invalid,
            detail: Box::new(ErrorDetail::new(code, message)),
        }
    }

    pub fn not_found(code: &str, message: impl Into<String>) -> WireError {
        WireError {
            refusal: Refusal::NotFound,
            detail: Box::new(ErrorDetail::new(code, message)),
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> WireError {
        self.detail.field = Some(field.into());
        self
    }
}

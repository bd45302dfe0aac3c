//! The error shape of the API: `{"error": {"code", "message", "field", ...}}` with its status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use purser_core::LedgerError;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
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
    /// Scheduler errors (limit ranges, quotas): the tenant and pool that refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub status: u16,
    /// Boxed: errors travel in `Result`s on the hot path, which should stay small.
    pub detail: Box<ErrorDetail>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: Box::new(ErrorDetail {
                code: code.into(),
                message: message.into(),
                field: None,
                account: None,
                dimension: None,
                requested: None,
                available: None,
                tenant: None,
                pool: None,
            }),
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.detail.field = Some(field.into());
        self
    }

    pub fn invalid(code: &str, field: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(400, code, message).with_field(field)
    }

    pub fn unauthorized(message: &str) -> ApiError {
        ApiError::new(401, "unauthorized", message)
    }

    pub fn forbidden(message: &str) -> ApiError {
        ApiError::new(403, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "not_found", message)
    }

    pub fn unavailable(message: &str) -> ApiError {
        ApiError::new(503, "unavailable", message)
    }

    pub fn budget(
        code: &str,
        message: String,
        account: String,
        dimension: String,
        requested: u64,
        available: u64,
    ) -> ApiError {
        let mut error = ApiError::new(409, code, message);
        error.detail.account = Some(account);
        error.detail.dimension = Some(dimension);
        error.detail.requested = Some(requested);
        error.detail.available = Some(available);
        error
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: (*self.detail).clone(),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(err: LedgerError) -> ApiError {
        let message = err.to_string();
        let code = err.code();
        match err {
            LedgerError::Invalid { field, .. } => {
                ApiError::new(400, code, message).with_field(field)
            }
            LedgerError::LimitReached { field, .. } => {
                ApiError::new(400, code, message).with_field(field)
            }
            LedgerError::AccountNotFound { .. }
            | LedgerError::ParentNotFound { .. }
            | LedgerError::ReservationNotFound { .. } => ApiError::new(404, code, message),
            LedgerError::InsufficientPool {
                account,
                dimension,
                requested,
                available,
            } => ApiError::budget(code, message, account, dimension, requested, available),
            LedgerError::Conflict { .. } => ApiError::new(409, code, message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self.body())).into_response()
    }
}

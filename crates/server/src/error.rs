//! Answers that are errors: the one place where the engine's errors, the wire's refusals and
//! the routes' own checks become a status code and the error shape of API.md.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use purser_core::LedgerError;
use purser_engine::EngineError;
use purser_engine::view::account::DenialView;
use purser_sched::DagError;

use crate::wire::{ErrorBody, ErrorDetail, Refusal, WireError};

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
            detail: Box::new(ErrorDetail::new(code, message)),
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

    /// A hold refused: 409 naming the account and dimension that would reach their stop.
    pub fn denied(denial: DenialView) -> ApiError {
        let mut message = format!(
            "{} would reach its stop threshold in {}: {} requested, {} available",
            denial.account, denial.dimension, denial.requested, denial.available
        );
        // An account that pauses at stop says so: its agents idle until the budget is raised.
        let code = if denial.paused {
            message.push_str("; it is paused until its budget is raised");
            "paused"
        } else {
            "budget_exhausted"
        };
        let mut error = ApiError::new(409, code, message);
        error.detail.account = Some(denial.account);
        error.detail.dimension = Some(denial.dimension);
        error.detail.requested = Some(denial.requested);
        error.detail.available = Some(denial.available);
        error.detail.limit = denial.limit;
        error.detail.spent = Some(denial.spent);
        error.detail.period = denial.period.map(str::to_string);
        error.detail.resets_at = denial.resets_ms.map(purser_engine::time::rfc3339);
        error.detail.retry_after_s = denial
            .retry_after_ms
            .map(|ms| (ms as f64 / 1000.0 * 1000.0).round() / 1000.0);
        error
    }

    /// A hold refused by a cap in force: 409 `run_capped` (turns, wall time, loop),
    /// `budget_expired` or, for an account that pauses at stop, `paused`.
    pub fn refused(refusal: purser_engine::view::account::RefusalView) -> ApiError {
        use purser_core::rules::Cap;
        let code = match (refusal.paused, refusal.cap) {
            (true, _) => "paused",
            (false, Cap::Expired) => "budget_expired",
            (false, _) => "run_capped",
        };
        let message = format!(
            "{} is halted ({}): {}",
            refusal.account,
            refusal.cap.name(),
            refusal.detail
        );
        let mut error = ApiError::new(409, code, message);
        error.detail.account = Some(refusal.account);
        error
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: (*self.detail).clone(),
        }
    }
}

impl From<WireError> for ApiError {
    fn from(err: WireError) -> ApiError {
        let status = match err.refusal {
            Refusal::Invalid => 400,
            Refusal::NotFound => 404,
        };
        ApiError {
            status,
            detail: err.detail,
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> ApiError {
        let message = err.to_string();
        let code = err.code();
        match err {
            EngineError::Ledger(err) => err.into(),
            EngineError::Dag(err) => err.into(),
            EngineError::OutOfScope { .. } => ApiError::new(403, code, message),
            EngineError::UnknownDimension { .. } => {
                ApiError::new(404, code, message).with_field("dimension")
            }
            EngineError::NotLimited { .. } => {
                ApiError::new(409, code, message).with_field("dimension")
            }
            EngineError::NoForecast { .. } => ApiError::new(409, code, message),
            EngineError::Stopped => ApiError::new(503, code, message),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(err: LedgerError) -> ApiError {
        let message = err.to_string();
        let code = err.code();
        match err {
            LedgerError::Invalid { field, .. } | LedgerError::LimitReached { field, .. } => {
                ApiError::new(400, code, message).with_field(field)
            }
            LedgerError::AccountNotFound { .. }
            | LedgerError::ParentNotFound { .. }
            | LedgerError::ReservationNotFound { .. }
            | LedgerError::RequestNotFound { .. } => ApiError::new(404, code, message),
            LedgerError::InsufficientPool {
                account,
                dimension,
                requested,
                available,
            } => {
                let mut error = ApiError::new(409, code, message);
                error.detail.account = Some(account);
                error.detail.dimension = Some(dimension);
                error.detail.requested = Some(requested);
                error.detail.available = Some(available);
                error
            }
            LedgerError::Conflict { .. } => ApiError::new(409, code, message),
        }
    }
}

impl From<DagError> for ApiError {
    fn from(err: DagError) -> ApiError {
        let message = err.to_string();
        let code = err.code();
        let status = match &err {
            DagError::Invalid { .. }
            | DagError::UnknownField { .. }
            | DagError::LimitRange(_)
            | DagError::NoPoolFits(_) => 400,
            DagError::DagNotFound(_) | DagError::TaskNotFound(_) | DagError::WorkerNotFound(_) => {
                404
            }
            DagError::Quota(_)
            | DagError::NoPools
            | DagError::LimitReached { .. }
            | DagError::NotRunning { .. }
            | DagError::StaleAttempt { .. }
            | DagError::NotCheckpointing { .. } => 409,
            DagError::Replay(_) | DagError::Config(_) => 500,
        };
        let mut error = ApiError::new(status, code, message);
        match err {
            DagError::Invalid { field, .. } | DagError::UnknownField { field, .. } => {
                error.detail.field = Some(field)
            }
            DagError::LimitRange(refusal)
            | DagError::NoPoolFits(refusal)
            | DagError::Quota(refusal) => {
                let detail = &mut error.detail;
                detail.field = Some(refusal.field);
                detail.tenant = Some(refusal.tenant);
                detail.pool = Some(refusal.pool);
                detail.dimension = Some(refusal.dimension.to_string());
                detail.requested = Some(refusal.requested);
                detail.available = refusal.available;
            }
            _ => {}
        }
        error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.detail.retry_after_s;
        let mut response = (status, axum::Json(self.body())).into_response();
        if let Some(seconds) = retry_after
            && let Ok(value) =
                axum::http::HeaderValue::from_str(&(seconds.ceil() as u64).to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

//! Errors a caller can act on. A budget denial is not an error: see [`crate::Denial`].

/// Why a command was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LedgerError {
    /// Input that can never be valid; `field` names it as the wire names it.
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: String,
        message: String,
    },
    #[error("account {path} not found")]
    AccountNotFound { path: String },
    #[error("parent account {parent} of {path} not found")]
    ParentNotFound { path: String, parent: String },
    #[error("reservation {id} not found")]
    ReservationNotFound { id: String },
    #[error("increase request {id} not found")]
    RequestNotFound { id: String },
    /// A child's limit does not fit in its parent's pool less the reserve.
    #[error(
        "{account} has {available} {dimension} in its pool beyond its reserve, {requested} requested"
    )]
    InsufficientPool {
        account: String,
        dimension: String,
        requested: u64,
        available: u64,
    },
    /// A state that forbids the command: children, open reservations, a voided reservation.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Too many of something; `field` names where.
    #[error("{message}")]
    LimitReached { field: String, message: String },
}

impl LedgerError {
    pub fn invalid(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> LedgerError {
        LedgerError::Invalid {
            code,
            field: field.into(),
            message: message.into(),
        }
    }

    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::Invalid { code, .. } | LedgerError::Conflict { code, .. } => code,
            LedgerError::AccountNotFound { .. } => "account_not_found",
            LedgerError::ParentNotFound { .. } => "parent_not_found",
            LedgerError::ReservationNotFound { .. } => "reservation_not_found",
            LedgerError::RequestNotFound { .. } => "request_not_found",
            LedgerError::InsufficientPool { .. } => "insufficient_pool",
            LedgerError::LimitReached { .. } => "limit_reached",
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            LedgerError::Invalid { field, .. } | LedgerError::LimitReached { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }
}

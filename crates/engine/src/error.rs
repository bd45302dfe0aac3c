//! What the engine refuses, with variants a caller can act on. No status codes: the server
//! maps each to its answer (`purser_server::error`), the CLI and the simulation read them as is.

use purser_core::LedgerError;
use purser_sched::DagError;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The ledger refused the command; nothing changed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The DAGs refused the command; nothing changed.
    #[error(transparent)]
    Dag(#[from] DagError),
    /// The thing named lies outside the caller's scope (a reservation's account, a batch item's
    /// account).
    #[error("{what} is outside this token's scope")]
    OutOfScope { what: String },
    /// A forecast asked of a dimension no account counts.
    #[error("dimension {dimension} is not counted anywhere")]
    UnknownDimension { dimension: String },
    /// A forecast asked of a dimension the account does not limit.
    #[error("{path} has no limit in {dimension}: there is nothing to exhaust")]
    NotLimited { path: String, dimension: String },
    /// Nothing to forecast from yet.
    #[error(
        "{path} {dimension} has no forecast: nothing consumed yet, or more series than manager.forecast_series_max"
    )]
    NoForecast { path: String, dimension: String },
    /// The engine thread is gone (the server is stopping, or the journal failed).
    #[error("the engine has stopped")]
    Stopped,
}

impl EngineError {
    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Ledger(err) => err.code(),
            EngineError::Dag(err) => err.code(),
            EngineError::OutOfScope { .. } => "forbidden",
            EngineError::UnknownDimension { .. } => "dimension_not_found",
            EngineError::NotLimited { .. } => "not_limited",
            EngineError::NoForecast { .. } => "not_forecast",
            EngineError::Stopped => "unavailable",
        }
    }
}

//! The sizes shared by the backtest, the evidence read from it and the calibration of its
//! intervals. They live here, below all three, so that none of those modules has to import
//! another only for a constant (which tied them in an import circle).

/// Number of pseudo-horizon scales, each twice the previous.
pub const N_SCALES: usize = 8;

/// Errors kept per method and scale (the "recent" in "recent errors").
pub const ERRORS_KEPT: usize = 32;

/// Errors (or scored intervals) needed before they count as evidence.
pub const MIN_SAMPLES: usize = 4;

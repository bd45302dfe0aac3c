//! Forecasting of budget consumption for Purser: per account and dimension, how much will be
//! consumed by the end of a horizon, when a limit will be exhausted, within which 80% interval,
//! and with what confidence.
//!
//! The main types:
//!
//! * [`History`]: the bounded history of one series, a fixed array of time buckets whose width
//!   doubles when the run outgrows it (O(1) memory per series).
//! * [`Forecaster`]: a history plus an incremental rolling backtest of every [`Method`]
//!   (average rate, linear, Holt, historical). Each [`Forecaster::forecast`] picks a method by
//!   its backtest errors at the horizon's scale (keeping of a switch away from the average rate
//!   only the share of its departure that the backtest bore out) and returns a [`Forecast`]
//!   whose confidence and interval are measured from that blend's backtest errors, not assumed;
//!   the interval is then calibrated on how the backtest's own intervals fared (adaptive conformal inference).
//! * [`ProfileLibrary`] / [`RunProfile`]: normalised growth curves of finished runs, per account
//!   kind, for the historical method.
//! * [`evaluate`]: the evaluation procedure on a trace (the caller reads the trace).
//!
//! Dependencies by design: none. The crate is pure and synchronous: it never reads the clock or
//! touches files; time is passed in as milliseconds, amounts are `u64` (floating point is used
//! only inside the arithmetic of the methods).

mod backtest;
mod calibration;
mod evaluation;
mod evidence;
mod forecaster;
mod history;
mod holt;
mod limits;
mod methods;
mod profile;
mod resample;

pub use evaluation::{CONFIDENT, EvaluationSetup, Figures, evaluate};
pub use evidence::{SWITCH_MARGIN, TOLERANCE};
pub use forecaster::{Forecast, ForecastConfig, Forecaster, Interval};
pub use history::{History, INITIAL_BUCKET_WIDTH_MS, N_BUCKETS};
pub use limits::{ERRORS_KEPT, MIN_SAMPLES, N_SCALES};
pub use methods::Method;
pub use profile::{MAX_KINDS, MAX_RUNS_PER_KIND, PROFILE_POINTS, ProfileLibrary, RunProfile};
pub use resample::N_STEPS;

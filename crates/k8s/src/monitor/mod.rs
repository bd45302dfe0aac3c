//! The resource monitor: from usage samples of pools and agent profiles to findings a person can
//! act on.
//!
//! A *series* is a subject (`pool/local`, `profile/reviewer`) and a dimension (`cpu`,
//! `memory_bytes`). Each sample is a value at a time, with the capacity it is measured against
//! when there is one. [`Monitor::observe`] keeps a bounded window per series and answers with
//! [`Finding`]s of three kinds:
//!
//! * [`pressure`](PressureChange): the fraction of capacity held a warning or critical level for
//!   long enough, or stopped holding it (see `pressure.rs` for the rules and their hysteresis);
//! * [`trend`](Forecast): a robust line through the last hour reaches the critical threshold
//!   within the lead time, got there, or stopped heading there (`trend.rs`);
//! * [`anomaly`](Anomaly): samples far from the median of the ones before them, in units of
//!   their median absolute deviation, and beyond anything the series did in the last day
//!   (`anomaly.rs`).
//!
//! Each finding carries the figures that made it and says itself in one line
//! ([`Finding::message`]); the server turns findings into audit entries, events and metrics.
//! [`score`] measures a detector against labelled anomaly windows, with the static-threshold
//! baseline it should beat.
//!
//! The monitor is pure: time comes in with each sample, nothing reads the clock or touches
//! files, and the same samples give the same findings. Its state is derived (rebuilt from fresh
//! samples after a restart), so it is not journaled.

mod anomaly;
mod message;
mod pressure;
mod robust;
pub mod score;
mod trend;

use std::collections::{HashMap, VecDeque};
use std::fmt;

pub use anomaly::{Anomaly, AnomalyConfig, Deviation, deviation};
pub use pressure::{Level, PressureChange, PressureConfig};
pub use trend::{Forecast, ForecastState, TrendConfig, TrendLine, fit};

use anomaly::AnomalyTracker;
use pressure::PressureTracker;
use trend::TrendTracker;

/// What is measured: a subject and one of its dimensions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Series {
    /// What holds the resource, e.g. `pool/local` or `profile/reviewer`.
    pub subject: String,
    /// What is counted, e.g. `cpu` or `memory_bytes`.
    pub dimension: String,
}

impl Series {
    pub fn new(subject: impl Into<String>, dimension: impl Into<String>) -> Self {
        Series {
            subject: subject.into(),
            dimension: dimension.into(),
        }
    }
}

impl fmt::Display for Series {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {}", self.subject, self.dimension)
    }
}

/// One observation of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub t_ms: u64,
    pub value: f64,
}

/// Everything the monitor can be told.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MonitorConfig {
    /// Series kept at most (default 4,096; about 4.5 KiB each with the default samples, so
    /// 18 MiB in all). At the cap a sample of a new series is refused: it gives no finding and
    /// is counted in [`Stats::series_refused`]; the series already kept are never pushed out by
    /// newcomers, so a burst of new names cannot blind the monitor to the ones it watches.
    /// [`Monitor::forget`] and [`Monitor::forget_idle`] make room.
    pub series_max: usize,
    /// Samples kept per series (default 240, 16 bytes each), the oldest dropped first. It must
    /// cover the anomaly baseline and the trend's points; at one sample every 15 s it holds the
    /// trend's hour.
    pub samples_max: usize,
    pub pressure: PressureConfig,
    pub trend: TrendConfig,
    pub anomaly: AnomalyConfig,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            series_max: 4_096,
            samples_max: 240,
            pressure: PressureConfig::default(),
            trend: TrendConfig::default(),
            anomaly: AnomalyConfig::default(),
        }
    }
}

impl MonitorConfig {
    /// Checks the settings make sense together; the error names the setting.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.series_max == 0 {
            return Err(ConfigError("series_max must be above 0".into()));
        }
        let needed = (self.anomaly.baseline_points)
            .max(self.anomaly.confirm_window)
            .max(self.trend.points_min)
            + 1;
        if self.samples_max < needed {
            return Err(ConfigError(format!(
                "samples_max {} must be at least {needed}: the anomaly baseline, the \
                 confirmation window and the trend's points_min, and the current sample",
                self.samples_max
            )));
        }
        self.pressure.check().map_err(ConfigError)?;
        self.trend.check().map_err(ConfigError)?;
        self.anomaly.check().map_err(ConfigError)?;
        Ok(())
    }
}

/// Settings that do not make sense, with the one at fault named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "monitor: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Something worth telling about a series, at the time of the sample that showed it.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub series: Series,
    pub at_ms: u64,
    pub kind: Kind,
}

/// What was found, with its figures.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Pressure(PressureChange),
    Trend(Forecast),
    Anomaly(Anomaly),
}

impl Kind {
    /// `pressure`, `trend` or `anomaly`, as metric labels and event names show it.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Pressure(_) => "pressure",
            Kind::Trend(_) => "trend",
            Kind::Anomaly(_) => "anomaly",
        }
    }
}

/// What the monitor holds about one series, for dashboards and metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    /// The pressure level firing.
    pub level: Level,
    /// A higher level waiting out its duration, and since when.
    pub pending: Option<(Level, u64)>,
    /// Whether a forecast of the critical threshold stands.
    pub heading: bool,
    /// The last capacity given.
    pub capacity: Option<f64>,
    pub samples: usize,
    pub last_ms: Option<u64>,
}

/// Counters of what the monitor turned away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Samples not kept: not finite, or not later than the series' newest.
    pub samples_dropped: u64,
    /// Samples of new series refused at `series_max`.
    pub series_refused: u64,
}

/// Buffers the detectors reuse from one sample to the next.
#[derive(Debug, Default)]
struct Scratch {
    values: Vec<f64>,
    deviations: Vec<f64>,
}

#[derive(Debug)]
struct SeriesState {
    /// Oldest first, strictly increasing times, at most `samples_max`.
    samples: VecDeque<Sample>,
    capacity: Option<f64>,
    pressure: PressureTracker,
    trend: TrendTracker,
    anomaly: AnomalyTracker,
}

/// The monitor: bounded state per series, fed one sample at a time.
#[derive(Debug)]
pub struct Monitor {
    config: MonitorConfig,
    series: HashMap<Series, SeriesState>,
    stats: Stats,
    scratch: Scratch,
}

impl Monitor {
    pub fn new(config: MonitorConfig) -> Result<Self, ConfigError> {
        config.check()?;
        Ok(Monitor {
            config,
            series: HashMap::new(),
            stats: Stats::default(),
            scratch: Scratch::default(),
        })
    }

    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    /// Takes one sample of `series` at `t_ms`, with the capacity it is measured against if
    /// known, and answers what it showed: pressure changes first, then the trend, then an
    /// anomaly.
    ///
    /// A capacity that is absent, not finite or not above zero leaves the last one given in
    /// force; pressure and trend need one, anomalies do not. A sample is dropped (counted in
    /// [`Stats::samples_dropped`]) when its value is not finite or its time is not later than
    /// the series' newest: the state only moves forward. A new series beyond `series_max` is
    /// refused (see [`MonitorConfig::series_max`]).
    pub fn observe(
        &mut self,
        series: &Series,
        t_ms: u64,
        value: f64,
        capacity: Option<f64>,
    ) -> Vec<Finding> {
        if !value.is_finite() {
            self.stats.samples_dropped += 1;
            return Vec::new();
        }
        if !self.series.contains_key(series) {
            if self.series.len() >= self.config.series_max {
                self.stats.series_refused += 1;
                return Vec::new();
            }
            let state = SeriesState {
                samples: VecDeque::with_capacity(self.config.samples_max),
                capacity: None,
                pressure: PressureTracker::new(),
                trend: TrendTracker::default(),
                anomaly: AnomalyTracker::default(),
            };
            self.series.insert(series.clone(), state);
        }
        let config = &self.config;
        let state = self.series.get_mut(series).expect("inserted above");
        if state
            .samples
            .back()
            .is_some_and(|newest| newest.t_ms >= t_ms)
        {
            self.stats.samples_dropped += 1;
            return Vec::new();
        }
        if let Some(capacity) = capacity.filter(|capacity| capacity.is_finite() && *capacity > 0.0)
        {
            state.capacity = Some(capacity);
        }

        let earlier = state.samples.make_contiguous();
        let anomaly = state.anomaly.observe(
            &config.anomaly,
            t_ms,
            value,
            earlier,
            state.capacity,
            &mut self.scratch,
        );
        if state.samples.len() == config.samples_max {
            state.samples.pop_front();
        }
        state.samples.push_back(Sample { t_ms, value });

        let mut kinds = Vec::new();
        if let Some(capacity) = state.capacity {
            if let Some(change) = state
                .pressure
                .observe(&config.pressure, t_ms, value, capacity)
            {
                kinds.push(Kind::Pressure(change));
            }
            let samples = state.samples.make_contiguous();
            let critical = config.pressure.critical;
            if let Some(forecast) = state
                .trend
                .observe(&config.trend, samples, critical, capacity)
            {
                kinds.push(Kind::Trend(forecast));
            }
        }
        kinds.extend(anomaly.map(Kind::Anomaly));
        kinds
            .into_iter()
            .map(|kind| Finding {
                series: series.clone(),
                at_ms: t_ms,
                kind,
            })
            .collect()
    }

    /// What the monitor holds about `series`, if it holds it.
    pub fn status(&self, series: &Series) -> Option<Status> {
        let state = self.series.get(series)?;
        Some(Status {
            level: state.pressure.level(),
            pending: state.pressure.pending(),
            heading: state.trend.heading,
            capacity: state.capacity,
            samples: state.samples.len(),
            last_ms: state.samples.back().map(|sample| sample.t_ms),
        })
    }

    /// The series held, in order.
    pub fn series(&self) -> Vec<&Series> {
        let mut series: Vec<&Series> = self.series.keys().collect();
        series.sort();
        series
    }

    /// Forgets a series (a pool removed); says whether it was held.
    pub fn forget(&mut self, series: &Series) -> bool {
        self.series.remove(series).is_some()
    }

    /// Forgets every series with no sample in the `idle_ms` before `now_ms`, and says how many.
    pub fn forget_idle(&mut self, now_ms: u64, idle_ms: u64) -> usize {
        let before = self.series.len();
        self.series.retain(|_, state| {
            state
                .samples
                .back()
                .is_some_and(|newest| newest.t_ms.saturating_add(idle_ms) > now_ms)
        });
        before - self.series.len()
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }
}

#[cfg(test)]
mod tests;

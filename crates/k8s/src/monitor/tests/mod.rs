//! The monitor's tests: one file per part, and `nab.rs`, which scores the anomaly detector and
//! the static-threshold baseline on the labelled AWS CloudWatch series of the Numenta Anomaly
//! Benchmark when the data folder is present.

mod anomaly;
mod message;
mod monitor;
mod nab;
mod pressure;
mod robust;
mod score;
mod trend;

use super::{Finding, Monitor, MonitorConfig, Series};

const MINUTE_MS: u64 = 60_000;

fn pool_cpu() -> Series {
    Series::new("pool/local", "cpu")
}

fn monitor(config: MonitorConfig) -> Monitor {
    Monitor::new(config).expect("the test's settings are valid")
}

/// Deterministic noise without a dependency: a xorshift generator and Box–Muller.
struct Noise(u64);

impl Noise {
    fn new(seed: u64) -> Self {
        Noise(seed.max(1))
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal.
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Feeds `values` one per `step_ms` from time zero and collects every finding.
fn feed(
    monitor: &mut Monitor,
    series: &Series,
    step_ms: u64,
    values: &[f64],
    capacity: Option<f64>,
) -> Vec<Finding> {
    values
        .iter()
        .enumerate()
        .flat_map(|(index, &value)| {
            monitor.observe(series, index as u64 * step_ms, value, capacity)
        })
        .collect()
}

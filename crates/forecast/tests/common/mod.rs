#![allow(dead_code)] // Each test binary uses part of this module.

//! Shared by the tests: reading the Mooncake trace, and a small seeded generator.

use std::path::PathBuf;

/// The trace's path, relative to this crate (the data is never copied into the repository).
pub fn mooncake_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/mooncake-fast25/conversation_trace.jsonl")
}

/// `(timestamp_ms, input_length + output_length)` per request, or `None` (with a message
/// saying so) if the trace is not there.
pub fn read_mooncake() -> Option<Vec<(u64, u64)>> {
    let path = mooncake_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("SKIP: Mooncake trace not found at {}", path.display());
        return None;
    };
    let events = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let request: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let field = |name: &str| request[name].as_u64().unwrap_or_else(|| panic!("{name}"));
            (
                field("timestamp"),
                field("input_length") + field("output_length"),
            )
        })
        .collect();
    Some(events)
}

/// SplitMix64: a tiny seeded generator, so synthetic series are reproducible.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A bursty series over one hour: a small steady trickle of calls, and rare bursts whose sizes
/// follow a Pareto law (shape 1.2, heavy-tailed) and which arrive as a Poisson process.
pub fn bursty_events(seed: u64) -> Vec<(u64, u64)> {
    let mut random = SplitMix64(seed);
    let mut events = Vec::new();
    let mut at_ms = 0u64;
    while at_ms < 3_600_000 {
        let mut amount = 200 + (random.next_f64() * 800.0) as u64;
        if random.next_f64() < 0.01 {
            let pareto = (1.0 - random.next_f64()).powf(-1.0 / 1.2);
            amount += (pareto * 50_000.0).min(5e7) as u64;
        }
        events.push((at_ms, amount));
        // Exponential gaps of mean 1 s.
        at_ms += (-(1.0 - random.next_f64()).ln() * 1_000.0) as u64 + 1;
    }
    events
}

pub mod agents;
pub mod score;

/// The NAB realAWSCloudwatch series, relative to this crate.
pub fn nab_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/nab-aws-cloudwatch/realAWSCloudwatch")
}

/// A series' name and its `(time_ms, amount)` events.
pub type NamedSeries = (String, Vec<(u64, u64)>);

/// Every NAB CloudWatch series as consumption: `(name, [(ms since the first point, value in
/// thousandths)])`, each 5-minute value consumed at its timestamp; `None` (with a message) if
/// the folder is not there.
pub fn read_nab() -> Option<Vec<NamedSeries>> {
    let dir = nab_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("SKIP: NAB series not found at {}", dir.display());
        return None;
    };
    let mut paths: Vec<PathBuf> = entries.map(|entry| entry.unwrap().path()).collect();
    paths.sort();
    let series = paths
        .iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "csv"))
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("a readable CSV");
            let points: Vec<(u64, f64)> = text
                .lines()
                .skip(1)
                .filter(|line| !line.trim().is_empty())
                .map(|line| {
                    let (timestamp, value) = line.split_once(',').expect("timestamp,value");
                    (
                        minutes_of(timestamp) * 60_000,
                        value.parse().expect("a number"),
                    )
                })
                .collect();
            let first_ms = points[0].0;
            let events = points
                .iter()
                .map(|&(at_ms, value)| (at_ms - first_ms, (value * 1_000.0).round() as u64))
                .collect();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, events)
        })
        .collect();
    Some(series)
}

/// Minutes since 2000-01-01 of `YYYY-MM-DD HH:MM:SS` (enough for differences within a year or
/// two; days per month from a non-leap table plus leap days).
fn minutes_of(timestamp: &str) -> u64 {
    let field = |range: std::ops::Range<usize>| -> u64 { timestamp[range].parse().unwrap() };
    let (year, month, day) = (field(0..4), field(5..7), field(8..10));
    let (hour, minute) = (field(11..13), field(14..16));
    const DAYS_BEFORE: [u64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let years = year - 2000;
    let leap_days = years.div_ceil(4) + u64::from(year % 4 == 0 && month > 2);
    let days = years * 365 + leap_days + DAYS_BEFORE[month as usize - 1] + day - 1;
    (days * 24 + hour) * 60 + minute
}

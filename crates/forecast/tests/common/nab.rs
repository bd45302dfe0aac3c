//! The NAB realAWSCloudwatch series read as consumption. Plain std, so that other crates' tests
//! can include this file through `#[path]` (`CARGO_MANIFEST_DIR` is then theirs, at the same
//! depth under `crates/`).

use std::path::PathBuf;

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

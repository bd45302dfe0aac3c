//! The anomaly detector and the static-threshold baseline on real, labelled series: the AWS
//! CloudWatch files of the Numenta Anomaly Benchmark (`shared/data/nab-aws-cloudwatch`, read
//! from the first ancestor of this crate that has it; skipped with a message when none has).
//!
//! The detector runs with its defaults, exactly as the server runs it: one sample at a time,
//! with a capacity of 100 for the series that are CPU utilization in percent (the server knows a
//! CPU's capacity) and none for bytes and counts. Nothing here is tuned to these series; the
//! assertions are properties any sane detector has on any such data, and the table is printed
//! for people to compare.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::monitor::score::{Scorecard, StaticThreshold, Window, score_detections};
use crate::monitor::{Kind, Monitor, MonitorConfig, Sample, Series};

const FOLDER: &str = "shared/data/nab-aws-cloudwatch";
/// The series with no anomaly: what the detector says there is all false alarms.
const NEGATIVE_CONTROL: &str = "ec2_cpu_utilization_c6585a";

fn data_dir() -> Option<PathBuf> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = crate_dir
        .ancestors()
        .map(|dir| dir.join(FOLDER))
        .find(|dir| dir.is_dir());
    if found.is_none() {
        println!(
            "skipping the NAB scoring: no ancestor of {} has {FOLDER}",
            crate_dir.display()
        );
    }
    found
}

/// Milliseconds since the Unix epoch of `YYYY-MM-DD HH:MM:SS[.ffffff]` (taken as UTC).
fn parse_time(text: &str) -> Option<u64> {
    let (date, time) = text.trim().split_once(' ')?;
    let mut date = date.split('-').map(|part| part.parse::<i64>());
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let (time, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut time = time.split(':').map(|part| part.parse::<i64>());
    let (hour, minute, second) = (time.next()?.ok()?, time.next()?.ok()?, time.next()?.ok()?);
    let millis: i64 = format!("{fraction:0<3}")[..3].parse().ok()?;
    // Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let year_of_era_start = if month <= 2 { year - 1 } else { year };
    let era = year_of_era_start.div_euclid(400);
    let year_of_era = year_of_era_start - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    u64::try_from(seconds * 1_000 + millis).ok()
}

/// The samples of a `timestamp,value` file, oldest first.
fn read_series(path: &Path) -> Vec<Sample> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let parsed = line.split_once(',').and_then(|(time, value)| {
                Some((parse_time(time)?, value.trim().parse::<f64>().ok()?))
            });
            let (t_ms, value) =
                parsed.unwrap_or_else(|| panic!("{}: bad line {line:?}", path.display()));
            Sample { t_ms, value }
        })
        .collect()
}

/// `{"dir/file.csv": [["start", "end"], ...], ...}`, the only shape the windows file has: keys
/// at depth one, the pairs' timestamps at depth three.
fn read_windows(text: &str) -> HashMap<String, Vec<Window>> {
    let mut windows: HashMap<String, Vec<Window>> = HashMap::new();
    let (mut depth, mut key, mut start_ms) = (0, String::new(), None);
    let mut rest = text;
    while let Some(ch) = rest.chars().next() {
        rest = &rest[ch.len_utf8()..];
        match ch {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            '"' => {
                let (string, after) = rest.split_once('"').expect("a closed string");
                rest = after;
                if depth == 1 {
                    key = string.to_string();
                    windows.entry(key.clone()).or_default();
                } else if depth == 3 {
                    let t_ms = parse_time(string).unwrap_or_else(|| panic!("bad time {string:?}"));
                    match start_ms.take() {
                        None => start_ms = Some(t_ms),
                        Some(start_ms) => windows.entry(key.clone()).or_default().push(Window {
                            start_ms,
                            end_ms: t_ms,
                        }),
                    }
                }
            }
            _ => {}
        }
    }
    windows
}

/// Every series of the folder with its windows, by name.
fn labelled_series(dir: &Path) -> Vec<(String, Vec<Sample>, Vec<Window>)> {
    let windows_text = std::fs::read_to_string(dir.join("labels/combined_windows.json"))
        .expect("the windows file");
    let windows = read_windows(&windows_text);
    let mut found = Vec::new();
    for sub in ["realAWSCloudwatch", "realKnownCause"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let Some(file) = path.file_name().and_then(|name| name.to_str()) else {
                continue;
            };
            if !file.ends_with(".csv") {
                continue;
            }
            let key = format!("{sub}/{file}");
            let series_windows = windows
                .get(&key)
                .unwrap_or_else(|| panic!("no windows for {key}"));
            found.push((
                file.trim_end_matches(".csv").to_string(),
                read_series(&path),
                series_windows.clone(),
            ));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

fn row(table: &mut String, name: &str, detector: &str, card: &Scorecard) {
    let delay = card
        .mean_delay_ms()
        .map_or("-".to_string(), |ms| format!("{:.1} h", ms / 3_600_000.0));
    writeln!(
        table,
        "| {name} | {detector} | {} | {} | {} | {} | {delay} | {:.2} |",
        card.windows,
        card.true_detections,
        card.false_detections,
        card.missed_windows,
        card.false_per_day()
    )
    .unwrap();
}

/// The times of the anomaly findings `monitor` makes on one series.
fn anomaly_times(monitor: &mut Monitor, name: &str, samples: &[Sample]) -> Vec<u64> {
    let series = Series::new(name, "value");
    let capacity = name.contains("cpu_utilization").then_some(100.0);
    samples
        .iter()
        .flat_map(|sample| monitor.observe(&series, sample.t_ms, sample.value, capacity))
        .filter(|finding| matches!(finding.kind, Kind::Anomaly(_)))
        .map(|finding| finding.at_ms)
        .collect()
}

#[test]
fn the_detector_and_the_baseline_on_labelled_cloudwatch_series() {
    let Some(dir) = data_dir() else { return };
    let all = labelled_series(&dir);
    assert!(!all.is_empty(), "no series in {}", dir.display());

    let mut monitor = Monitor::new(MonitorConfig::default()).unwrap();
    // The same detector without its novelty guard, to show what the guard is for.
    let mut median_alone = MonitorConfig::default();
    median_alone.anomaly.range_ms = 0;
    let mut median_alone = Monitor::new(median_alone).unwrap();
    let baseline = StaticThreshold::default();
    let mut table = String::from(
        "| series | detector | windows | true | false | missed | mean delay | false/day |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let mut detector_total = Scorecard::default();
    let mut baseline_total = Scorecard::default();
    let mut median_alone_total = Scorecard::default();
    let mut negative_control = None;
    for (name, samples, windows) in &all {
        let (first_ms, last_ms) = (samples[0].t_ms, samples[samples.len() - 1].t_ms);
        let card =
            |detections_ms: &[u64]| score_detections(detections_ms, windows, first_ms, last_ms);
        let detector_card = card(&anomaly_times(&mut monitor, name, samples));
        let baseline_card = card(&baseline.detect(samples));
        median_alone_total.add(&card(&anomaly_times(&mut median_alone, name, samples)));
        row(&mut table, name, "monitor", &detector_card);
        row(&mut table, name, "static", &baseline_card);
        detector_total.add(&detector_card);
        baseline_total.add(&baseline_card);
        if name == NEGATIVE_CONTROL {
            negative_control = Some(detector_card);
        }
    }
    row(&mut table, "**all**", "monitor", &detector_total);
    row(&mut table, "**all**", "static", &baseline_total);
    println!("{table}");
    println!(
        "without the novelty guard (range_ms = 0): {} of {} windows found, {} true and {} false \
         detections, {:.2} false alarms per day",
        median_alone_total.detected_windows(),
        median_alone_total.windows,
        median_alone_total.true_detections,
        median_alone_total.false_detections,
        median_alone_total.false_per_day()
    );
    println!(
        "samples dropped (not later than the one before): {}",
        monitor.stats().samples_dropped
    );

    // Anomalies in real data are there to be found: at least a fifth of the windows.
    assert!(
        detector_total.detected_windows() * 5 >= detector_total.windows,
        "the detector found {} of {} windows",
        detector_total.detected_windows(),
        detector_total.windows
    );
    // An on-call person can live with one false page every two days per series on average...
    assert!(detector_total.false_per_day() < 0.5, "{detector_total:?}");
    // ...and the series without an anomaly must not page daily.
    if let Some(card) = negative_control {
        assert!(card.false_per_day() < 1.0, "{NEGATIVE_CONTROL}: {card:?}");
    }
}

#[test]
fn timestamps_parse_as_utc() {
    assert_eq!(parse_time("1970-01-01 00:00:00"), Some(0));
    assert_eq!(
        parse_time("2014-02-26 13:45:00.000000"),
        Some(1_393_422_300_000)
    );
    assert_eq!(parse_time("2000-03-01 00:00:01.250"), Some(951_868_801_250));
    assert_eq!(parse_time("2014-02-26"), None);
}

#[test]
fn the_windows_file_is_read_as_a_map_of_pairs() {
    let text = r#"{"a/x.csv": [["2014-02-26 13:45:00.000000", "2014-02-27 06:25:00.000000"]],
                   "b/y.csv": []}"#;
    let windows = read_windows(text);
    assert_eq!(
        windows["a/x.csv"],
        [Window {
            start_ms: 1_393_422_300_000,
            end_ms: 1_393_482_300_000,
        }]
    );
    assert_eq!(windows["b/y.csv"], []);
}

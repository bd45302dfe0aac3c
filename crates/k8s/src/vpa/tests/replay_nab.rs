//! The replay on real CPU series: the CloudWatch CPU-utilization series of the Numenta Anomaly
//! Benchmark in `../shared/data/nab-aws-cloudwatch/` beside the repository (5-minute steps over about 14
//! days). Each series is one container; its value, the percent of one core, becomes millicores
//! with 100 % = 1000 m, rounded to the nearest millicore as the recommender takes whole
//! millicores. The recommendation uses upstream's defaults, untuned to these series.
//!
//! The first tests are ours, on synthetic series, and pin what `replay` computes.

use std::fs;
use std::path::{Path, PathBuf};

use crate::vpa::{
    AggregationConfig, CpuSample, MS_PER_DAY, RecommendationConfig, ReplayScore, RequestScore,
    cpu_millicores_from_cores, replay,
};

const NAB_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/nab-aws-cloudwatch"
);
const FIVE_MINUTES_MS: i64 = 5 * 60_000;

fn series(n_days: i64, cpu_millicores: impl Fn(i64) -> i64) -> Vec<CpuSample> {
    (0..n_days * MS_PER_DAY / FIVE_MINUTES_MS)
        .map(|step| CpuSample {
            t_ms: step * FIVE_MINUTES_MS,
            cpu_millicores: cpu_millicores(step),
        })
        .collect()
}

fn replay_defaults(samples: &[CpuSample], training_days: i64) -> Option<ReplayScore> {
    replay(
        samples,
        training_days * MS_PER_DAY,
        &RecommendationConfig::default(),
        &AggregationConfig::default(),
    )
}

#[test]
fn steady_usage_scores_as_expected() {
    // Ours: 300 m throughout. The VPA target is the end of the bucket holding 0.3 cores plus
    // 15 %; the static requests equal the usage, so they are never exceeded and leave no slack.
    let options = AggregationConfig::default().cpu_histogram_options();
    let bucket_end = cpu_millicores_from_cores(options.bucket_start(options.find_bucket(0.3) + 1));
    let target = bucket_end + (bucket_end as f64 * 0.15) as i64;

    let score = replay_defaults(&series(10, |_| 300), 3).expect("both parts have samples");
    let steps_per_day = (MS_PER_DAY / FIVE_MINUTES_MS) as usize;
    assert_eq!(score.n_training_samples, 3 * steps_per_day);
    assert_eq!(score.n_scored_samples, 7 * steps_per_day);
    let exact = |request: f64| RequestScore {
        request_millicores: request,
        exceed_share: 0.0,
        mean_slack_millicores: request - 300.0,
    };
    assert_eq!(score.vpa_target, exact(target as f64));
    assert_eq!(score.training_peak, exact(300.0));
    assert_eq!(score.training_mean, exact(300.0));
}

#[test]
fn alternating_usage_scores_as_expected() {
    // Ours: 100 m and 500 m in turn. The mean request (300 m) is exceeded by every other sample;
    // the peak (500 m) never; the VPA's target, above the 90th percentile, never.
    let score = replay_defaults(&series(6, |step| if step % 2 == 0 { 100 } else { 500 }), 2)
        .expect("both parts have samples");
    assert_eq!(score.training_mean.request_millicores, 300.0);
    assert_eq!(score.training_mean.exceed_share, 0.5);
    assert_eq!(score.training_mean.mean_slack_millicores, 0.0);
    assert_eq!(
        score.training_peak,
        RequestScore {
            request_millicores: 500.0,
            exceed_share: 0.0,
            mean_slack_millicores: 200.0
        }
    );
    assert_eq!(score.vpa_target.exceed_share, 0.0);
    assert!(
        score.vpa_target.request_millicores >= 575.0,
        "{:?}",
        score.vpa_target
    );
}

#[test]
fn replay_needs_both_parts() {
    // Ours: no samples, or none after the training window, gives nothing to score.
    assert_eq!(replay_defaults(&[], 3), None);
    assert_eq!(replay_defaults(&series(2, |_| 100), 3), None);
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `YYYY-MM-DD HH:MM:SS` (UTC assumed) to milliseconds since the epoch.
fn parse_timestamp_ms(text: &str) -> Option<i64> {
    let field = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let days = days_from_civil(field(0..4)?, field(5..7)?, field(8..10)?);
    let seconds = field(11..13)? * 3600 + field(14..16)? * 60 + field(17..19)?;
    Some((days * 86_400 + seconds) * 1000)
}

/// The samples of a `timestamp,value` CSV whose value is CPU percent of one core.
fn read_cpu_series(path: &Path) -> Vec<CpuSample> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .map(|line| {
            let (timestamp, value) = line.split_once(',').expect("two columns");
            let percent: f64 = value.trim().parse().expect("a number");
            CpuSample {
                t_ms: parse_timestamp_ms(timestamp).expect("a timestamp"),
                cpu_millicores: (percent * 10.0).round() as i64,
            }
        })
        .collect()
}

fn cpu_series_paths(root: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = ["realAWSCloudwatch", "realKnownCause"]
        .iter()
        .filter_map(|dir| fs::read_dir(root.join(dir)).ok())
        .flatten()
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            name.contains("cpu") && name.ends_with(".csv")
        })
        .collect();
    paths.sort();
    paths
}

fn check_score(series: &str, training_days: i64, score: &ReplayScore) {
    for (label, request) in [
        ("vpa", score.vpa_target),
        ("peak", score.training_peak),
        ("mean", score.training_mean),
    ] {
        assert!(
            (0.0..=1.0).contains(&request.exceed_share),
            "{series}, k={training_days}: {label} exceed share {}",
            request.exceed_share
        );
    }
    // A static request at the mean is exceeded by every burst above average; the VPA's target,
    // above the 90th percentile plus a margin, must be exceeded less often (or, if the mean is
    // never exceeded, no more often).
    let vpa = score.vpa_target.exceed_share;
    let mean = score.training_mean.exceed_share;
    assert!(
        vpa < mean || (mean == 0.0 && vpa == 0.0),
        "{series}, k={training_days}: vpa target exceeded in {vpa} of samples, mean request in {mean}"
    );
}

#[test]
fn replay_on_nab_cpu_series() {
    let root = Path::new(NAB_DIR);
    if !root.is_dir() {
        println!("replay_on_nab_cpu_series: skipped, {NAB_DIR} is absent");
        return;
    }
    let paths = cpu_series_paths(root);
    assert!(!paths.is_empty(), "no cpu series under {NAB_DIR}");

    let mut table = String::from(
        "| series | k (days) | VPA target (m) | VPA exceed | VPA slack (m) | peak (m) | peak exceed | peak slack (m) | mean (m) | mean exceed | mean slack (m) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for path in &paths {
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let samples = read_cpu_series(path);
        for training_days in [3, 7] {
            let score = replay_defaults(&samples, training_days)
                .unwrap_or_else(|| panic!("{name}: shorter than {training_days} days"));
            check_score(name, training_days, &score);
            let (vpa, peak, mean) = (score.vpa_target, score.training_peak, score.training_mean);
            table.push_str(&format!(
                "| {name} | {training_days} | {:.0} | {:.3} | {:.1} | {:.0} | {:.3} | {:.1} | {:.1} | {:.3} | {:.1} |\n",
                vpa.request_millicores, vpa.exceed_share, vpa.mean_slack_millicores,
                peak.request_millicores, peak.exceed_share, peak.mean_slack_millicores,
                mean.request_millicores, mean.exceed_share, mean.mean_slack_millicores,
            ));
        }
    }
    println!("\n{table}");
}

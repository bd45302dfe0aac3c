//! Issue 17's last figure, per trace: the stops that had a warning a minute before, with the
//! whole manager in virtual time (the ledger, the levels, the watch's alerts at the default lead
//! time) on the agent shapes and the NAB series that `purser-forecast` scores at the forecaster
//! level, where no stop happens. Each run gets one account whose limit is its real usage at 80 %
//! of the horizon (the held-out check of `cli/tests/replay.rs`), so each run stops once, at the
//! stop threshold (95 % of the limit), before that point.
//!
//! Two figures per trace: a stop is *warned* when the account's level left green (the replay's
//! `n_stops_warned_in_time`) a lead time or more before it, and *alerted* when a forecast alert
//! raised a lead time or more before it was still in force. The floor asserted: every *warnable*
//! stop is warned, a warnable stop being one whose usage left green (half the limit, by the
//! default thresholds) a lead time or more before it reached the stop threshold, as read from
//! the trace itself. A stop that is not warnable (a zero limit, or a single record carrying the
//! usage from under half the limit past the stop) no level could warn of; the alerts could, if
//! the forecast saw it coming. The alerts are the forecast's own share: they are printed, and on
//! accelerating usage, where the forecast sees the stop coming, every stop must have one.

#[path = "../../forecast/tests/common/agents.rs"]
mod agents;
#[path = "../../forecast/tests/common/nab.rs"]
mod nab;
#[path = "../../forecast/tests/common/random.rs"]
mod random;

use purser_core::trace::{ReplayLine, ReplaySetup, Summary, TraceRecord, TraceReplay};
use purser_core::{AccountPath, Level, Thresholds};
// `agents.rs` names the generator as its parent's.
use random::SplitMix64;

const ACCOUNT: &str = "fleet/agent";

const DAY_MS: u64 = 86_400_000;

/// The stops of a set of runs of one trace.
#[derive(Debug, Default)]
struct Stops {
    n_runs: usize,
    n_stops: usize,
    /// Stops whose usage left green at least a lead time before it reached the stop threshold.
    n_warnable: usize,
    /// The account's level left green at least a lead time before the stop.
    n_warned: usize,
    /// A forecast alert raised at least a lead time before the stop was still in force.
    n_alerted: usize,
    /// Stops with an alert raised before them (in time or not).
    n_alerted_at_all: usize,
    /// The alert raised last before the stop, how long before (for the printed line).
    alert_leads_s: Vec<u64>,
}

impl Stops {
    fn row(&self, trace: &str) -> String {
        let median = |leads: &[u64]| {
            let mut leads = leads.to_vec();
            leads.sort_unstable();
            leads
                .get(leads.len() / 2)
                .map_or("-".to_string(), |lead| lead.to_string())
        };
        format!(
            "{trace:<14} runs {:>2}  stops {:>2} (warnable {:>2})  warned >= 60 s before {:>2}  alerted >= 60 s before {:>2} (at all {:>2})  median alert lead {} s",
            self.n_runs,
            self.n_stops,
            self.n_warnable,
            self.n_warned,
            self.n_alerted,
            self.n_alerted_at_all,
            median(&self.alert_leads_s)
        )
    }
}

/// Runs `events` (`(ms from the start, tokens)`) through the manager to `horizon_ms`, with the
/// limit at the usage of 80 % of it, and adds the run's stops to `stops`.
fn replay(events: &[(u64, u64)], horizon_ms: u64, setup: ReplaySetup, stops: &mut Stops) {
    let limit: u64 = events
        .iter()
        .filter(|(at_ms, _)| *at_ms <= horizon_ms * 4 / 5)
        .map(|(_, tokens)| tokens)
        .sum();
    let setup = ReplaySetup {
        limits: vec![("tokens".to_string(), limit)],
        horizon_ms,
        ..setup
    };
    let lead_ms = setup.manager.watch.lead_time_ms;
    stops.n_warnable += usize::from(warnable(events, limit, lead_ms));
    let mut replay = TraceReplay::new(setup, Vec::new());
    let mut lines = Vec::new();
    let account = AccountPath::parse(ACCOUNT).unwrap();
    for &(at_ms, tokens) in events {
        let record = TraceRecord {
            at_ms,
            account: account.clone(),
            usage: vec![("tokens".to_string(), tokens)],
            work_units: 1,
        };
        replay.push(record, &mut lines).unwrap();
    }
    let summary: Summary = replay.finish(&mut lines);
    stops.n_runs += 1;
    stops.n_stops += summary.n_stops;
    stops.n_warned += summary.n_stops_warned_in_time;
    // Invariant: the levels only rise within the period, so each run stops at most once.
    assert!(summary.n_stops <= 1, "{summary:?}");
    let mut alert_since_ms: Option<u64> = None;
    for line in &lines {
        match line {
            ReplayLine::Alert {
                account,
                raised,
                at_ms,
                ..
            } if account == ACCOUNT => {
                alert_since_ms = if *raised {
                    alert_since_ms.or(Some(*at_ms))
                } else {
                    None
                };
            }
            ReplayLine::Level {
                account,
                level: "black",
                at_ms,
                ..
            } if account == ACCOUNT => {
                if let Some(since_ms) = alert_since_ms {
                    stops.n_alerted_at_all += 1;
                    stops.alert_leads_s.push((at_ms - since_ms) / 1000);
                    if since_ms + lead_ms <= *at_ms {
                        stops.n_alerted += 1;
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether the usage left green at least `lead_ms` before it reached the stop threshold (the
/// default thresholds, those of the replayed account).
fn warnable(events: &[(u64, u64)], limit: u64, lead_ms: u64) -> bool {
    let thresholds = Thresholds::default();
    let mut used = 0u64;
    let mut left_green_ms = None;
    for &(at_ms, tokens) in events {
        used += tokens;
        let level = thresholds.raw_level(used, limit);
        if level > Level::Green {
            left_green_ms.get_or_insert(at_ms);
        }
        if level == Level::Black {
            return left_green_ms.is_some_and(|since_ms| since_ms + lead_ms <= at_ms);
        }
    }
    false
}

fn agent_shape(generate: agents::Generator) -> Stops {
    let mut stops = Stops::default();
    for seed in agents::SEEDS {
        replay(
            &generate(seed),
            agents::HOUR_MS,
            ReplaySetup::default(),
            &mut stops,
        );
    }
    stops
}

#[test]
fn every_stop_of_the_agent_shapes_is_warned_a_minute_before() {
    for (shape, generate) in agents::SHAPES {
        let stops = agent_shape(generate);
        println!("{}", stops.row(shape));
        assert_eq!(stops.n_stops, stops.n_runs, "{shape}: every run stops once");
        assert_eq!(stops.n_warnable, stops.n_stops, "{shape}: {stops:?}");
        assert_eq!(stops.n_warned, stops.n_warnable, "{shape}: {stops:?}");
    }
}

#[test]
fn accelerating_usage_is_alerted_before_every_stop() {
    // Not a minute before every stop: the alert pass raises an alert when the stop is forecast
    // within the lead time plus one pass (65 s), so a forecast a few seconds optimistic about
    // the stop raises it under a minute before (measured: 7 of 12 in time, leads 26 to 66 s).
    let stops = agent_shape(agents::accelerating);
    assert_eq!(stops.n_alerted_at_all, stops.n_stops, "{stops:?}");
}

#[test]
fn every_stop_of_the_nab_series_is_warned_a_minute_before() {
    let Some(series) = nab::read_nab() else {
        return;
    };
    // As `purser-forecast`'s `tests/nab.rs`: the first day, backtest scales from 15 min.
    let mut setup = ReplaySetup {
        forecast_every_ms: 1_800_000,
        ..ReplaySetup::default()
    };
    setup.manager.watch.pseudo_horizon_ms = 900_000;
    let mut stops = Stops::default();
    for (_, events) in &series {
        let first_day: Vec<(u64, u64)> = events
            .iter()
            .copied()
            .filter(|(at_ms, _)| *at_ms <= DAY_MS)
            .collect();
        replay(&first_day, DAY_MS, setup.clone(), &mut stops);
    }
    println!("{}", stops.row("nab"));
    // `ec2_disk_write_bytes_1ef3de` uses nothing on its first day: its limit is zero, and it
    // stops at its first record, which nothing could warn of.
    assert_eq!(stops.n_warnable, stops.n_stops - 1, "{stops:?}");
    assert_eq!(stops.n_warned, stops.n_warnable, "{stops:?}");
}

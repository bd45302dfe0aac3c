//! Trace replay through the ledger and the manager in virtual time, on synthetic traces whose
//! answers are known.

use purser_core::AccountPath;
use purser_core::trace::{ReplayLine, ReplaySetup, TraceRecord, TraceReplay, accounts_of};

fn record(at_ms: u64, account: &str, tokens: u64) -> TraceRecord {
    TraceRecord {
        at_ms,
        account: AccountPath::parse(account).unwrap(),
        usage: vec![("tokens".to_string(), tokens)],
        work_units: 1,
    }
}

fn replay(setup: ReplaySetup, records: Vec<TraceRecord>) -> Vec<ReplayLine> {
    let mut replay = TraceReplay::new(
        setup.clone(),
        if setup.allocate_equal {
            accounts_of(&records)
        } else {
            Vec::new()
        },
    );
    let mut lines = Vec::new();
    for record in records {
        replay.push(record, &mut lines).unwrap();
    }
    replay.finish(&mut lines);
    lines
}

fn setup(limit: u64) -> ReplaySetup {
    ReplaySetup {
        limits: vec![("tokens".to_string(), limit)],
        ..ReplaySetup::default()
    }
}

#[test]
fn a_steady_spender_is_forecast_right_and_warned_long_before_its_stop() {
    // 1,000 tokens a second for an hour: 3.6M by the end; the limit is reached at 48 minutes.
    let records: Vec<TraceRecord> = (0..3600)
        .map(|second| record(second * 1000, "acme/agent-1", 1000))
        .collect();
    let lines = replay(setup(2_880_000), records);
    let forecasts: Vec<&ReplayLine> = lines
        .iter()
        .filter(|line| matches!(line, ReplayLine::Forecast { account, .. } if account == "acme/agent-1"))
        .collect();
    assert_eq!(
        forecasts.len(),
        59,
        "one forecast a minute, before the horizon's end"
    );
    let Some(ReplayLine::Summary(summary)) = lines.last() else {
        panic!("the last line is the summary")
    };
    let agent = summary
        .accounts
        .iter()
        .find(|a| a.account == "acme/agent-1")
        .unwrap();
    assert_eq!(agent.real_total, 3_600_000);
    assert_eq!(agent.exhausted_at_ms, Some(2_879_000));
    assert!(agent.total_within_share >= 0.95, "{agent:?}");
    assert!(agent.exhaustion_within_share.unwrap() >= 0.9, "{agent:?}");
    assert!(agent.mape <= agent.baseline_mape + 1e-9, "{agent:?}");
    assert_eq!(summary.n_stops, 1);
    assert_eq!(summary.n_stops_warned_in_time, 1);
    let levels: Vec<&str> = lines
        .iter()
        .filter_map(|line| match line {
            ReplayLine::Level { account, level, .. } if account == "acme/agent-1" => Some(*level),
            _ => None,
        })
        .collect();
    assert_eq!(levels, ["yellow", "orange", "red", "black"]);
}

#[test]
fn accelerating_usage_raises_an_alert_before_the_exhaustion() {
    // Usage that grows every second: the forecast sees the stop coming and alerts. The alert's
    // `exhausts_at_ms` is when the stop threshold (95% of the limit) is forecast to be reached,
    // the line the watch forecasts (see watch.rs), so it is checked against the real stop, not
    // against the limit's exhaustion 71 s later (which a forecast that lagged the acceleration
    // used to match by accident).
    let records: Vec<TraceRecord> = (0..3600u64)
        .map(|second| record(second * 1000, "acme/agent-1", 100 + second))
        .collect();
    let lines = replay(setup(4_000_000), records);
    let first_alert = lines.iter().find_map(|line| match line {
        ReplayLine::Alert {
            raised: true,
            at_ms,
            exhausts_at_ms,
            ..
        } => Some((*at_ms, exhausts_at_ms.unwrap())),
        _ => None,
    });
    let stopped_ms = lines
        .iter()
        .find_map(|line| match line {
            ReplayLine::Level {
                level: "black",
                at_ms,
                ..
            } => Some(*at_ms),
            _ => None,
        })
        .expect("the stop threshold is reached");
    let Some(ReplayLine::Summary(summary)) = lines.last() else {
        panic!("the last line is the summary")
    };
    let agent = summary
        .accounts
        .iter()
        .find(|a| a.account == "acme/agent-1")
        .unwrap();
    let exhausted_ms = agent.exhausted_at_ms.expect("the limit is reached");
    assert!(stopped_ms < exhausted_ms);
    let (alert_ms, predicted_ms) = first_alert.expect("an alert");
    assert!(
        alert_ms < stopped_ms,
        "alert at {alert_ms}, stopped at {stopped_ms}"
    );
    assert!(
        predicted_ms.abs_diff(stopped_ms) <= 60_000,
        "predicted {predicted_ms}, real stop {stopped_ms}"
    );
    assert_eq!(summary.n_stops, summary.n_stops_warned_in_time);
}

#[test]
fn equal_allocation_spreads_the_limits_and_idle_agents_give_back_to_busy_ones() {
    // Two agents share a workflow: one spends steadily, the other once and then idles. The busy
    // one nears its stop after 40 minutes of steady history: by then its forecast is confident
    // enough for a grant (a grant needs the alert confidence, as alerts do).
    let mut records = vec![record(0, "acme/wf/idle", 10)];
    for second in 0..3600u64 {
        records.push(record(second * 1000, "acme/wf/busy", 150));
    }
    let mut replay_setup = setup(1_000_000);
    replay_setup.allocate_equal = true;
    replay_setup.horizon_ms = 3_600_000;
    let lines = replay(replay_setup, records);
    let reclaims: Vec<&ReplayLine> = lines
        .iter()
        .filter(|line| matches!(line, ReplayLine::Reclaim { .. }))
        .collect();
    assert!(!reclaims.is_empty(), "the idle agent gives back");
    let ReplayLine::Reclaim {
        reason, account, ..
    } = reclaims[0]
    else {
        unreachable!()
    };
    assert_eq!(account, "acme/wf/idle");
    assert!(reason.starts_with("idle idle "), "{reason}");
    let grants = lines
        .iter()
        .filter(
            |line| matches!(line, ReplayLine::Grant { account, .. } if account == "acme/wf/busy"),
        )
        .count();
    assert!(grants >= 1, "the busy agent receives: {reclaims:?}");
}

#[test]
fn records_out_of_time_order_are_refused_with_their_index() {
    let mut replay = TraceReplay::new(setup(1000), Vec::new());
    let mut lines = Vec::new();
    replay.push(record(5_000, "a", 1), &mut lines).unwrap();
    let err = replay.push(record(4_000, "a", 1), &mut lines).unwrap_err();
    assert_eq!(
        err.to_string(),
        "record 1: at_ms 4000 is before the previous record's 5000"
    );
}

#[test]
fn a_full_alert_pass_defers_the_rest_oldest_first_and_starves_nobody() {
    // Regression: the alert queue was sorted, so when a pass overflowed the lowest account ids
    // were deferred at every pass and never alerted. One series per pass, two accounts
    // accelerating together: both must be alerted before their stops.
    let mut records = Vec::new();
    for second in 0..3600u64 {
        for agent in ["acme/a", "acme/b"] {
            records.push(record(second * 1000, agent, 100 + second));
        }
    }
    let mut replay_setup = setup(4_000_000);
    replay_setup.manager.watch.alerts_per_pass_max = 1;
    let lines = replay(replay_setup, records);
    for agent in ["acme/a", "acme/b"] {
        let alerted = lines.iter().any(|line| {
            matches!(line, ReplayLine::Alert { account, raised: true, .. } if account == agent)
        });
        assert!(alerted, "{agent} was never alerted");
    }
    let Some(ReplayLine::Summary(summary)) = lines.last() else {
        panic!("the last line is the summary")
    };
    assert_eq!(summary.n_stops, 2);
    assert_eq!(summary.n_stops_warned_in_time, 2, "{summary:?}");
}

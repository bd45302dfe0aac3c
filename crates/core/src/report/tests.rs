use super::*;
use crate::command::{AccountSpec, Command, UsageReport};
use crate::event::Event;
use crate::watch::WatchConfig;

const T0: u64 = 1_000_000;

/// A ledger and a watch driven at fixed times.
struct Bench {
    ledger: Ledger,
    watch: Watch,
    now_ms: u64,
    events: Vec<Event>,
}

impl Bench {
    fn new() -> Bench {
        let mut bench = Bench {
            ledger: Ledger::default(),
            watch: Watch::new(WatchConfig::default()),
            now_ms: T0,
            events: Vec::new(),
        };
        bench.watch.sample(&mut bench.ledger, T0);
        bench
    }

    fn apply(&mut self, command: Command) {
        self.ledger
            .apply(command, self.now_ms, &mut self.events)
            .unwrap();
        self.watch.sample(&mut self.ledger, self.now_ms);
    }

    fn put(&mut self, path: &str, kind: Option<&str>, limits: &[(&str, u64)]) {
        let spec = AccountSpec {
            limits: Some(limits.iter().map(|(n, v)| (n.to_string(), *v)).collect()),
            kind: kind.map(str::to_string),
            ..AccountSpec::default()
        };
        self.apply(Command::UpsertAccount {
            path: AccountPath::parse(path).unwrap(),
            spec,
        });
    }

    fn usage(&mut self, path: &str, usage: &[(&str, u64)]) {
        self.apply(Command::Usage(UsageReport {
            account_id: None,
            account: AccountPath::parse(path).unwrap(),
            usage: usage.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
            operation: None,
            work_units: 1,
            idempotency_key: None,
        }));
    }

    fn close(&mut self, path: &str) {
        self.apply(Command::CloseAccount {
            path: AccountPath::parse(path).unwrap(),
        });
    }

    fn report(&mut self, path: &str, changes: &[LevelPoint]) -> Report {
        let account = self.ledger.lookup(path).unwrap();
        build_report(&self.ledger, &mut self.watch, account, self.now_ms, changes)
    }
}

fn check_jain(values: &[f64], expected: f64) {
    let index = jain_index(values);
    assert!(
        (index - expected).abs() < 1e-12,
        "{values:?}: {index} != {expected}"
    );
}

#[test]
fn jain_index_on_known_inputs() {
    check_jain(&[], 1.0);
    check_jain(&[0.7], 1.0);
    check_jain(&[0.0, 0.0, 0.0], 1.0);
    check_jain(&[0.5, 0.5, 0.5, 0.5], 1.0);
    check_jain(&[1.0, 0.0, 0.0, 0.0], 0.25);
    check_jain(&[1.0, 0.5], 0.9);
    // (0.96 + 1.04 + 0.31)^2 / (3 * (0.9216 + 1.0816 + 0.0961))
    check_jain(&[0.96, 1.04, 0.31], 5.3361 / 6.2979);
}

#[test]
fn a_closed_child_wastes_what_it_left_unused() {
    let mut bench = Bench::new();
    bench.put(
        "acme",
        None,
        &[("tokens", 100_000), ("cost_micros", 10_000_000)],
    );
    bench.put("acme/a", None, &[("tokens", 10_000)]);
    bench.put("acme/b", None, &[("tokens", 20_000)]);
    bench.usage("acme/a", &[("tokens", 3_000)]);
    bench.usage("acme/b", &[("tokens", 19_000)]);
    bench.close("acme/a");
    let report = bench.report("acme", &[]);
    let labels: Vec<(&str, Role)> = report.rows.iter().map(|r| (r.label(), r.role)).collect();
    assert_eq!(
        labels,
        [
            ("acme", Role::Subject),
            ("b", Role::Child),
            ("a", Role::ClosedChild)
        ]
    );
    assert_eq!(report.rows[2].dims[0].waste, Some(7_000));
    assert_eq!(
        report.rows[1].dims[0].waste, None,
        "open children waste nothing yet"
    );
    assert_eq!(
        report.waste,
        [WasteTotal {
            dimension: "tokens".into(),
            unused: 7_000,
            limits: 10_000,
            n_closed: 1,
        }]
    );
    // Fairness counts the closed child's final utilization too: 0.3 and 0.95.
    assert_eq!(report.fairness.len(), 1);
    let fairness = &report.fairness[0];
    assert_eq!(fairness.n_children, 2);
    assert!((fairness.jain_index - jain_index(&[0.3, 0.95])).abs() < 1e-12);
    assert_eq!(
        (fairness.utilization_min, fairness.utilization_max),
        (0.3, 0.95)
    );
}

#[test]
fn time_per_level_counts_the_current_level_up_to_now() {
    let mut bench = Bench::new();
    bench.put("acme", None, &[("tokens", 1_000)]);
    bench.now_ms = T0 + 10_000;
    bench.usage("acme", &[("tokens", 500)]); // yellow at 50%
    bench.now_ms = T0 + 30_000;
    bench.usage("acme", &[("tokens", 260)]); // orange at 76%
    bench.now_ms = T0 + 60_000;
    let report = bench.report("acme", &[]);
    assert_eq!(report.rows[0].level, Level::Orange);
    assert_eq!(report.rows[0].level_time_ms, [10_000, 20_000, 30_000, 0, 0]);
}

#[test]
fn efficiency_is_work_per_dollar_and_per_thousand_tokens() {
    let mut bench = Bench::new();
    bench.put(
        "acme",
        None,
        &[("tokens", 100_000), ("cost_micros", 10_000_000)],
    );
    bench.usage("acme", &[("tokens", 2_000), ("cost_micros", 250_000)]);
    bench.usage("acme", &[("tokens", 2_000), ("cost_micros", 250_000)]);
    bench.put("other", None, &[("time_ms", 1_000)]);
    bench.usage("other", &[("time_ms", 10)]);
    let report = bench.report("acme", &[]);
    // Two work units for $0.50 and 4,000 tokens.
    assert_eq!(
        report.rows[0].efficiency,
        Efficiency {
            work_units_per_dollar: Some(4.0),
            work_units_per_1k_tokens: Some(0.5),
        }
    );
    let other = bench.report("other", &[]);
    assert_eq!(other.rows[0].efficiency, Efficiency::default());
}

#[test]
fn work_units_count_the_whole_subtree_closed_accounts_included() {
    let mut bench = Bench::new();
    bench.put("acme", None, &[("cost_micros", 10_000_000)]);
    bench.put("acme/wf", None, &[("cost_micros", 5_000_000)]);
    bench.put("acme/wf/a", None, &[("cost_micros", 1_000_000)]);
    bench.put("acme/wf/b", None, &[("cost_micros", 1_000_000)]);
    for _ in 0..3 {
        bench.usage("acme/wf/a", &[("cost_micros", 100_000)]);
    }
    bench.usage("acme/wf/b", &[("cost_micros", 100_000)]);
    bench.close("acme/wf/b");
    let report = bench.report("acme", &[]);
    // acme: 4 work units for $0.40; wf (its child) the same, from a grandchild and a closed one.
    let figures: Vec<(&str, u64)> = report
        .rows
        .iter()
        .map(|row| (row.label(), row.work_units))
        .collect();
    assert_eq!(figures, [("acme", 4), ("wf", 4)]);
    let per_dollar = report.rows[0].efficiency.work_units_per_dollar.unwrap();
    assert!((per_dollar - 10.0).abs() < 1e-9, "{per_dollar}");
}

/// A parent with implementers near or past their limits and a tester that used little.
fn team(tester_kind: &str, tester_tokens: u64) -> Bench {
    let mut bench = Bench::new();
    bench.put("acme", None, &[("tokens", 1_000_000)]);
    for name in ["impl-1", "impl-2"] {
        bench.put(
            &format!("acme/{name}"),
            Some("implementer"),
            &[("tokens", 100_000)],
        );
    }
    bench.put("acme/tester-1", Some(tester_kind), &[("tokens", 100_000)]);
    bench.usage("acme/impl-1", &[("tokens", 96_000)]);
    bench.usage("acme/impl-2", &[("tokens", 104_000)]);
    bench.usage("acme/tester-1", &[("tokens", tester_tokens)]);
    bench
}

#[test]
fn a_move_across_kinds_names_its_figures() {
    let mut bench = team("tester", 30_000);
    let report = bench.report("acme", &[]);
    assert_eq!(
        report.recommendations.len(),
        1,
        "{:?}",
        report.recommendations
    );
    let Recommendation::Move {
        kind,
        amount,
        share,
        from,
        to,
        text,
        ..
    } = &report.recommendations[0]
    else {
        panic!("expected a move: {:?}", report.recommendations[0]);
    };
    // Half of the 70,000 tokens the tester left unused; the implementers would need 50,000 to
    // be back at 80%.
    assert_eq!((*amount, *share), (35_000, 0.35));
    assert_eq!(*kind, None);
    assert_eq!(from.len(), 1);
    assert_eq!(to.len(), 2);
    assert_eq!(
        text,
        "impl-1 and impl-2 used 96-104% of their tokens limits while tester-1 used 30%: move 35% \
         of tester-1's tokens allocation (35,000 tokens) to them, half of what it left unused"
    );
}

#[test]
fn a_move_prefers_siblings_of_the_same_kind() {
    let mut bench = team("implementer", 40_000);
    bench.put("acme/tester-2", Some("tester"), &[("tokens", 100_000)]);
    bench.usage("acme/tester-2", &[("tokens", 10_000)]);
    let report = bench.report("acme", &[]);
    let texts: Vec<&str> = report.recommendations.iter().map(|r| r.text()).collect();
    assert_eq!(
        texts,
        [
            "among implementer accounts, impl-1 and impl-2 used 96-104% of their tokens limits \
          while tester-1 used 40%: move 30% of tester-1's tokens allocation (30,000 tokens) to \
          them, half of what it left unused"
        ]
    );
}

#[test]
fn a_move_gives_no_more_than_brings_the_receiver_to_the_target() {
    let mut bench = Bench::new();
    bench.put("acme", None, &[("tokens", 1_000_000)]);
    bench.put("acme/busy", None, &[("tokens", 100_000)]);
    bench.put("acme/idle", None, &[("tokens", 100_000)]);
    bench.usage("acme/busy", &[("tokens", 92_000)]);
    bench.usage("acme/idle", &[("tokens", 20_000)]);
    let report = bench.report("acme", &[]);
    let texts: Vec<&str> = report.recommendations.iter().map(|r| r.text()).collect();
    // 92,000 is 80% of 115,000: 15,000 of the 40,000 idle could give.
    assert_eq!(
        texts,
        [
            "busy used 92% of its tokens limit while idle used 20%: move 15% of idle's tokens \
          allocation (15,000 tokens) to busy, enough to bring busy to 80%"
        ]
    );
}

#[test]
fn no_move_without_both_a_high_and_a_low_sibling() {
    let mut bench = Bench::new();
    bench.put("acme", None, &[("tokens", 1_000_000)]);
    bench.put("acme/a", None, &[("tokens", 100_000)]);
    bench.put("acme/b", None, &[("tokens", 100_000)]);
    bench.usage("acme/a", &[("tokens", 95_000)]);
    bench.usage("acme/b", &[("tokens", 60_000)]);
    assert_eq!(bench.report("acme", &[]).recommendations, []);
}

fn row_with_forecast(confidence: f64, overage: u64) -> AccountRow {
    AccountRow {
        path: AccountPath::parse("acme/wf-1").unwrap(),
        role: Role::Subject,
        kind: None,
        level: Level::Orange,
        work_units: 10,
        opened_ms: T0,
        dims: vec![DimRow {
            dimension: "tokens".into(),
            limit: 100_000,
            consumed: 80_000,
            reserved: 0,
            utilization: 0.8,
            waste: None,
            forecast: Some(ForecastSummary {
                method: "holt",
                projected_total: 100_000 + overage,
                overage,
                horizon_end_ms: T0 + 3_600_000,
                time_to_exhaustion_s: Some(45),
                exhausts_at_ms: Some(T0 + 45_000),
                interval_low: 110_000,
                interval_high: Some(140_000),
                confidence,
                n_backtests: 25,
            }),
        }],
        efficiency: Efficiency::default(),
        level_time_ms: [0; 5],
    }
}

#[test]
fn a_confident_overage_recommends_a_raise_by_it() {
    let rows = [row_with_forecast(0.88, 25_000)];
    let recommendations = recommend::recommend(&rows);
    assert_eq!(recommendations.len(), 1);
    assert_eq!(
        recommendations[0].text(),
        "acme/wf-1 is forecast to reach 125,000 tokens by the horizon end, 25,000 over its limit \
         of 100,000 (holt, confidence 0.88 over 25 backtests): raise its tokens limit by 25,000"
    );
    assert!(matches!(
        recommendations[0],
        Recommendation::Raise { by: 25_000, .. }
    ));
    assert_eq!(recommend::recommend(&[row_with_forecast(0.84, 25_000)]), []);
    assert_eq!(recommend::recommend(&[row_with_forecast(0.95, 0)]), []);
}

fn span(from_ms: u64, to_ms: u64, level: Level) -> LevelSpan {
    LevelSpan {
        from_ms,
        to_ms,
        level,
    }
}

#[test]
fn level_spans_follow_the_kept_changes_then_the_current_level() {
    let mut acc = Account::new(
        AccountPath::parse("acme").unwrap(),
        None,
        Default::default(),
    );
    acc.level = Level::Red;
    acc.level_since_ms = 700;
    let point = |at_ms, level| LevelPoint { at_ms, level };
    // Out of order, one before the chart starts, and the current level's own change included.
    let changes = [
        point(400, Level::Orange),
        point(50, Level::Yellow),
        point(700, Level::Red),
    ];
    assert_eq!(
        level_spans(&acc, &changes, 100, 1_000),
        [
            span(100, 400, Level::Yellow),
            span(400, 700, Level::Orange),
            span(700, 1_000, Level::Red)
        ]
    );
    // Without kept changes: green until the current level began.
    assert_eq!(
        level_spans(&acc, &[], 100, 1_000),
        [span(100, 700, Level::Green), span(700, 1_000, Level::Red)]
    );
    // A chart of no length still has its level.
    assert_eq!(
        level_spans(&acc, &[], 900, 900),
        [span(900, 900, Level::Red)]
    );
}

#[test]
fn the_chart_samples_the_main_dimension_and_carries_its_forecast() {
    let mut bench = Bench::new();
    bench.put(
        "acme",
        None,
        &[("tokens", 100_000), ("cost_micros", 90_000_000)],
    );
    for step in 1..=30 {
        bench.now_ms = T0 + step * 10_000;
        bench.usage("acme", &[("tokens", 2_000), ("cost_micros", 1_000)]);
    }
    let report = bench.report("acme", &[]);
    let chart = report.chart.expect("a chart");
    // Tokens are at 60% of their limit, cost at 0.03%: tokens are the main dimension.
    assert_eq!(&*chart.dimension, "tokens");
    assert_eq!(chart.consumption.len(), CHART_POINTS as usize);
    assert_eq!(chart.consumption[0].at_ms, T0);
    assert_eq!(chart.consumption.last().unwrap().at_ms, T0 + 300_000);
    let last = chart.consumption.last().unwrap().value;
    assert!((last - 60_000.0).abs() < 1.0, "{last}");
    assert!(
        chart
            .consumption
            .windows(2)
            .all(|pair| pair[0].value <= pair[1].value)
    );
    assert_eq!(chart.limit, Some(100_000));
    assert_eq!(chart.end_ms, T0 + 3_600_000);
    let forecast = chart.forecast.expect("a forecast");
    assert_eq!(report.rows[0].dims[0].forecast.as_ref(), Some(&forecast));
    // Steady use of 200 tokens a second passes the limit well before the hour ends.
    assert!(forecast.overage > 0, "{forecast:?}");
    assert!(forecast.time_to_exhaustion_s.is_some_and(|s| s < 600));
}

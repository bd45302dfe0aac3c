//! The rendered report of a fixed ledger, compared with committed snapshots: the Markdown as a
//! whole (`snapshots/report.md`), the HTML for what a page must and must not hold.
//! `UPDATE_SNAPSHOTS=1 cargo test -p purser-server --test report_snapshot` rewrites the
//! snapshot after a deliberate change; review the diff before committing it.

use std::path::PathBuf;

use purser_core::foresight::{Foresight, ForesightConfig};
use purser_core::report::{DagCost, LevelPoint, Report, TaskCost, build_report};
use purser_core::{AccountPath, AccountSpec, Command, Event, Ledger, UsageReport};
use purser_server::report::{ReportOut, html, markdown};

/// 2026-11-21T10:00:00Z.
const T0: u64 = 1_795_255_200_000;
const STEP_MS: u64 = 15_000;

/// The ledger and the manager as the engine drives them: commands, then the clock's tick
/// (forecast alerts every 5 s; the optimizer is off so that the limits stay as set).
struct Team {
    ledger: Ledger,
    manager: Foresight,
    now_ms: u64,
    events: Vec<Event>,
}

impl Team {
    fn apply(&mut self, command: Command) {
        self.manager
            .apply(&mut self.ledger, command, self.now_ms, &mut self.events)
            .unwrap_or_else(|err| panic!("{err}"));
    }

    fn tick(&mut self) {
        self.manager
            .tick(&mut self.ledger, self.now_ms, &mut self.events);
    }

    fn put(&mut self, path: &str, kind: Option<&str>, limits: &[(&str, u64)]) {
        let spec = AccountSpec {
            limits: Some(limits.iter().map(|(n, v)| (n.to_string(), *v)).collect()),
            kind: kind.map(str::to_string),
            ..AccountSpec::default()
        };
        let path = AccountPath::parse(path).unwrap();
        self.apply(Command::UpsertAccount { path, spec });
    }

    fn usage(&mut self, path: &str, tokens: u64, cost_micros: u64, work_units: u64) {
        self.apply(Command::Usage(UsageReport {
            account_id: None,
            account: AccountPath::parse(path).unwrap(),
            usage: vec![
                ("tokens".to_string(), tokens),
                ("cost_micros".to_string(), cost_micros),
            ]
            .into(),
            operation: Some("llm_call".to_string()),
            work_units,
            idempotency_key: None,
        }));
    }

    /// The subject's level changes from the journal, as the server's ring would keep them.
    fn level_points(&self, path: &str) -> Vec<LevelPoint> {
        let account = self.ledger.lookup(path).unwrap();
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::LevelChanged {
                    account: changed,
                    to,
                    at_ms,
                    ..
                } if *changed == account => Some(LevelPoint {
                    at_ms: *at_ms,
                    level: *to,
                }),
                _ => None,
            })
            .collect()
    }

    fn report(&mut self, path: &str) -> Report {
        let account = self.ledger.lookup(path).unwrap();
        let points = self.level_points(path);
        self.manager.sample(&mut self.ledger, self.now_ms);
        build_report(
            &self.ledger,
            &mut self.manager.watch,
            account,
            self.now_ms,
            &points,
        )
    }
}

/// A workflow with two implementers near their limits, a tester that used little, and a
/// scout that finished early; twenty minutes of steady work at fixed times.
fn team(tester_kind: &str) -> Team {
    let mut team = Team {
        ledger: Ledger::default(),
        manager: Foresight::new(ForesightConfig {
            optimizer_every_ms: 0,
            ..ForesightConfig::default()
        }),
        now_ms: T0,
        events: Vec::new(),
    };
    team.tick();
    team.put(
        "acme",
        None,
        &[("tokens", 4_000_000), ("cost_micros", 400_000_000)],
    );
    team.put(
        "acme/research",
        Some("workflow"),
        &[("tokens", 1_000_000), ("cost_micros", 100_000_000)],
    );
    for name in ["impl-1", "impl-2"] {
        team.put(
            &format!("acme/research/{name}"),
            Some("implementer"),
            &[("tokens", 200_000), ("cost_micros", 20_000_000)],
        );
    }
    team.put(
        "acme/research/tester-1",
        Some(tester_kind),
        &[("tokens", 200_000), ("cost_micros", 20_000_000)],
    );
    team.put(
        "acme/research/scout",
        Some("explorer"),
        &[("tokens", 100_000)],
    );
    for step in 1..=80 {
        team.now_ms = T0 + step * STEP_MS;
        team.usage("acme/research/impl-1", 2_400, 240_000, 1);
        team.usage("acme/research/impl-2", 2_600, 250_000, 1);
        if step % 2 == 0 {
            team.usage("acme/research/tester-1", 1_550, 150_000, 2);
        }
        if step <= 10 {
            team.usage("acme/research/scout", 2_500, 0, 1);
        }
        if step == 10 {
            team.apply(Command::CloseAccount {
                path: AccountPath::parse("acme/research/scout").unwrap(),
            });
        }
        team.tick();
    }
    team
}

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name)
}

/// Compares `actual` with the committed snapshot, or rewrites it under `UPDATE_SNAPSHOTS=1`.
fn check_snapshot(name: &str, actual: &str) {
    let path = snapshot_path(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|value| value == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "cannot read {}: {err}; run with UPDATE_SNAPSHOTS=1 to write it",
            path.display()
        )
    });
    if expected == actual {
        return;
    }
    let mut diff = String::new();
    let (expected_lines, actual_lines): (Vec<&str>, Vec<&str>) =
        (expected.lines().collect(), actual.lines().collect());
    for idx in 0..expected_lines.len().max(actual_lines.len()) {
        let (old, new) = (expected_lines.get(idx), actual_lines.get(idx));
        if old != new {
            diff.push_str(&format!(
                "line {}:\n  - {}\n  + {}\n",
                idx + 1,
                old.unwrap_or(&"<none>"),
                new.unwrap_or(&"<none>")
            ));
        }
    }
    panic!(
        "the rendered report differs from {}:\n{diff}\nIf the change is deliberate, rerun with \
         UPDATE_SNAPSHOTS=1 and review the diff of the snapshot.",
        path.display()
    );
}

#[test]
fn the_markdown_report_matches_its_snapshot() {
    let mut team = team("tester");
    let mut report = team.report("acme/research");
    // The DAGs charged to the account, as the engine fills them in (`view::dag::dag_costs`).
    report.dags = vec![DagCost {
        id: 7,
        name: Some("nightly | build".into()),
        account: "acme/research".into(),
        state: "running",
        spent_micros: 1_250_000,
        reserved_micros: 40_000,
        projected_micros: 1_900_000,
        tasks: vec![TaskCost {
            id: "tsk_7_2".into(),
            name: "compile".into(),
            account: "acme/research/impl-1".into(),
            attempts: 2,
            spent_micros: 900_000,
            time_ms: 5_400_000,
        }],
        n_tasks_omitted: 0,
    }];
    check_snapshot("report.md", &markdown::render(&report));
    let json = serde_json::to_value(purser_server::report::ReportOut::from(&report)).unwrap();
    assert_eq!(json["dags"][0]["id"], "dag_7");
    assert_eq!(json["dags"][0]["tasks"][0]["spent_micros"], 900_000);
    // Without DAGs the sections say so.
    let plain = markdown::render(&team.report("acme/research"));
    assert!(plain.contains("No DAG is charged to this account or below it."));
}

#[test]
fn the_report_of_a_fixed_ledger_is_deterministic() {
    let first = markdown::render(&team("tester").report("acme/research"));
    let second = markdown::render(&team("tester").report("acme/research"));
    assert_eq!(first, second);
}

#[test]
fn the_html_page_is_self_contained_and_escapes_user_text() {
    let mut team = team("<script>alert('x')</script> & co");
    let report = team.report("acme/research");
    let page = html::render(&report);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(
        page.matches("<svg ").count(),
        3,
        "consumption, levels, time per level"
    );
    assert!(
        page.contains("stroke-dasharray=\"6 4\""),
        "a dashed forecast line"
    );
    assert!(
        page.contains("limit 1,000,000"),
        "the limit line is labelled"
    );
    assert!(
        page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"),
        "the kind is escaped"
    );
    assert!(!page.contains("<script"), "no script, not even injected");
    for external in ["http://", "https://", "src=", "href=", "@import", "url("] {
        let allowed = page.matches("http://www.w3.org/2000/svg").count();
        let found = page.matches(external).count();
        let expected = if external == "http://" { allowed } else { 0 };
        assert_eq!(found, expected, "{external} in the page");
    }
    // The same kind stays one Markdown table cell.
    let text = markdown::render(&report);
    assert!(text.contains("<script>alert('x')</script> & co"));
    assert!(
        !text.contains("tester-1 | <script"),
        "no cell holds a bare pipe"
    );
}

#[test]
fn the_json_report_carries_the_figures_behind_the_text() {
    let mut team = team("tester");
    let report = team.report("acme/research");
    let json = serde_json::to_value(ReportOut::from(&report)).unwrap();
    let accounts = json["accounts"].as_array().unwrap();
    let roles: Vec<&str> = accounts
        .iter()
        .map(|account| account["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["subject", "child", "child", "child", "closed"]);
    let scout = &accounts[4];
    assert_eq!(scout["path"], "acme/research/scout");
    assert_eq!(scout["dimensions"][0]["waste"], 75_000);
    assert_eq!(json["waste"][0]["unused"], 75_000);
    let moves: Vec<&serde_json::Value> = json["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|rec| rec["kind"] == "move")
        .collect();
    assert!(!moves.is_empty(), "{}", json["recommendations"]);
    assert_eq!(moves[0]["from"][0]["account"], "tester-1");
    assert_eq!(json["chart"]["consumption"].as_array().unwrap().len(), 60);
}

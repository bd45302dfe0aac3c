//! `GET /metrics` as Prometheus scrapes it: the per-account families (bounded by depth and
//! series, the cut counted), the engine's counters and histograms, the HTTP layer's, the
//! scheduler's gauges, scopes, OpenMetrics on request, and the Grafana board's queries naming
//! only metrics that are exported.

mod common;

use std::collections::BTreeSet;

use common::dags::{lease, submit_ok};
use common::{ADMIN_TOKEN, AGENT_TOKEN, TestServer, start_with};
use serde_json::json;

const CONFIG: &str = r#"
[[tokens]]
token = "admin-token-0123456789"
role = "admin"

[[tokens]]
token = "agent-token-0123456789"
role = "agent"
scope = "acme/research/wf-1"

[[pool]]
name = "local"
machines = 1
cores = 4
memory_bytes = 8000000000

[[pool]]
name = "cloud"
machines = 2
cores = 8
on_demand_per_hour_micros = 3600000

[[quota]]
tenant = "acme"
pool = "local"
dimension = "cores"
nominal = 2
borrowing_limit = 2

[[quota]]
tenant = "other"
pool = "local"
dimension = "cores"
nominal = 2
"#;

fn start(extra: &str) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = common::dags::config(dir.path(), &format!("{CONFIG}\n{extra}"));
    let mut server = start_with(config);
    server.token = Some(ADMIN_TOKEN.into());
    (server, dir)
}

fn scrape(server: &TestServer, token: &str) -> String {
    let (status, content_type, text) = server.get_text(Some(token), "/metrics", &[]);
    assert_eq!(status, 200, "{text}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    text
}

/// The value of the sample `series` (name and labels exactly as exported).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().expect("a number"))
}

fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| rest.split(' ').next().unwrap().to_string())
        .collect()
}

/// acme (10,000 tokens) / research / wf-1 / agent-1: the agent is four deep.
fn accounts(server: &TestServer) {
    server.put_ok("acme", json!({"limits": {"tokens": 10_000}}));
    server.put_ok("acme/research", json!({"limits": {"tokens": 4_000}}));
    server.put_ok("acme/research/wf-1", json!({"limits": {"tokens": 1_000}}));
    server.put_ok("acme/research/wf-1/agent-1", json!({}));
}

#[test]
fn a_scrape_shows_accounts_counters_and_the_scheduler() {
    let (server, _dir) = start("");
    accounts(&server);
    let key = json!({"account": "acme/research/wf-1", "usage": {"tokens": 300},
                     "idempotency_key": "call-1"});
    server.post("/v1/usage", key.clone());
    server.post("/v1/usage", key);
    server.usage_ok("acme/research/wf-1/agent-1", json!({"tokens": 200}));
    let hold = server.reserve_ok(json!({"account": "acme/research/wf-1",
                                        "amount": {"tokens": 100}, "ttl_ms": 60_000}));
    let id = hold["id"].as_str().unwrap().to_string();
    let (status, _) = server.post(
        &format!("/v1/reservations/{id}:settle"),
        json!({"usage": {"tokens": 50}}),
    );
    assert_eq!(status, 200);
    let (status, _) = server.post(
        "/v1/reservations",
        json!({"account": "acme/research/wf-1", "amount": {"tokens": 900}}),
    );
    assert_eq!(status, 409, "a hold past the stop is denied");
    submit_ok(
        &server,
        json!({"tenant": "acme", "tasks": [
            {"id": "a", "runtime_ms": 1000, "requests": {"cores": 2}},
            {"id": "b", "runtime_ms": 1000, "requests": {"cores": 2}},
            {"id": "c", "runtime_ms": 1000, "requests": {"cores": 2}, "depends_on": ["a"]}
        ]}),
    );
    lease(&server, "local-0");

    let text = scrape(&server, ADMIN_TOKEN);
    let wf = r#"{account="acme/research/wf-1",dimension="tokens"}"#;
    assert_eq!(
        sample(&text, &format!("purser_account_limit{wf}")),
        Some(1000.0)
    );
    // 300 once (its retry is a duplicate), 200 from the agent below, 50 settled.
    assert_eq!(
        sample(&text, &format!("purser_account_consumed{wf}")),
        Some(550.0)
    );
    assert_eq!(
        sample(&text, &format!("purser_account_reserved{wf}")),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, &format!("purser_account_remaining{wf}")),
        Some(450.0)
    );
    assert_eq!(
        sample(&text, &format!("purser_account_used_ratio{wf}")),
        Some(0.55)
    );
    // Past the warn threshold (50 %): yellow, level 1.
    assert_eq!(
        sample(&text, &format!("purser_account_level{wf}")),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"purser_account_level_info{account="acme/research/wf-1",level="yellow"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"purser_account_level{account="acme",dimension="tokens"}"#
        ),
        Some(0.0)
    );
    assert_eq!(sample(&text, "purser_accounts"), Some(4.0));
    // The agent is four deep: its one series is left out, and counted.
    assert!(!text.contains("agent-1"), "deeper than account_depth 3");
    assert_eq!(
        sample(&text, "purser_metrics_scrape_series_omitted"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "purser_metrics_series_omitted_total"),
        Some(1.0)
    );

    assert_eq!(sample(&text, "purser_usage_reports_total"), Some(3.0));
    assert_eq!(
        sample(&text, "purser_idempotent_duplicates_total"),
        Some(1.0)
    );
    // One hold through the API, and one for each task placed (its machine time).
    assert_eq!(
        sample(&text, "purser_reservations_created_total"),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, "purser_reservations_settled_total"),
        Some(1.0)
    );
    assert_eq!(sample(&text, "purser_reservations_voided_total"), Some(0.0));
    assert_eq!(
        sample(&text, r#"purser_denials_total{reason="budget_exhausted"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"purser_http_requests_total{route="/v1/usage",status="2xx"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"purser_http_requests_total{route="/v1/reservations",status="4xx"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"purser_http_request_duration_seconds_count{route="/v1/usage"}"#
        ),
        Some(3.0)
    );
    let commits = sample(&text, "purser_commit_duration_seconds_count").unwrap();
    assert!(commits >= 5.0, "{commits} commits");
    assert_eq!(
        sample(&text, r#"purser_commit_duration_seconds_bucket{le="+Inf"}"#),
        Some(commits)
    );
    assert!(sample(&text, "purser_journal_size_bytes").unwrap() > 0.0);
    assert_eq!(sample(&text, "purser_engine_queue_capacity"), Some(65536.0));

    // The scheduler: acme's quota admits 4 cores of local (2 nominal + 2 borrowed); the
    // machine holds a and b, c waits on a.
    assert_eq!(
        sample(&text, r#"purser_tasks{state="RUNNING",pool="local"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"purser_pool_capacity{pool="cloud",dimension="cores"}"#
        ),
        Some(16.0)
    );
    assert_eq!(
        sample(&text, r#"purser_pool_used{pool="local",dimension="cores"}"#),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"purser_pool_utilization_ratio{pool="local",dimension="cores"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"purser_quota_used{tenant="acme",pool="local",dimension="cores"}"#
        ),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"purser_quota_borrowed{tenant="acme",pool="local",dimension="cores"}"#
        ),
        Some(2.0)
    );
    assert_eq!(sample(&text, "purser_eligible_tasks"), Some(0.0));
    check_with_promtool(&text);
}

/// `promtool check metrics` lints the exposition, where promtool is installed.
fn check_with_promtool(text: &str) {
    use std::io::Write;
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("skipped: promtool is not installed (Debian's prometheus package has it)");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_scoped_token_sees_its_accounts_only() {
    let (server, _dir) = start("");
    accounts(&server);
    let text = scrape(&server, AGENT_TOKEN);
    assert!(
        text.contains(
            r#"purser_account_limit{account="acme/research/wf-1",dimension="tokens"} 1000"#
        )
    );
    assert!(
        !text.contains(r#"account="acme","#),
        "acme is outside the scope"
    );
    assert!(
        !text.contains("purser_usage_reports_total"),
        "the process is not its business"
    );
    assert!(!text.contains("purser_pool_capacity"), "nor the scheduler");
    assert_eq!(sample(&text, "purser_accounts"), Some(2.0));

    let (status, _, _) = server.get_text(None, "/metrics", &[]);
    assert_eq!(status, 401);
    let (status, _, _) = server.get_text(Some("not-a-token-at-all-0000"), "/metrics", &[]);
    assert_eq!(status, 401);
}

#[test]
fn the_series_bound_cuts_the_deepest_first_and_says_so() {
    let (server, _dir) = start("[metrics]\nprefix = \"acme_purser_\"\nseries_max = 2\n");
    accounts(&server);
    let text = scrape(&server, ADMIN_TOKEN);
    assert!(text.contains(r#"acme_purser_account_limit{account="acme",dimension="tokens"}"#));
    assert!(text.contains(r#"acme_purser_account_limit{account="acme/research","#));
    assert!(!text.contains(r#"account="acme/research/wf-1""#), "{text}");
    // acme's tokens and research's fit; wf-1's does not (the agent below has no dimension).
    assert_eq!(
        sample(&text, "acme_purser_metrics_scrape_series_omitted"),
        Some(1.0)
    );
    assert!(!text.contains("\npurser_"), "every name has the prefix");
}

#[test]
fn openmetrics_is_served_when_asked_for() {
    let (server, _dir) = start("");
    accounts(&server);
    let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let (status, content_type, text) =
        server.get_text(Some(ADMIN_TOKEN), "/metrics", &[("accept", accept)]);
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# TYPE purser_usage_reports counter"));
    assert!(text.contains("purser_usage_reports_total 0"));
}

#[test]
fn every_query_of_the_grafana_board_names_an_exported_metric() {
    let (server, _dir) = start("");
    accounts(&server);
    let exported = families(&scrape(&server, ADMIN_TOKEN));
    let board = include_str!("../monitoring/grafana.json");
    let dashboard: serde_json::Value = serde_json::from_str(board).expect("the board is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    let mut named = BTreeSet::new();
    for panel in panels {
        let targets = panel["targets"]
            .as_array()
            .expect("every panel has targets");
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().expect("a query");
            for (idx, _) in expr.match_indices("{{prefix}}") {
                let rest = &expr[idx + "{{prefix}}".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
                    .collect();
                named.insert(name);
            }
        }
    }
    assert!(named.len() >= 15, "{named:?}");
    for name in named {
        let family = ["_bucket", "_sum", "_count", "_total"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name);
        assert!(
            exported.contains(&format!("purser_{family}"))
                || exported.contains(&format!("purser_{name}")),
            "the board queries {name}, which /metrics does not export"
        );
    }
}

//! `purser replay` as a user types it: the Mooncake hour through the ledger in virtual time,
//! with the accuracy, honesty and warning-lead figures of issue 3 checked; and the errors a
//! user sees for a bad trace.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn mooncake_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/mooncake-fast25/conversation_trace.jsonl")
}

/// Token use per request, `(timestamp_ms, input + output)`.
fn read_mooncake() -> Option<Vec<(u64, u64)>> {
    let path = mooncake_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("SKIP: the Mooncake trace is not at {}", path.display());
        return None;
    };
    Some(
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let request: Value = serde_json::from_str(line).unwrap();
                let field = |name: &str| request[name].as_u64().unwrap();
                (
                    field("timestamp"),
                    field("input_length") + field("output_length"),
                )
            })
            .collect(),
    )
}

fn purser(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(args)
        .output()
        .expect("purser runs")
}

#[test]
fn the_mooncake_hour_is_forecast_accurately_and_honestly() {
    let Some(requests) = read_mooncake() else {
        return;
    };
    // The token limit is the real cumulative use at 80% of the hour.
    let start_ms = requests[0].0;
    let limit: u64 = requests
        .iter()
        .filter(|(at_ms, _)| *at_ms <= start_ms + 2_880_000)
        .map(|(_, tokens)| tokens)
        .sum();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("replay.jsonl");
    let output = purser(&[
        "replay",
        "--trace",
        mooncake_path().to_str().unwrap(),
        "--trace-format",
        "mooncake",
        "--limits",
        &format!("tokens={limit}"),
        "--horizon",
        "1h",
        "--forecast-every",
        "60s",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stderr}");
    assert!(output.status.success(), "{stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let forecasts = lines.iter().filter(|l| l["type"] == "forecast").count();
    assert_eq!(forecasts, 59, "one forecast a minute before the hour's end");
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    let account = &summary["accounts"][0];
    assert_eq!(account["account"], "mooncake");
    let figure = |name: &str| account[name].as_f64().unwrap_or_else(|| panic!("{name}"));
    // Accuracy.
    assert!(figure("total_within_share") >= 0.90, "{account}");
    assert!(figure("exhaustion_within_share") >= 0.85, "{account}");
    // Honesty.
    assert!(figure("interval_coverage") >= 0.75, "{account}");
    if account["n_confident"].as_u64().unwrap() > 0 {
        assert!(figure("confident_within_share") >= 0.85, "{account}");
    }
    // No worse than naive.
    assert!(
        figure("mape") <= figure("baseline_mape") + 1e-9,
        "{account}"
    );
    // Warning lead: every stop preceded by a warning at least 60 s earlier.
    assert_eq!(
        summary["n_stops"], summary["n_stops_warned_in_time"],
        "{summary}"
    );
    assert!(
        summary["n_stops"].as_u64().unwrap() >= 1,
        "the limit is reached in the hour"
    );
}

#[test]
fn a_bad_trace_line_is_named_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.jsonl");
    std::fs::write(
        &trace,
        "{\"at_ms\": 0, \"account\": \"acme/a\", \"usage\": {\"tokens\": 5}}\n\
         {\"at_ms\": 10, \"account\": \"acme/a\", \"usage\": {\"tokens\": -1}}\n",
    )
    .unwrap();
    let output = purser(&[
        "replay",
        "--trace",
        trace.to_str().unwrap(),
        "--limits",
        "tokens=100",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("trace.jsonl:2:"), "{stderr}");

    std::fs::write(
        &trace,
        "{\"at_ms\": 50, \"account\": \"acme/a\", \"usage\": {\"tokens\": 5}}\n\
         {\"at_ms\": 10, \"account\": \"acme/a\", \"usage\": {\"tokens\": 1}}\n",
    )
    .unwrap();
    let output = purser(&[
        "replay",
        "--trace",
        trace.to_str().unwrap(),
        "--limits",
        "tokens=100",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("trace.jsonl:2") && stderr.contains("before"),
        "{stderr}"
    );
}

#[test]
fn equal_allocation_over_a_small_trace_writes_every_kind_of_line() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.jsonl");
    let mut text =
        String::from("{\"at_ms\": 0, \"account\": \"acme/wf/idle\", \"usage\": {\"tokens\": 5}}\n");
    for second in 0..900u64 {
        text.push_str(&format!(
            "{{\"at_ms\": {}, \"account\": \"acme/wf/busy\", \"usage\": {{\"tokens\": 500}}}}\n",
            second * 1000
        ));
    }
    std::fs::write(&trace, text).unwrap();
    let output = purser(&[
        "replay",
        "--trace",
        trace.to_str().unwrap(),
        "--limits",
        "tokens=600000",
        "--allocate",
        "equal",
        "--horizon",
        "15m",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let types: std::collections::BTreeSet<String> = stdout
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for expected in ["forecast", "level", "reclaim", "grant", "summary"] {
        assert!(types.contains(expected), "no {expected} line in {types:?}");
    }
}

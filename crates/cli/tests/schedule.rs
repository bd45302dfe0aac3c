//! `purser schedule --budget-micros` as a user types it: the fastest plan within the budget, or
//! exit code 2 and what the cheapest plan costs.

use std::process::Command;

use serde_json::{Value, json};

const PLATFORM: &str = r#"
bandwidth_mbps = 1000

[[pool]]
name = "slow"
machines = 2
cores = 4
on_demand_per_hour_micros = 360000

[[pool]]
name = "fast"
machines = 2
cores = 4
speed = 4.0
on_demand_per_hour_micros = 3600000
"#;

fn workflow() -> Value {
    let task = |name: &str, parents: &[&str]| json!({"name": name, "id": name, "parents": parents, "children": []});
    let run = |name: &str| json!({"id": name, "runtimeInSeconds": 3600.0, "coreCount": 4});
    json!({
        "name": "chain",
        "schemaVersion": "1.5",
        "workflow": {
            "specification": {"tasks": [task("a", &[]), task("b", &["a"])], "files": []},
            "execution": {"makespanInSeconds": 7200.0, "executedAt": "20240101T000000+0000",
                          "tasks": [run("a"), run("b")]}
        }
    })
}

fn schedule(budget: u64) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let platform = dir.path().join("platform.toml");
    let workflow_path = dir.path().join("chain.json");
    std::fs::write(&platform, PLATFORM).unwrap();
    std::fs::write(&workflow_path, workflow().to_string()).unwrap();
    Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(["schedule", "--workflow"])
        .arg(&workflow_path)
        .arg("--platform")
        .arg(&platform)
        .args(["--budget-micros", &budget.to_string()])
        .output()
        .unwrap()
}

#[test]
fn the_fastest_plan_within_the_budget_or_what_the_cheapest_costs() {
    // Two one-hour tasks in a row: 720,000 on the slow pool, 1,800,000 on the fast one
    // (4x faster at 10x the price); one of each costs 1,260,000.
    let generous = schedule(2_000_000);
    assert!(generous.status.success(), "{generous:?}");
    let plan: Value = serde_json::from_slice(&generous.stdout).unwrap();
    assert!(plan["cost_micros"].as_u64().unwrap() <= 2_000_000, "{plan}");
    assert!(
        plan["makespan_s"].as_f64().unwrap() < 2.0 * 3600.0,
        "{plan}"
    );

    let tight = schedule(720_000);
    assert!(tight.status.success(), "{tight:?}");
    let plan: Value = serde_json::from_slice(&tight.stdout).unwrap();
    assert!(plan["cost_micros"].as_u64().unwrap() <= 720_000, "{plan}");

    let impossible = schedule(1_000);
    assert_eq!(impossible.status.code(), Some(2), "{impossible:?}");
    let said = String::from_utf8_lossy(&impossible.stderr);
    assert!(
        said.contains("no plan costs at most 1,000 micro-units") && said.contains("720,000"),
        "{said}"
    );
}

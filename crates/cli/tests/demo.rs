//! `purser demo` as a new user runs it, without a terminal (plain lines): the manager at work
//! (a reclaim from an idle agent, a grant to one forecast to run out), a forecast alert before
//! every stop, the DAG finished with its cost per task, the Python agent or the note that it
//! was skipped, the dashboard's URL, and the closing figures (utilization, fairness, moves).

use std::process::Command;

/// The demo second of a line (`  12.3s  ...`), or None for lines without one.
fn second(line: &str) -> Option<f64> {
    line.trim_start().split_once("s  ")?.0.parse().ok()
}

/// The agent a timed line is about: its first word after the time.
fn agent_of(line: &str) -> Option<&str> {
    line.trim_start()
        .split_once("s  ")?
        .1
        .split_whitespace()
        .next()
}

#[test]
fn the_demo_shows_the_whole_manager() {
    let output = Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(["demo", "--seconds", "120"])
        .output()
        .expect("running purser demo");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "purser demo failed: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    let has = |needle: &str| lines.iter().any(|line| line.contains(needle));

    assert!(
        has("the dashboard is at http://127.0.0.1:"),
        "no dashboard URL:\n{text}"
    );
    assert!(
        has("runs on a compressed clock"),
        "the compressed clock is not said:\n{text}"
    );
    // The optimizer: a reclaim from the idle tester, a grant to an agent forecast to run out,
    // each with its reason as the audit log words it.
    assert!(
        lines.iter().any(|line| line.contains("RECLAIM")
            && line.contains("idle")
            && line.contains("reclaimed")),
        "no reclaim:\n{text}"
    );
    assert!(
        lines.iter().any(|line| line.contains("GRANT")
            && line.contains("forecast")
            && line.contains("granted")),
        "no grant:\n{text}"
    );
    // Every stop is preceded by a forecast alert for that agent.
    let stops: Vec<&&str> = lines
        .iter()
        .filter(|line| {
            second(line).is_some() && (line.contains("STOP") || line.contains("-> black"))
        })
        .collect();
    assert!(!stops.is_empty(), "no agent stopped:\n{text}");
    for stop in stops {
        let agent = agent_of(stop).expect("a timed line names its agent");
        let at = second(stop).expect("timed");
        let warned = lines.iter().any(|line| {
            line.contains("ALERT")
                && agent_of(line) == Some(agent)
                && second(line).is_some_and(|alerted| alerted <= at)
        });
        assert!(
            warned,
            "{agent} stopped at {at} s with no alert before:\n{text}"
        );
    }
    // The DAG ran on the pools and its cost per task is in the closing table.
    assert!(
        has("DAG feature-42 finished"),
        "the DAG did not finish:\n{text}"
    );
    assert!(
        has("The DAG feature-42 (completed)"),
        "no DAG table:\n{text}"
    );
    let priced = lines.iter().any(|line| {
        line.contains("COMPLETED") && line.contains("cloud#") && !line.contains("$0.0000")
    });
    assert!(priced, "no task with a cost on the cloud pool:\n{text}");
    // The Python agent ran, or the demo said in one line why not.
    assert!(
        has("(Python)") || has("the Python agent is skipped"),
        "nothing about the Python agent:\n{text}"
    );
    // The closing figures.
    let utilization: f64 = lines
        .iter()
        .find_map(|line| {
            line.strip_prefix("Utilization of the workflow's budget: ")?
                .split_once('%')?
                .0
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no utilization figure:\n{text}"));
    assert!(
        utilization >= 85.0,
        "the workflow's budget was {utilization}% used (the seed's target is 85 %):\n{text}"
    );
    assert!(
        has("Fairness over the agents (Jain's index"),
        "no fairness:\n{text}"
    );
    assert!(
        has("The optimizer moved budget"),
        "no moves summary:\n{text}"
    );
}

//! The demo's DAG: a small workflow of agent tasks submitted with the workflow's account, run
//! by worker threads on the demo's pools (a free local machine and a priced cloud pool), so its
//! machine time is charged to the same budget as the agents' LLM tokens.

use std::time::{Duration, Instant};

use serde_json::json;

use purser_server::wire::dags::{DagOut, TaskOut};
use purser_server::wire::tasks::LeaseOut;

use super::{Shared, WORKFLOW, expect};
use crate::client::Client;

/// The pools of the demo's server, as `purser.toml` would give them.
pub(super) const POOLS: &str = r#"
[[pool]]
name = "local"
machines = 1
cores = 4
memory_bytes = 17179869184

[[pool]]
name = "cloud"
machines = 2
cores = 8
memory_bytes = 34359738368
on_demand_per_hour_micros = 32000000
"#;

/// The machines the worker threads run, one thread each.
const MACHINES: [&str; 3] = ["local-0", "cloud-0", "cloud-1"];

/// Submits the DAG: plan, then two implementation tasks side by side, then tests and a review.
pub(super) fn submit(client: &Client) -> anyhow::Result<String> {
    let task = |id: &str, runtime_ms: u64, cores: u64, after: &[&str]| {
        json!({"id": id, "runtime_ms": runtime_ms, "requests": {"cores": cores},
               "depends_on": after})
    };
    let dag: DagOut = expect(
        client,
        "POST",
        "/v1/dags",
        Some(&json!({
            "tenant": WORKFLOW, "name": "feature-42", "account": WORKFLOW,
            "tasks": [
                task("plan", 2_000, 2, &[]),
                task("build-api", 4_000, 4, &["plan"]),
                task("build-ui", 4_000, 4, &["plan"]),
                task("test", 3_000, 4, &["build-api", "build-ui"]),
                task("review", 2_000, 2, &["test"]),
            ],
        })),
    )?;
    Ok(dag.id)
}

/// Runs the workers until the DAG ends or the deadline passes; says what each task did.
pub(super) fn run_workers(
    client: &Client,
    shared: &Shared,
    dag: &str,
    deadline: Instant,
) -> anyhow::Result<()> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = MACHINES
            .iter()
            .map(|machine| scope.spawn(move || worker(client, shared, dag, machine, deadline)))
            .collect();
        workers
            .into_iter()
            .try_for_each(|worker| worker.join().expect("worker thread"))
    })
}

fn worker(
    client: &Client,
    shared: &Shared,
    dag: &str,
    machine: &str,
    deadline: Instant,
) -> anyhow::Result<()> {
    while Instant::now() < deadline {
        let leased: LeaseOut = expect(
            client,
            "POST",
            &format!("/v1/workers/{machine}:lease"),
            Some(&json!({})),
        )?;
        let Some(task) = leased.task else {
            let status: DagOut = expect(client, "GET", &format!("/v1/dags/{dag}"), None)?;
            if status.state != "running" && status.state != "paused" {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        shared.say(format!(
            "dag     {} starts on {machine} ({} cores)",
            task.name, task.requests.cores
        ));
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(task.runtime_ms));
        expect::<serde_json::Value>(
            client,
            "POST",
            &format!("/v1/tasks/{}:complete", task.id),
            Some(&json!({"attempt": task.attempt})),
        )?;
        let status: DagOut = expect(client, "GET", &format!("/v1/dags/{dag}"), None)?;
        let cost = status
            .tasks
            .iter()
            .find(|done| done.id == task.id)
            .and_then(|done| done.cost_micros)
            .unwrap_or(0);
        shared.say(format!(
            "dag     {} done on {machine} in {:.1} s, ${:.4} charged to {WORKFLOW}{}",
            task.name,
            started.elapsed().as_secs_f64(),
            cost as f64 / 1e6,
            if status.state == "completed" {
                format!(
                    "; DAG {} finished, ${:.4} in all",
                    status.name.as_deref().unwrap_or(dag),
                    status.cost.as_ref().map_or(0, |cost| cost.spent_micros) as f64 / 1e6
                )
            } else {
                String::new()
            }
        ));
    }
    Ok(())
}

/// The closing table's rows of the DAG: each task, where it ran, and what it cost.
pub(super) fn rows(client: &Client, dag: &str) -> anyhow::Result<(DagOut, Vec<Vec<String>>)> {
    let status: DagOut = expect(client, "GET", &format!("/v1/dags/{dag}"), None)?;
    let mut rows = vec![
        ["TASK", "STATE", "MACHINE", "CORES", "COST"]
            .map(String::from)
            .to_vec(),
    ];
    for task in &status.tasks {
        rows.push(row(task));
    }
    Ok((status, rows))
}

fn row(task: &TaskOut) -> Vec<String> {
    vec![
        task.name.clone(),
        task.state.clone(),
        task.machine.clone().unwrap_or_else(|| "-".into()),
        task.requests.cores.to_string(),
        format!("${:.4}", task.cost_micros.unwrap_or(0) as f64 / 1e6),
    ]
}
